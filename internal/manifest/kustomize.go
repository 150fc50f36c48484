package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// ErrRemoteReference is the error of a kustomization that names a URL or a git repository
// (kustomize would fetch it) while remote bases are not allowed.
var ErrRemoteReference = errors.New("names a URL or git repository, which kustomize would fetch; validate -k reads only local files (vendor it into the tree, or allow it with --allow-remote-bases)")

// KustomizeSource names the output of a kustomization in reports and errors.
func KustomizeSource(dir string) string { return "kustomize build " + dir }

// readKustomization renders the kustomization in dir, as `kubectl apply -k` and `kustomize
// build` do with their defaults (files only from inside each kustomization's root, no plugins,
// no Helm), and reads the result into set. Unless opts.AllowRemoteBases, a kustomization that
// names a URL or a git repository, its own or one of its local bases', is refused before
// anything is fetched. Only regular files are read, within opts.MaxInputBytes. A
// kustomization that does not build is an error carrying kustomize's message.
func (in *input) readKustomization(dir string, set *Set) error {
	name := KustomizeSource(dir)
	if !in.opts.AllowRemoteBases {
		if isRemote(dir) {
			return &Error{Source: Source{File: dir}, Err: ErrRemoteReference}
		}
		if err := checkLocal(dir, map[string]bool{}); err != nil {
			return err
		}
	}
	fsys := &regularFS{FileSystem: filesys.MakeFsOnDisk(), in: in}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		if fsys.refused != nil {
			return fsys.refused // kustomize keeps only the message; the error names the file
		}
		return &Error{Source: Source{File: name}, Err: err}
	}
	out, err := resources.AsYaml()
	if err != nil {
		return &Error{Source: Source{File: name}, Err: fmt.Errorf("rendering the output: %w", err)}
	}
	return parse(out, name, in.opts, set)
}

// regularFS is the disk as kustomize reads it: regular files only, every byte charged to the
// bound on the input.
// The first file refused is kept to be reported as the build's error.
type regularFS struct {
	filesys.FileSystem
	in      *input
	refused error
}

func (f *regularFS) ReadFile(path string) ([]byte, error) {
	if f.IsDir(path) {
		return f.FileSystem.ReadFile(path) // kustomize tries a folder as a file first, and expects its error
	}
	raw, err := f.in.readRegularFile(path, MaxFileBytes)
	f.keep(err)
	return raw, err
}

func (f *regularFS) Open(path string) (filesys.File, error) {
	file, err := openRegular(path)
	if err != nil {
		f.keep(err)
		return nil, err
	}
	return file, nil
}

func (f *regularFS) keep(err error) {
	if f.refused == nil && (errors.Is(err, ErrInputTooLarge) || errors.Is(err, ErrNotRegularFile)) {
		f.refused = err
	}
}

// urlScheme matches the scheme of a URL: http://, https://, ssh://, file://, ...
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// isRemote reports whether kustomize would fetch ref rather than read a local file or folder:
// a URL (kustomize downloads http and https, clones the others), a go-getter git:: address, an
// SCP-like user@host:repo, or a GitHub repository without scheme. A superset of kustomize's
// own test, so that nothing it fetches passes as local.
func isRemote(ref string) bool {
	lower := strings.ToLower(ref)
	first, _, _ := strings.Cut(ref, "/")
	return urlScheme.MatchString(ref) || strings.HasPrefix(lower, "git::") || strings.Contains(first, "@") ||
		strings.HasPrefix(lower, "github.com/") || strings.HasPrefix(lower, "github.com:")
}

// referenceKeys are the keys of a kustomization, and of the generator and transformer
// configurations it names, whose values are files or folders kustomize reads.
var referenceKeys = map[string]bool{
	"resources": true, "bases": true, "components": true, "crds": true, "configurations": true,
	"generators": true, "transformers": true, "validators": true, "patchesStrategicMerge": true,
	"path": true, "files": true, "envs": true, "env": true, "targetFilePath": true,
	"argsFromFile": true, "valuesFile": true, "additionalValuesFiles": true, "chartHome": true,
}

// folderKeys are the reference keys whose local values may be folders holding kustomizations.
var folderKeys = map[string]bool{"resources": true, "bases": true, "components": true,
	"generators": true, "transformers": true, "validators": true}

// pluginKeys are the reference keys whose local files hold generator or transformer
// configurations, themselves read for references.
var pluginKeys = map[string]bool{"generators": true, "transformers": true, "validators": true}

// checkLocal refuses a kustomization in dir, or in a local folder it names, that names a URL
// or git repository.
func checkLocal(dir string, seen map[string]bool) error {
	abs, err := filepath.Abs(dir)
	if err != nil || seen[abs] {
		return nil
	}
	seen[abs] = true
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		file := filepath.Join(dir, name)
		if _, err := os.Stat(file); err != nil {
			continue
		}
		return checkFile(file, dir, seen)
	}
	return nil // kustomize reports a folder without a kustomization
}

// checkFile reads the references of a kustomization or generator configuration file; relative
// references are relative to dir, the kustomization's root.
func checkFile(file, dir string, seen map[string]bool) error {
	f, err := openRegular(file)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	raw, err := io.ReadAll(io.LimitReader(f, MaxDocumentBytes))
	if err != nil {
		return &Error{Source: Source{File: file}, Err: err}
	}
	return checkDocuments(raw, file, dir, seen)
}

func checkDocuments(raw []byte, file, dir string, seen map[string]bool) error {
	for _, doc := range bytes.Split(raw, []byte("\n---")) {
		var v any
		if yaml.Unmarshal(doc, &v) != nil {
			continue // not YAML: kustomize reports it
		}
		if err := checkValue(v, "", file, dir, seen); err != nil {
			return err
		}
	}
	return nil
}

// checkValue walks a parsed document and checks every string under a reference key.
func checkValue(v any, key, file, dir string, seen map[string]bool) error {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if err := checkValue(child, k, file, dir, seen); err != nil {
				return err
			}
		}
	case []any:
		for _, child := range v {
			if err := checkValue(child, key, file, dir, seen); err != nil {
				return err
			}
		}
	case string:
		if !referenceKeys[key] {
			return nil
		}
		return checkReference(v, key, file, dir, seen)
	}
	return nil
}

func checkReference(ref, key, file, dir string, seen map[string]bool) error {
	if strings.Contains(ref, "\n") {
		// An inline patch or generator configuration: its own references count.
		if pluginKeys[key] {
			return checkDocuments([]byte(ref), file, dir, seen)
		}
		return nil
	}
	if key == "files" {
		if _, path, ok := strings.Cut(ref, "="); ok {
			ref = path
		}
	}
	if isRemote(ref) {
		return &Error{Source: Source{File: file}, Err: fmt.Errorf("%s: %q %w", key, ref, ErrRemoteReference)}
	}
	path := ref
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, ref)
	}
	info, err := os.Stat(path)
	switch {
	case err != nil:
		return nil // kustomize reports what is missing
	case info.IsDir() && folderKeys[key]:
		return checkLocal(path, seen)
	case info.Mode().IsRegular() && pluginKeys[key]:
		return checkFile(path, dir, seen)
	}
	return nil
}
