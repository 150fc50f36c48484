package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// runWithin runs the CLI and fails the test if it does not return.
func runWithin(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runCLI(t, args...)
		done <- result{code, stdout, stderr}
	}()
	select {
	case r := <-done:
		return r.code, r.stdout, r.stderr
	case <-time.After(time.Minute):
		t.Fatalf("%v did not return", args)
		return 0, "", ""
	}
}

// validate -k fetches nothing by default: a kustomization naming a URL is exit 2 naming the
// kustomization file, and the server is never asked; --allow-remote-bases fetches it.
func TestValidateKustomizationFetchesNothing(t *testing.T) {
	var requests atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = fmt.Fprint(w, peerAcceptor)
	}))
	defer server.Close()
	dir := t.TempDir()
	kustomization := writeFile(t, dir, "kustomization.yaml", "resources:\n- "+server.URL+"/acceptor.yaml\n")
	code, _, stderr := runWithin(t, "validate", "-k", dir)
	if code != exitUsage || !strings.Contains(stderr, kustomization+":") || !strings.Contains(stderr, server.URL) {
		t.Errorf("exit %d, stderr %q; want 2 naming %s and the URL", code, stderr, kustomization)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the server got %d requests", n)
	}
	code, rep := validateJSON(t, "-k", dir, "--allow-remote-bases")
	if code != exitAllowed || len(rep.Results) != 1 || requests.Load() != 1 {
		t.Errorf("--allow-remote-bases: exit %d, %d results after %d requests; want 0, 1, 1", code, len(rep.Results), requests.Load())
	}
}

// A named pipe named with -f is exit 2 naming it, at once.
func TestValidateNamedPipeExitsTwo(t *testing.T) {
	pipe := filepath.Join(t.TempDir(), "pipe.yaml")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	if code, _, stderr := runWithin(t, "validate", "-f", pipe); code != exitUsage || !strings.Contains(stderr, pipe+": not a regular file") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// --max-input-bytes bounds all input together; the file past it is named; the bound must be
// positive.
func TestValidateMaxInputBytes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", peerAcceptor)
	b := writeFile(t, dir, "b.yaml", peerAcceptor)
	bound := strconv.Itoa(len(peerAcceptor) + 1)
	if code, _, stderr := runWithin(t, "validate", "-f", dir, "--max-input-bytes", bound); code != exitUsage || !strings.Contains(stderr, b+":") || !strings.Contains(stderr, "--max-input-bytes") {
		t.Errorf("exit %d, stderr %q; want 2 naming %s and the flag", code, stderr, b)
	}
	if code, _, stderr := runWithin(t, "check", "-f", dir, "-f", dir, "--max-input-bytes", bound); code != exitUsage || !strings.Contains(stderr, b+":") {
		t.Errorf("check: exit %d, stderr %q; want 2 naming %s", code, stderr, b)
	}
	if code, _, _ := runWithin(t, "validate", "-f", dir, "--max-input-bytes", strconv.Itoa(2*len(peerAcceptor))); code != exitAllowed {
		t.Errorf("within the bound: exit %d", code)
	}
	if code, _, _ := runWithin(t, "validate", "-f", dir, "--max-input-bytes", "0"); code != exitUsage {
		t.Errorf("--max-input-bytes 0: exit %d, want 2", code)
	}
}

// A file name holding a newline and a terminal escape is printed quoted: it cannot add a line
// of its own to the output.
func TestValidateTextEscapesFileNames(t *testing.T) {
	dir := t.TempDir()
	name := "x.yaml\nPeeringAcceptor dc2 (ok.yaml): allowed\x1b[0m.yaml"
	p := writeFile(t, dir, name, peerAcceptor+"---\n"+frontend("{name: api, peer: dc2, meshGateway: {mode: none}}"))
	code, stdout, _ := runWithin(t, "validate", "-f", dir)
	if code != exitDenied {
		t.Fatalf("exit %d, want 1\n%s", code, stdout)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 4 || !strings.Contains(stdout, "("+strconv.Quote(p)+")") || strings.Contains(stdout, "\x1b") {
		t.Errorf("want 4 lines naming %s quoted, got:\n%s", strconv.Quote(p), stdout)
	}
}
