package chart

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	appsv1 "k8s.io/api/apps/v1"
)

// goBuildCommand returns the `$(GO) build ... -o` part of the one build line of a target's
// recipe: the command and its flags, without the output and the package.
func goBuildCommand(t *testing.T, target string) string {
	t.Helper()
	var found []string
	for _, line := range makeRecipe(t, target) {
		i := strings.Index(line, "$(GO) build")
		if i < 0 {
			continue
		}
		cmd, _, ok := strings.Cut(line[i:], " -o ")
		if !ok {
			t.Fatalf("make %s: no -o in %q", target, line)
		}
		found = append(found, cmd)
	}
	if len(found) != 1 {
		t.Fatalf("want one $(GO) build line in make %s, got %q", target, found)
	}
	return found[0]
}

// TestImage builds the image as `make image` does into a temporary folder and reads every
// output back with go-containerregistry: the multi-platform OCI layout (pushed to a
// registry, as crane push does), the OCI archive and the docker-archive tarballs.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the binary for two platforms")
	}
	if a, b := goBuildCommand(t, "image"), goBuildCommand(t, "image-build-check"); a != b || !strings.Contains(a, "-trimpath") {
		t.Fatalf("make image builds with %q, make image-build-check with %q: the image must hold the checked binary", a, b)
	}
	dir, checked := t.TempDir(), t.TempDir()
	const version = "v0.0.0-test"
	stamp := []string{"VERSION=" + version, "BUILD_DATE=2026-11-25T00:00:00Z"}
	if r := run(t, nil, "make", append([]string{"image", "IMAGE_DIR=" + dir}, stamp...)...); r.code != 0 {
		t.Fatalf("make image: %s", r)
	}
	if r := run(t, nil, "make", append([]string{"image-build-check", "BIN=" + checked}, stamp...)...); r.code != 0 {
		t.Fatalf("make image-build-check: %s", r)
	}
	// One version: the image is tagged VERSION, which the chart deploys as its appVersion
	// (make release packages it so) or as image.tag.
	d := one[*appsv1.Deployment](t, decode(t, []byte(helmTemplate(t, "--set", "image.tag="+version))))
	ref := d.Spec.Template.Spec.Containers[0].Image
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatalf("the chart's default image %q: %v", ref, err)
	}
	revision := strings.TrimSpace(run(t, nil, "git", "rev-parse", "HEAD").stdout)
	wantLabels := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/consul-peering-guard/consul-peering-guard",
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": revision,
	}

	root, err := layout.ImageIndexFromPath(filepath.Join(dir, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != tag.TagStr() {
		t.Fatalf("the layout's index.json: %+v; want one image index named %s", top.Manifests, tag.TagStr())
	}
	index, err := root.ImageIndex(top.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	configs := map[string]v1.Hash{}
	for _, desc := range im.Manifests {
		p := desc.Platform.OS + "/" + desc.Platform.Architecture
		platforms = append(platforms, p)
		img, err := index.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, p, img, wantLabels)
		if configs[desc.Platform.Architecture], err = img.ConfigName(); err != nil {
			t.Fatal(err)
		}
		binary := fileInImage(t, img, "consul-peering-guard")
		if desc.Platform.Architecture == runtime.GOARCH {
			want, err := os.ReadFile(filepath.Join(checked, "image", "consul-peering-guard"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(binary, want) {
				t.Errorf("%s: the binary in the layer (%d bytes) is not the one make image-build-check builds (%d bytes)", p, len(binary), len(want))
			}
		}
		checkStaticFor(t, p, binary)
	}
	sort.Strings(platforms)
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(platforms, want) {
		t.Errorf("platforms %v, want %v", platforms, want)
	}

	// crane push (built from the go-containerregistry module the image is made with) takes
	// the layout and the docker-archives; the registry then serves what the layout holds.
	crane := filepath.Join(t.TempDir(), "crane")
	if r := run(t, nil, "go", "build", "-o", crane, "github.com/google/go-containerregistry/cmd/crane"); r.code != 0 {
		t.Fatalf("building crane: %s", r)
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	pushed := host + "/consul-peering-guard:" + tag.TagStr()
	if r := run(t, nil, crane, "push", filepath.Join(dir, "oci"), pushed); r.code != 0 {
		t.Fatalf("crane push of the layout: %s", r)
	}
	pushedRef, err := name.NewTag(pushed)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(pushedRef)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != top.Manifests[0].Digest {
		t.Errorf("the registry serves %s, the layout holds %s", desc.Digest, top.Manifests[0].Digest)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if r := run(t, nil, crane, "push", filepath.Join(dir, "consul-peering-guard-linux-"+arch+".tar"), host+"/consul-peering-guard:"+arch); r.code != 0 {
			t.Errorf("crane push of the linux/%s docker-archive: %s", arch, r)
		}
	}

	// The OCI archive is the layout, tarred (podman load, docker load).
	unpacked := t.TempDir()
	untar(t, filepath.Join(dir, "consul-peering-guard-oci.tar"), unpacked)
	fromArchive, err := layout.ImageIndexFromPath(unpacked)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fromArchive.Digest(); err != nil || got != mustDigest(t, root) {
		t.Errorf("the OCI archive's index is %s (%v), the layout's %s", got, err, mustDigest(t, root))
	}

	// One docker-archive per platform, tagged as the chart's default image.
	for _, arch := range []string{"amd64", "arm64"} {
		file := filepath.Join(dir, "consul-peering-guard-linux-"+arch+".tar")
		img, err := tarball.ImageFromPath(file, &tag)
		if err != nil {
			t.Fatalf("%s does not hold %s: %v", file, tag, err)
		}
		checkImage(t, "docker-archive linux/"+arch, img, wantLabels)
		if got, err := img.ConfigName(); err != nil || got != configs[arch] {
			t.Errorf("docker-archive linux/%s has config %s (%v), the layout %s", arch, got, err, configs[arch])
		}
	}
}

func mustDigest(t *testing.T, ii v1.ImageIndex) v1.Hash {
	t.Helper()
	h, err := ii.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func checkImage(t *testing.T, what string, img v1.Image, wantLabels map[string]string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/consul-peering-guard"}) || !slices.Equal(c.Cmd, []string{"serve"}) {
		t.Errorf("%s: user %q, entrypoint %q, cmd %q; want 65532:65532, [/consul-peering-guard], [serve]", what, c.User, c.Entrypoint, c.Cmd)
	}
	for k, v := range wantLabels {
		if c.Labels[k] != v {
			t.Errorf("%s: label %s = %q, want %q", what, k, c.Labels[k], v)
		}
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Errorf("%s: %d layers (%v), want one: the image is built from scratch", what, len(layers), err)
	}
}

// fileInImage returns a regular file's content from the image's filesystem.
func fileInImage(t *testing.T, img v1.Image, path string) []byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimPrefix(h.Name, "/") == path && h.Typeflag == tar.TypeReg {
				if h.Mode&0o111 == 0 {
					t.Errorf("/%s is not executable (mode %o)", path, h.Mode)
				}
				b, err := io.ReadAll(tr)
				_ = rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}
		_ = rc.Close()
	}
	t.Fatalf("no /%s in the image", path)
	return nil
}

// checkStaticFor checks that a binary is a static ELF executable for the platform.
func checkStaticFor(t *testing.T, platform string, binary []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		t.Fatalf("%s: not an ELF binary: %v", platform, err)
	}
	want := map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64}[platform]
	if f.Machine != want {
		t.Errorf("%s: the binary is for %s", platform, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: the binary is dynamically linked (%s)", platform, p.Type)
		}
	}
}

func untar(t *testing.T, file, dst string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dst, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, filepath.Clean(dst)+string(os.PathSeparator)) {
			t.Fatalf("%s: entry %s leaves the folder", file, h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
