package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pidsOf returns the pids of running processes whose command line mentions any needle.
func pidsOf(needles ...string) map[string]string {
	out := map[string]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(string(raw), "\x00", " ")
		for _, n := range needles {
			if strings.Contains(cmd, n) {
				out[e.Name()] = cmd
			}
		}
	}
	return out
}

// demoCommand runs the demo with its own TMPDIR: everything it starts (etcd's data dir,
// kube-apiserver's cert dir, the webhook binary) names that folder on its command line, so
// processes of other test packages running meanwhile are not mistaken for leaks.
func demoCommand(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	tmp := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Dir = cluster.Root
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	return cmd, tmp
}

func buildDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command("go", "build", "-o", bin, "./hack/demo")
	cmd.Dir = cluster.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return bin
}

func leaked(marker string) []string {
	var out []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = out[:0]
		for pid, cmd := range pidsOf(marker) {
			if pid != strconv.Itoa(os.Getpid()) {
				out = append(out, pid+": "+cmd)
			}
		}
		if len(out) == 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// make demo runs start to finish and leaves no process behind.
func TestDemoRunsAndCleansUp(t *testing.T) {
	bin := buildDemo(t)
	cmd, tmp := demoCommand(t, bin, "--only", "gateway-mode-typo")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	for _, want := range []string{"servicedefaults.consul.hashicorp.com/frontend created", "(gateway-mode-valid)", "Stopping everything"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if !strings.Contains(string(out), tmp) {
		t.Errorf("the demo did not work under its TMPDIR %s, so the leak check cannot see its processes", tmp)
	}
	if l := leaked(tmp); len(l) > 0 {
		t.Errorf("processes left behind: %v", l)
	}
}

// Ctrl-C in the middle of the tour still stops everything.
func TestDemoInterruptedCleansUp(t *testing.T) {
	bin := buildDemo(t)
	cmd, tmp := demoCommand(t, bin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		if strings.Contains(scanner.Text(), "2. Mistake:") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() {
		// Drain the pipe so the demo never blocks on output.
		for scanner.Scan() {
			_ = scanner.Text()
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("demo exited after Ctrl-C: %v", err)
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("demo did not stop within 90s of Ctrl-C")
	}
	if l := leaked(tmp); len(l) > 0 {
		t.Errorf("processes left behind after Ctrl-C: %v", l)
	}
}
