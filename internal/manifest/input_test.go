package manifest

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const acceptor = "apiVersion: consul.hashicorp.com/v1alpha1\nkind: PeeringAcceptor\nmetadata: {name: %s}\nspec: {peer: {secret: {name: t, key: k, backend: kubernetes}}}\n"

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadWithin runs LoadClusters and fails the test if it does not return: reading a named pipe
// waits for a writer that never comes.
func loadWithin(t *testing.T, paths, kustomizations []string, opts Options) ([]*Cluster, error) {
	t.Helper()
	type result struct {
		clusters []*Cluster
		err      error
	}
	done := make(chan result, 1)
	go func() {
		c, err := LoadClusters(paths, kustomizations, strings.NewReader(""), opts)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.clusters, r.err
	case <-time.After(time.Minute):
		t.Fatalf("LoadClusters(%v, %v) did not return", paths, kustomizations)
		return nil, nil
	}
}

func objectNames(clusters []*Cluster) []string {
	var names []string
	for _, c := range clusters {
		for _, o := range c.Set.Objects {
			names = append(names, o.Object.(interface{ GetName() string }).GetName())
		}
	}
	return names
}

func skippedFiles(clusters []*Cluster) map[string]bool {
	out := map[string]bool{}
	for _, c := range clusters {
		for _, s := range c.Set.Skipped {
			out[s.Source.File] = true
		}
	}
	return out
}

// A named pipe called *.yaml is never opened: skipped when found in a folder, refused when
// named, so that validate neither hangs nor reads from whoever writes to it.
func TestNamedPipeIsNotRead(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.yaml": fmt.Sprintf(acceptor, "dc2")})
	pipe := filepath.Join(dir, "pipe.yaml")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	clusters, err := loadWithin(t, []string{dir}, nil, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if got := objectNames(clusters); len(got) != 1 || got[0] != "dc2" {
		t.Errorf("objects %v, want the one in a.yaml", got)
	}
	if !skippedFiles(clusters)[pipe] {
		t.Errorf("the pipe is not listed as skipped: %v", skippedFiles(clusters))
	}
	_, err = loadWithin(t, []string{pipe}, nil, testOptions)
	var e *Error
	if !errors.As(err, &e) || e.Source.File != pipe || !errors.Is(err, ErrNotRegularFile) {
		t.Errorf("named pipe named with -f: got %v, want ErrNotRegularFile naming %s", err, pipe)
	}
}

// A symlink found in a folder is read when it points inside that folder, and not when it
// points outside (a repository cannot make validate read the runner's files); a symlink named
// on the command line is read.
func TestSymlinkOutsideTheFolderIsReadOnlyWhenNamed(t *testing.T) {
	root := t.TempDir()
	tree, outside := filepath.Join(root, "tree"), filepath.Join(root, "outside")
	writeTree(t, tree, map[string]string{"sub/inside.yaml": fmt.Sprintf(acceptor, "inside")})
	writeTree(t, outside, map[string]string{"secret.yaml": fmt.Sprintf(acceptor, "outside")})
	in, out := filepath.Join(tree, "in-link.yaml"), filepath.Join(tree, "out-link.yaml")
	if err := os.Symlink(filepath.Join("sub", "inside.yaml"), in); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), out); err != nil {
		t.Fatal(err)
	}
	clusters, err := loadWithin(t, []string{tree}, nil, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(objectNames(clusters), ","), "inside,inside"; got != want {
		t.Errorf("objects %s, want %s (the file and the symlink inside the folder)", got, want)
	}
	if skipped := skippedFiles(clusters); !skipped[out] || len(skipped) != 1 {
		t.Errorf("skipped %v, want only %s", skipped, out)
	}
	clusters, err = loadWithin(t, []string{out}, nil, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if got := objectNames(clusters); len(got) != 1 || got[0] != "outside" {
		t.Errorf("a symlink named with -f: objects %v, want the one it points to", got)
	}
}

// All input together is bounded: the file that takes it past the bound is named.
func TestInputIsBoundedInTotal(t *testing.T) {
	dir := t.TempDir()
	doc := fmt.Sprintf(acceptor, "dc2")
	writeTree(t, dir, map[string]string{"a.yaml": doc, "b.yaml": doc, "c.yaml": doc,
		"k/kustomization.yaml": "resources: [a.yaml, b.yaml, c.yaml]\n", "k/a.yaml": doc, "k/b.yaml": doc, "k/c.yaml": doc})
	bound := Options{GatewaySelector: testOptions.GatewaySelector, MaxInputBytes: int64(2*len(doc) + 1)}
	for name, tc := range map[string]struct {
		paths, kustomizations []string
		want                  string
	}{
		"files":         {paths: []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "c.yaml")}, want: filepath.Join(dir, "c.yaml")},
		"folder":        {paths: []string{dir}, want: filepath.Join(dir, "c.yaml")},
		"kustomization": {kustomizations: []string{filepath.Join(dir, "k")}, want: filepath.Join(dir, "k", "b.yaml")},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadWithin(t, tc.paths, tc.kustomizations, bound)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInputTooLarge) || e.Source.File != tc.want {
				t.Errorf("got %v, want ErrInputTooLarge naming %s", err, tc.want)
			}
		})
	}
	if _, err := loadWithin(t, []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")}, nil, bound); err != nil {
		t.Errorf("input within the bound: %v", err)
	}
	if DefaultMaxInputBytes != 256<<20 {
		t.Errorf("DefaultMaxInputBytes = %d, the docs say 256 MiB", DefaultMaxInputBytes)
	}
}

