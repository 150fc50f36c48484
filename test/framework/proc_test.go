package framework

import (
	"os"
	"testing"
)

func TestProcStatusReadsThisProcess(t *testing.T) {
	if v := procStatus(os.Getpid(), "VmRSS"); v < 1<<20 {
		t.Fatalf("VmRSS of this process = %d bytes, want at least 1 MiB", v)
	}
	if v := procStatus(os.Getpid(), "NoSuchField"); v != -1 {
		t.Fatalf("a missing field = %d, want -1", v)
	}
	if v := procStatus(-1, "VmRSS"); v != -1 {
		t.Fatalf("no such process = %d, want -1", v)
	}
}
