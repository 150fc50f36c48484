package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// checksumsCommand writes DIR/SHA256SUMS in the format of sha256sum (and shasum -a 256 -c).
func checksumsCommand(args []string) error {
	fs := flag.NewFlagSet("checksums", flag.ContinueOnError)
	dir := fs.String("dir", "dist", "folder the files are relative to; SHA256SUMS is written there")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	files := fs.Args()
	if len(files) == 0 {
		return usageError{fmt.Errorf("checksums needs the files to list")}
	}
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		sum, err := sha256File(filepath.Join(*dir, f))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, filepath.ToSlash(f))
	}
	return os.WriteFile(filepath.Join(*dir, "SHA256SUMS"), []byte(b.String()), 0o644)
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// pushImageCommand pushes the single image index of an OCI layout (hack/image's) under a tag,
// every platform with it, and prints the pushed reference with its digest.
func pushImageCommand(args []string) error {
	fs := flag.NewFlagSet("push-image", flag.ContinueOnError)
	dir := fs.String("layout", "dist/image/oci", "the OCI image layout written by hack/image")
	ref := fs.String("ref", "", "where to push, REGISTRY/REPOSITORY:TAG")
	insecure := fs.Bool("plain-http", false, "talk HTTP, not HTTPS, to the registry (a local test registry)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	var opts []name.Option
	if *insecure {
		opts = append(opts, name.Insecure)
	}
	tag, err := name.NewTag(*ref, opts...)
	if err != nil {
		return usageError{fmt.Errorf("-ref %q: %w", *ref, err)}
	}
	p, err := layout.FromPath(*dir)
	if err != nil {
		return fmt.Errorf("%s: %w", *dir, err)
	}
	outer, err := p.ImageIndex()
	if err != nil {
		return err
	}
	m, err := outer.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) != 1 {
		return fmt.Errorf("%s holds %d images, want the one index hack/image writes", *dir, len(m.Manifests))
	}
	index, err := outer.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		return err
	}
	if err := remote.WriteIndex(tag, index, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("pushing %s: %w", tag, err)
	}
	digest, err := index.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n", tag, digest)
	return nil
}