// A kustomization that names a URL or a git repository is refused before anything is
// fetched, naming the kustomization file that names it, unless remote bases are allowed.
func TestKustomizationReadsOnlyLocalFiles(t *testing.T) {
	var requests atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = fmt.Fprintf(w, acceptor, "remote")
	}))
	defer server.Close()
	// A git that records it ran: kustomize runs git from PATH to clone.
	bin := t.TempDir()
	ran := filepath.Join(bin, "ran")
	writeTree(t, bin, map[string]string{"git": "#!/bin/sh\necho \"$@\" >> " + ran + "\nexit 1\n"})
	if err := os.Chmod(filepath.Join(bin, "git"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	outsideRepo := t.TempDir()
	writeTree(t, outsideRepo, map[string]string{"kustomization.yaml": "resources: [a.yaml]\n", "a.yaml": fmt.Sprintf(acceptor, "repo")})

	local := fmt.Sprintf(acceptor, "local")
	cases := map[string]struct {
		files map[string]string
		// where is the kustomization file the error names, relative to the tree.
		where string
	}{
		"http resource": {
			files: map[string]string{"kustomization.yaml": "resources:\n- a.yaml\n- " + server.URL + "/remote.yaml\n", "a.yaml": local},
			where: "kustomization.yaml",
		},
		"http resource of a local base": {
			files: map[string]string{"overlay/kustomization.yaml": "resources: [../base]\n",
				"base/kustomization.yaml": "resources: [" + server.URL + "/remote.yaml]\n"},
			where: "base/kustomization.yaml",
		},
		"http patch": {
			files: map[string]string{"kustomization.yaml": "resources: [a.yaml]\npatches:\n- path: " + server.URL + "/patch.yaml\n", "a.yaml": local},
			where: "kustomization.yaml",
		},
		"http patch in a transformer configuration": {
			files: map[string]string{"kustomization.yaml": "resources: [a.yaml]\ntransformers: [patch.yaml]\n", "a.yaml": local,
				"patch.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: " + server.URL + "/patch.yaml\n"},
			where: "patch.yaml",
		},
		"file:// repository outside the tree": {
			files: map[string]string{"kustomization.yaml": "resources:\n- file://" + outsideRepo + "\n"},
			where: "kustomization.yaml",
		},
		"git repository": {
			files: map[string]string{"kustomization.yaml": "components:\n- git@github.com:example/repo.git//base\n"},
			where: "kustomization.yaml",
		},
		"github repository without scheme": {
			files: map[string]string{"kustomization.yaml": "resources:\n- github.com/example/repo/base?ref=v1\n"},
			where: "kustomization.yaml",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tc.files)
			k := dir
			if _, err := os.Stat(filepath.Join(dir, "overlay")); err == nil {
				k = filepath.Join(dir, "overlay")
			}
			_, err := loadWithin(t, nil, []string{k}, testOptions)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrRemoteReference) || e.Source.File != filepath.Join(dir, tc.where) {
				t.Errorf("got %v, want ErrRemoteReference naming %s", err, filepath.Join(dir, tc.where))
			}
			if n := requests.Load(); n != 0 {
				t.Errorf("the HTTP server got %d requests", n)
			}
			if out, err := os.ReadFile(ran); err == nil {
				t.Errorf("git ran: %s", out)
			}
		})
	}

	// With remote bases allowed, kustomize fetches as it always does.
	dir := t.TempDir()
	writeTree(t, dir, cases["http resource"].files)
	clusters, err := loadWithin(t, nil, []string{dir}, Options{GatewaySelector: testOptions.GatewaySelector, AllowRemoteBases: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(objectNames(clusters), ","); got != "local,remote" || requests.Load() != 1 {
		t.Errorf("allowed: objects %s after %d requests, want local,remote after 1", got, requests.Load())
	}
}

// A named pipe a kustomization names is refused, not opened.
func TestKustomizationReadsOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"kustomization.yaml": "resources: [a.yaml, pipe.yaml]\n", "a.yaml": fmt.Sprintf(acceptor, "dc2")})
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o644); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	_, err := loadWithin(t, nil, []string{dir}, testOptions)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrNotRegularFile) || e.Source.File != filepath.Join(dir, "pipe.yaml") {
		t.Errorf("got %v, want ErrNotRegularFile naming the pipe", err)
	}
}
