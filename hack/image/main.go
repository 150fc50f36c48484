// Command image assembles the consul-peering-guard container image without a container
// engine, from scratch: one layer holding the static binary of each platform (built by
// `make image` with the flags of `make image-build-check`), the nonroot user's passwd and
// group entries and a writable /tmp; user 65532, the binary as entrypoint, serve as command,
// OCI labels. It writes
//
//   - an OCI image layout with a multi-platform index (crane push, skopeo copy oci:),
//   - the same layout as a tar archive (podman load, docker load from Docker 25),
//   - a docker-archive tarball per platform (docker load of any version).
//
// The repository and the version default to the chart's image.repository and appVersion,
// so the image is the one the chart's default values deploy.
package main

import (
	"archive/tar"
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"
)

// The image's user, as in distroless' nonroot and the chart's securityContext.
const (
	uid        = 65532
	binaryPath = "consul-peering-guard"
)

type options struct {
	binaries   string
	out        string
	chart      string
	repository string
	version    string
	revision   string
	source     string
	created    int64
	platforms  []string
}

func main() {
	var o options
	var platforms string
	flag.StringVar(&o.binaries, "binaries", "bin/image", "folder with linux-ARCH/consul-peering-guard for each platform")
	flag.StringVar(&o.out, "out", "bin/image", "folder the layout and tarballs are written to")
	flag.StringVar(&o.chart, "chart", "charts/consul-peering-guard", "the Helm chart whose default image reference the image gets")
	flag.StringVar(&o.repository, "repository", "", "image repository (default: the chart's image.repository)")
	flag.StringVar(&o.version, "version", "", "image tag and version label (default: the chart's appVersion)")
	flag.StringVar(&o.revision, "revision", "unknown", "the source revision (git commit) for the revision label")
	flag.StringVar(&o.source, "source", "https://github.com/consul-peering-guard/consul-peering-guard", "the source label")
	flag.Int64Var(&o.created, "created", 0, "creation time as Unix seconds (the commit's time keeps the image reproducible)")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated OS/ARCH list")
	flag.Parse()
	o.platforms = strings.Split(platforms, ",")
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if err := chartDefaults(&o); err != nil {
		return err
	}
	tag, err := name.NewTag(o.repository + ":" + o.version)
	if err != nil {
		return fmt.Errorf("image reference %s:%s: %w", o.repository, o.version, err)
	}
	index := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	perPlatform := map[string]v1.Image{}
	for _, p := range o.platforms {
		platform, err := v1.ParsePlatform(p)
		if err != nil {
			return err
		}
		img, err := buildImage(o, platform)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		perPlatform[platform.OS+"-"+platform.Architecture] = img
		index = mutate.AppendManifests(index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: platform}})
	}
	index = mutate.Annotations(index, annotations(o)).(v1.ImageIndex)

	layoutDir := filepath.Join(o.out, "oci")
	if err := os.RemoveAll(layoutDir); err != nil {
		return err
	}
	lp, err := layout.Write(layoutDir, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendIndex(index, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag.TagStr(),
		"io.containerd.image.name":          tag.String(),
	})); err != nil {
		return err
	}
	archive := filepath.Join(o.out, "consul-peering-guard-oci.tar")
	if err := tarDir(layoutDir, archive); err != nil {
		return err
	}
	for platform, img := range perPlatform {
		file := filepath.Join(o.out, "consul-peering-guard-"+platform+".tar")
		if err := tarball.WriteToFile(file, tag, img); err != nil {
			return err
		}
	}
	digest, err := index.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s (%s)\n  OCI layout: %s\n  OCI archive: %s\n", tag, digest, strings.Join(o.platforms, ", "), layoutDir, archive)
	return nil
}

// chartDefaults fills the repository and the version from the chart when not given.
func chartDefaults(o *options) error {
	if o.repository != "" && o.version != "" {
		return nil
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	var values struct {
		Image struct {
			Repository string `json:"repository"`
		} `json:"image"`
	}
	for file, into := range map[string]any{"Chart.yaml": &chart, "values.yaml": &values} {
		raw, err := os.ReadFile(filepath.Join(o.chart, file))
		if err != nil {
			return err
		}
		if err := yaml.Unmarshal(raw, into); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	o.repository = cmp.Or(o.repository, values.Image.Repository)
	o.version = cmp.Or(o.version, chart.AppVersion)
	if o.repository == "" || o.version == "" {
		return errors.New("no image repository or version: pass -repository and -version or a chart that has them")
	}
	return nil
}

func annotations(o options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":   o.source,
		"org.opencontainers.image.version":  o.version,
		"org.opencontainers.image.revision": o.revision,
		"org.opencontainers.image.created":  time.Unix(o.created, 0).UTC().Format(time.RFC3339),
		"org.opencontainers.image.title":    "consul-peering-guard",
	}
}

func buildImage(o options, platform *v1.Platform) (v1.Image, error) {
	binary, err := os.ReadFile(filepath.Join(o.binaries, platform.OS+"-"+platform.Architecture, binaryPath))
	if err != nil {
		return nil, fmt.Errorf("the binary for this platform is missing (make image builds it): %w", err)
	}
	created := time.Unix(o.created, 0).UTC()
	content, err := rootfs(binary, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(content)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	cf.Created = v1.Time{Time: created}
	cf.Author = o.source
	cf.Config.User = strconv.Itoa(uid) + ":" + strconv.Itoa(uid)
	cf.Config.Entrypoint = []string{"/" + binaryPath}
	cf.Config.Cmd = []string{"serve"}
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = annotations(o)
	cf.History = []v1.History{{Created: v1.Time{Time: created}, CreatedBy: "make image (hack/image): the static binary, the nonroot user and /tmp", Comment: "from scratch"}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, annotations(o)).(v1.Image), nil
}

// rootfs is the layer: the binary, /etc/passwd and /etc/group naming the nonroot user (so
// tools that map the uid show a name) and a world-writable sticky /tmp.
func rootfs(binary []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		name string
		mode int64
		dir  bool
		data []byte
	}{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: binaryPath, mode: 0o755, data: binary},
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarDir archives an OCI layout folder with its paths relative to the folder, as podman
// load and docker load read an OCI archive.
func tarDir(dir, file string) (err error) {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(f)
	walkErr := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer func() { _ = src.Close() }()
		_, err = io.Copy(tw, src)
		return err
	})
	if walkErr != nil {
		return walkErr
	}
	return tw.Close()
}
