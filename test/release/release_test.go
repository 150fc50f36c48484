// Package release tests `make release` and `make publish`: what dist/ holds, that every
// piece carries the one version, and that what a registry serves after publishing is, digest
// for digest, what dist/ holds.
package release

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// versionScheme is hack/version.sh's: a v tag, N commits after it with the commit, maybe dirty.
var versionScheme = regexp.MustCompile(`^v\d+\.\d+\.\d+(-\d+-g[0-9a-f]{7,})?(-dirty)?$`)

var platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64"}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, dir string, env []string, name string, args ...string) result {
	t.Helper()
	r := framework.Run(framework.Command{Dir: dir, Env: env, Timeout: 15 * time.Minute}, name, args...)
	return result{code: r.Code, stdout: r.Stdout, stderr: r.Stderr}
}

// helmEnv keeps helm's registry login and caches out of the user's home.
func helmEnv(t *testing.T) []string {
	home := t.TempDir()
	return []string{"HELM_CONFIG_HOME=" + filepath.Join(home, "config"), "HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"), "HELM_REGISTRY_CONFIG=" + filepath.Join(home, "registry.json")}
}

func TestReleaseAndPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the binary for four platforms")
	}
	root, err := framework.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "helm")); err != nil {
		t.Skip("bin/helm missing: run make tools")
	}
	version := strings.TrimSpace(run(t, root, nil, filepath.Join(root, "hack", "version.sh")).stdout)
	if !versionScheme.MatchString(version) {
		t.Fatalf("hack/version.sh says %q, not vX.Y.Z[-N-gSHA][-dirty]", version)
	}
	chartVersion := strings.TrimPrefix(version, "v")
	dist := filepath.Join(t.TempDir(), "dist")
	env := helmEnv(t)
	began := time.Now()
	if r := run(t, root, env, "make", "release", "DIST="+dist); r.code != 0 {
		t.Fatalf("make release: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("make release %s in %s", version, time.Since(began).Round(time.Second))

	sums := checkChecksums(t, dist)
	checkBinaries(t, dist, version)
	chartFile := "consul-peering-guard-" + chartVersion + ".tgz"
	checkChart(t, root, dist, chartFile, version, chartVersion, env)
	index := checkImageLayout(t, dist, version)
	checkSBOM(t, dist, version)
	for _, want := range []string{chartFile, "consul-peering-guard.spdx.json", "image/consul-peering-guard-oci.tar"} {
		if _, ok := sums[want]; !ok {
			t.Errorf("SHA256SUMS does not list %s", want)
		}
	}

	// make publish to a registry on loopback, then read both back.
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	target := strings.TrimPrefix(reg.URL, "http://") + "/cpg"
	began = time.Now()
	if r := run(t, root, env, "make", "publish", "DIST="+dist, "REGISTRY="+target, "PLAIN_HTTP=1"); r.code != 0 {
		t.Fatalf("make publish: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("make publish in %s", time.Since(began).Round(time.Millisecond))

	imageRef, err := name.NewTag(target+"/consul-peering-guard:"+version, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(imageRef)
	if err != nil {
		t.Fatalf("pulling the image manifest back: %v", err)
	}
	if desc.Digest != index {
		t.Errorf("the registry serves the image %s, dist/image/oci holds %s", desc.Digest, index)
	}
	pulledIndex, err := desc.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := pulledIndex.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		if _, err := pulledIndex.Image(m.Digest); err != nil {
			t.Errorf("the registry does not serve the %s/%s image: %v", m.Platform.OS, m.Platform.Architecture, err)
		}
	}

	chartRef, err := name.NewTag(target+"/consul-peering-guard:"+chartVersion, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	chartDesc, err := remote.Get(chartRef)
	if err != nil {
		t.Fatalf("pulling the chart manifest back: %v", err)
	}
	var manifest v1.Manifest
	if err := json.Unmarshal(chartDesc.Manifest, &manifest); err != nil {
		t.Fatal(err)
	}
	var layers []string
	for _, l := range manifest.Layers {
		layers = append(layers, string(l.MediaType)+" "+l.Digest.Hex)
	}
	if want := "application/vnd.cncf.helm.chart.content.v1.tar+gzip " + sums[chartFile]; !slices.Contains(layers, want) {
		t.Errorf("the chart's OCI manifest has layers %v, want %s", layers, want)
	}
	pulled := t.TempDir()
	if r := run(t, root, env, filepath.Join(root, "bin", "helm"), "pull", "oci://"+target+"/consul-peering-guard", "--version", chartVersion, "--plain-http", "--destination", pulled); r.code != 0 {
		t.Fatalf("helm pull: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := sha256File(t, filepath.Join(pulled, chartFile)); got != sums[chartFile] {
		t.Errorf("helm pull gives a chart with SHA-256 %s, dist holds %s", got, sums[chartFile])
	}
}

// checkChecksums verifies SHA256SUMS against the files and returns it by file.
func checkChecksums(t *testing.T, dist string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q is not SUM  FILE", sc.Text())
		}
		sums[file] = sum
		if got := sha256File(t, filepath.Join(dist, file)); got != sum {
			t.Errorf("%s: SHA256SUMS says %s, the file is %s", file, sum, got)
		}
	}
	return sums
}

// checkBinaries: one static binary per platform, stamped with the version; the host's says it.
func checkBinaries(t *testing.T, dist, version string) {
	t.Helper()
	for _, p := range platforms {
		goos, goarch, _ := strings.Cut(p, "/")
		file := filepath.Join(dist, "consul-peering-guard-"+goos+"-"+goarch)
		info, err := buildinfo.ReadFile(file)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		settings := map[string]string{}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
		if settings["GOOS"] != goos || settings["GOARCH"] != goarch || settings["CGO_ENABLED"] != "0" {
			t.Errorf("%s: built for %s/%s with CGO_ENABLED=%s", p, settings["GOOS"], settings["GOARCH"], settings["CGO_ENABLED"])
		}
		// -trimpath keeps -ldflags out of the build info; the stamped string is in the data.
		if raw, err := os.ReadFile(file); err != nil || !bytes.Contains(raw, []byte(version)) {
			t.Errorf("%s: not stamped with %s (%v)", p, version, err)
		}
		if goos == runtime.GOOS && goarch == runtime.GOARCH {
			r := run(t, "", nil, file, "version", "-o", "json")
			var v map[string]string
			if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["version"] != version {
				t.Errorf("%s version -o json: %q (%v), want version %s", file, r.stdout, err, version)
			}
		}
	}
}

// checkChart: the packaged chart has the version without v, the version as appVersion, and
// so deploys the image tagged with it.
func checkChart(t *testing.T, root, dist, chartFile, version, chartVersion string, env []string) {
	t.Helper()
	helm := filepath.Join(root, "bin", "helm")
	r := run(t, root, env, helm, "show", "chart", filepath.Join(dist, chartFile))
	var meta struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal([]byte(r.stdout), &meta); err != nil || meta.Version != chartVersion || meta.AppVersion != version {
		t.Errorf("helm show chart %s: version %q appVersion %q (%v), want %s and %s", chartFile, meta.Version, meta.AppVersion, err, chartVersion, version)
	}
	r = run(t, root, env, helm, "template", "consul-peering-guard", filepath.Join(dist, chartFile), "--namespace", "cpg")
	if want := "image: \"ghcr.io/consul-peering-guard/consul-peering-guard:" + version + "\""; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("the packaged chart does not deploy %s (exit %d): %s", want, r.code, r.stderr)
	}
}

// checkImageLayout: the layout holds one index, named by the version, whose images carry it
// as their version label; it returns the index's digest.
func checkImageLayout(t *testing.T, dist, version string) v1.Hash {
	t.Helper()
	root, err := layout.ImageIndexFromPath(filepath.Join(dist, "image", "oci"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := root.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != version {
		t.Fatalf("dist/image/oci: %+v; want one index named %s", top.Manifests, version)
	}
	index, err := root.ImageIndex(top.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range im.Manifests {
		got = append(got, m.Platform.OS+"/"+m.Platform.Architecture)
		img, err := index.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if v := cfg.Config.Labels["org.opencontainers.image.version"]; v != version {
			t.Errorf("%s image: version label %q, want %s", got[len(got)-1], v, version)
		}
	}
	sort.Strings(got)
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(got, want) {
		t.Errorf("image platforms %v, want %v", got, want)
	}
	return top.Manifests[0].Digest
}

// checkSBOM: the SPDX document lists the binary (its SHA-256, the version) and every module
// of its Go build info, at the version linked.
func checkSBOM(t *testing.T, dist, version string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dist, "consul-peering-guard.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			SPDXID      string `json:"SPDXID"`
			Name        string `json:"name"`
			VersionInfo string `json:"versionInfo"`
			Checksums   []struct {
				Algorithm string `json:"algorithm"`
				Value     string `json:"checksumValue"`
			} `json:"checksums"`
		} `json:"packages"`
		Relationships []struct {
			Element string `json:"spdxElementId"`
			Type    string `json:"relationshipType"`
			Related string `json:"relatedSpdxElement"`
		} `json:"relationships"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" {
		t.Errorf("spdxVersion %q", doc.SPDXVersion)
	}
	binary := filepath.Join(dist, "consul-peering-guard-linux-amd64")
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, p := range doc.Packages {
		listed[p.Name] = p.VersionInfo
		if p.Name == info.Main.Path {
			if p.VersionInfo != version || len(p.Checksums) != 1 || p.Checksums[0].Value != sha256File(t, binary) {
				t.Errorf("the main package is %s %+v, want %s with the binary's SHA-256", p.VersionInfo, p.Checksums, version)
			}
		}
	}
	if _, ok := listed[info.Main.Path]; !ok {
		t.Errorf("the SBOM does not list %s", info.Main.Path)
	}
	for _, d := range info.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		if listed[m.Path] != m.Version {
			t.Errorf("the SBOM lists %s at %q, the binary links %s", m.Path, listed[m.Path], m.Version)
		}
	}
	if n := len(doc.Packages); n != len(info.Deps)+2 {
		t.Errorf("%d packages, want the main module, Go and the %d modules", n, len(info.Deps))
	}
	depends := 0
	for _, r := range doc.Relationships {
		if r.Type == "DEPENDS_ON" {
			depends++
		}
	}
	if depends != len(info.Deps)+1 {
		t.Errorf("%d DEPENDS_ON relationships, want %d", depends, len(info.Deps)+1)
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
