// Package manifest reads what the offline CLI is given: Kubernetes manifests from files,
// folders and kustomizations, grouped into clusters by their cluster files. Multi-document
// YAML or JSON, lists, the Consul kinds and annotated workloads are decoded into typed
// objects as the API server decodes them (case-sensitive keys, unknown fields reported), and
// mesh gateway workloads recognised by their labels. What is not a Kubernetes object (Helm
// values, kustomization files, CI workflows, Helm templates) is skipped and listed. Every
// error names the file and document.
package manifest

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// MaxDocumentBytes bounds one YAML or JSON document and MaxFileBytes one file; larger input
// is rejected after reading at most that much.
const (
	MaxDocumentBytes = 8 << 20
	MaxFileBytes     = 64 << 20
)

// Object is one Consul object read from a manifest.
type Object struct {
	Kind   kinds.Kind
	Object runtime.Object
	Source Source
	// UnknownFields are the fields of the document that the kind does not define, misspelled
	// or mis-cased: the API server would refuse them (strict field validation) or drop them.
	UnknownFields []UnknownField
}

// UnknownField is a field of a manifest that its kind does not define.
type UnknownField struct {
	// Path is the field path as kubectl prints it, e.g. spec.upstreamConfig.overrides[0].Peer.
	Path string
	// Suggestion is the defined field whose name differs only in case, "" when there is none.
	Suggestion string
}

// Skipped is a file or document that is not a Kubernetes object and was not validated.
type Skipped struct {
	// Source.Document is 0 when the whole file was skipped.
	Source Source
	Reason string
}

// Gateway is a mesh gateway Deployment found in a manifest.
type Gateway struct {
	Namespace string
	Name      string
	Source    Source
}

// Source locates a document: its file and 1-based position in the file.
type Source struct {
	File     string
	Document int
}

// String names the file as text output does: quoted when it holds a character that is not
// printable.
func (s Source) String() string {
	if s.Document == 0 {
		return printer.Printable(s.File)
	}
	return fmt.Sprintf("%s (document %d)", printer.Printable(s.File), s.Document)
}

// Set is everything read from one group of manifests.
type Set struct {
	Objects  []Object
	Gateways []Gateway
	Skipped  []Skipped
}

func (s *Set) skip(src Source, reason string) {
	s.Skipped = append(s.Skipped, Skipped{Source: src, Reason: reason})
}

// Options controls reading.
type Options struct {
	// GatewaySelector matches the labels of mesh gateway Deployments.
	GatewaySelector labels.Selector
	// MaxInputBytes bounds the bytes of all input together; 0 means DefaultMaxInputBytes.
	MaxInputBytes int64
	// AllowRemoteBases lets a kustomization name URLs and git repositories, which kustomize
	// then fetches; without it a kustomization reads local files only.
	AllowRemoteBases bool
	// Base is the engine configuration of every cluster, the one a cluster file's keys are
	// decoded over.
	Base validators.Config
}

// Error is an unreadable input; it names the file and, when known, the document.
type Error struct {
	Source Source
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %v", e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// skippedDir names folders a repository walk never descends into: version control, tool
// state and package managers' downloads, which hold no manifests of the repository's own.
// .github is walked: its workflows are listed as skipped, which shows they were seen.
func skippedDir(name string) bool {
	switch name {
	case "node_modules", "vendor", ".git", ".terraform", ".idea", ".vscode":
		return true
	}
	return false
}

// Files expands paths (files or folders, walked recursively, except the folders skippedDir
// names) into the manifest files to read: *.yaml, *.yml and *.json, in lexical order within
// each folder. A path named is read if it is a regular file, through a symlink too; a file
// found by the walk is read only if it is a regular file inside the folder named, and is
// otherwise returned as skipped with the reason.
func Files(paths []string) ([]string, []Skipped, error) {
	var (
		out     []string
		skipped []Skipped
	)
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, nil, &Error{Source: Source{File: p}, Err: unwrapPathError(err)}
		}
		if !info.IsDir() {
			if !info.Mode().IsRegular() {
				return nil, nil, &Error{Source: Source{File: p}, Err: ErrNotRegularFile}
			}
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && skippedDir(d.Name()) {
				return filepath.SkipDir
			}
			if d.IsDir() || !IsManifestFile(path) {
				return nil
			}
			if read, reason := walkEntry(p, path, d); !read {
				skipped = append(skipped, Skipped{Source: Source{File: path}, Reason: reason})
				return nil
			}
			found = append(found, path)
			return nil
		})
		if err != nil {
			return nil, nil, &Error{Source: Source{File: p}, Err: err}
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, skipped, nil
}

// IsManifestFile reports whether a file name looks like a manifest (and not our cluster file).
func IsManifestFile(path string) bool {
	base := filepath.Base(path)
	if base == ClusterFileName {
		return false
	}
	switch strings.ToLower(filepath.Ext(base)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// readFile reads every document of one file into set; the file must be a regular file.
func (in *input) readFile(path string, set *Set) error {
	raw, err := in.readRegularFile(path, MaxFileBytes)
	if err != nil {
		return err
	}
	return parse(raw, path, in.opts, set)
}

// read reads every document of r, named name in errors, into set.
func (in *input) read(r io.Reader, name string, set *Set) error {
	raw, err := in.readAll(r, name, MaxFileBytes)
	if err != nil {
		return err
	}
	return parse(raw, name, in.opts, set)
}

// parse reads every document of raw into set. A file that holds Helm template syntax is
// skipped as a whole, and so is one that is not valid YAML but holds {{: neither is a
// manifest until it is rendered.
func parse(raw []byte, name string, opts Options, set *Set) error {
	if isHelmTemplate(raw) {
		set.skip(Source{File: name}, templateHint)
		return nil
	}
	docs, err := documents(raw, name)
	if err != nil {
		if mayBeTemplate(raw) {
			set.skip(Source{File: name}, "not valid YAML and holds {{: a template, not a manifest; render it first, e.g. helm template RELEASE CHART | consul-peering-guard validate -f -")
			return nil
		}
		return err
	}
	for i, js := range docs {
		if js == nil {
			continue
		}
		if err := readJSON(js, Source{File: name, Document: i + 1}, opts, set); err != nil {
			return err
		}
	}
	return nil
}

// documents splits a file into its documents, each converted to JSON; an empty document (or
// one of comments only) is nil.
func documents(raw []byte, name string) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReaderSize(bytes.NewReader(raw), 64<<10))
	var out [][]byte
	for doc := 1; ; doc++ {
		src := Source{File: name, Document: doc}
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, &Error{Source: src, Err: err}
		}
		if len(raw) > MaxDocumentBytes {
			return nil, &Error{Source: src, Err: fmt.Errorf("document is larger than %d bytes", MaxDocumentBytes)}
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			out = append(out, nil)
			continue
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, &Error{Source: src, Err: fmt.Errorf("not valid YAML or JSON: %w", err)}
		}
		out = append(out, js)
	}
}

// readJSON sorts one document: a Consul object to validate, a mesh gateway Deployment, a
// List to open, another Kubernetes object to ignore, or something else to skip.
func readJSON(js []byte, src Source, opts Options, set *Set) error {
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil
	}
	var top map[string]json.RawMessage
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &top); err != nil {
		set.skip(src, "not a Kubernetes object: the document is not a mapping")
		return nil
	}
	apiVersion, kind := stringMember(top, "apiVersion"), stringMember(top, "kind")
	if apiVersion == "" || kind == "" {
		set.skip(src, notAnObjectReason(src.File, top, apiVersion, kind))
		return nil
	}
	switch {
	case strings.HasPrefix(apiVersion, "kustomize.config.k8s.io/"):
		set.skip(src, fmt.Sprintf("%s is kustomize's configuration, not an object: render it with validate -k %s", kind, filepath.Dir(src.File)))
		return nil
	case strings.HasSuffix(kind, "List") && apiVersion == "v1":
		var items []json.RawMessage
		if raw, ok := top["items"]; ok {
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &items); err != nil {
				return &Error{Source: src, Err: fmt.Errorf("%s: items is not a list", kind)}
			}
		}
		for _, item := range items {
			if err := readJSON(item, src, opts, set); err != nil {
				return err
			}
		}
		return nil
	case apiVersion == v1alpha1.GroupVersion.String():
		obj, ok := kinds.New(kinds.Kind(kind))
		if !ok {
			return nil // another Consul kind: not ours to validate
		}
		unknown, err := decode(js, obj)
		if err != nil {
			return &Error{Source: src, Err: fmt.Errorf("%s %q: %w", kind, nameOf(top), err)}
		}
		if obj.GetNamespace() == "" {
			obj.SetNamespace("default")
		}
		set.Objects = append(set.Objects, Object{Kind: kinds.Kind(kind), Object: obj, Source: src, UnknownFields: unknown})
		return nil
	case apiVersion == "apps/v1" && kind == "Deployment":
		if err := readDeployment(js, src, opts, set); err != nil {
			return err
		}
		return readWorkload(js, src, kind, set)
	case isWorkload(apiVersion, kind):
		return readWorkload(js, src, kind, set)
	}
	return nil // a Kubernetes object of another kind
}

// isWorkload says whether apiVersion and kind are a workload whose pods consul-k8s reads the
// upstreams annotation of.
func isWorkload(apiVersion, kind string) bool {
	i, ok := kinds.InfoOf(kinds.Kind(kind))
	return ok && i.Workload() && i.GroupVersion.String() == apiVersion
}

// readWorkload records a workload that carries the upstreams annotation, to be validated
// under its own kind and name. The API server validates the rest of a workload, so its
// unknown fields are not reported; one that cannot be decoded is skipped with the reason.
func readWorkload(js []byte, src Source, kind string, set *Set) error {
	if !bytes.Contains(js, []byte(validators.UpstreamsAnnotation)) {
		return nil
	}
	obj, ok := kinds.New(kinds.Kind(kind))
	if !ok {
		return nil
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, obj); err != nil {
		set.skip(src, fmt.Sprintf("%s cannot be read, so its upstreams annotation is not checked: %v", kind, v1alpha1.NameTypeError(err)))
		return nil
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace("default")
	}
	set.Objects = append(set.Objects, Object{Kind: kinds.Kind(kind), Object: obj, Source: src})
	return nil
}

// readDeployment records a mesh gateway Deployment. Offline there is no status: one that asks
// for a replica stands for the ready gateway the webhook would require. A Service alone is no
// gateway, as in the webhook.
func readDeployment(js []byte, src Source, opts Options, set *Set) error {
	var d deployment
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(js, &d); err != nil {
		set.skip(src, fmt.Sprintf("Deployment cannot be read, so it cannot count as a mesh gateway: %v", v1alpha1.NameTypeError(err)))
		return nil
	}
	if d.Spec.Replicas != nil && *d.Spec.Replicas < 1 {
		return nil
	}
	if opts.GatewaySelector == nil || !opts.GatewaySelector.Matches(labels.Set(d.Metadata.Labels)) {
		return nil
	}
	set.Gateways = append(set.Gateways, Gateway{Namespace: cmp.Or(d.Metadata.Namespace, "default"), Name: d.Metadata.Name, Source: src})
	return nil
}

type deployment struct {
	Metadata struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		// Replicas of a Deployment; Kubernetes defaults a missing value to 1.
		Replicas *int32 `json:"replicas"`
	} `json:"spec"`
}

// stringMember returns a top-level member that is a JSON string, "" otherwise.
func stringMember(top map[string]json.RawMessage, key string) string {
	var s string
	if raw, ok := top[key]; !ok || sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &s) != nil {
		return ""
	}
	return s
}

func nameOf(top map[string]json.RawMessage) string {
	var m struct {
		Name string `json:"name"`
	}
	if raw, ok := top["metadata"]; ok {
		_ = sigsjson.UnmarshalCaseSensitivePreserveInts(raw, &m)
	}
	return m.Name
}

// notAnObjectReason says why a mapping is not a Kubernetes object, naming a key that would be
// apiVersion or kind but for its case, and pointing kustomization files to -k.
func notAnObjectReason(file string, top map[string]json.RawMessage, apiVersion, kind string) string {
	if isKustomizationFile(file) {
		return "kustomization without apiVersion and kind, not an object: render it with validate -k " + filepath.Dir(file)
	}
	var missing []string
	for _, m := range []struct{ key, value string }{{"apiVersion", apiVersion}, {"kind", kind}} {
		if m.value != "" {
			continue
		}
		what := "no " + m.key
		for k := range top {
			if k != m.key && strings.EqualFold(k, m.key) {
				what += fmt.Sprintf(" (%q is not %q: keys are case-sensitive)", k, m.key)
			}
		}
		if _, ok := top[m.key]; ok {
			what = m.key + " is not a non-empty string"
		}
		missing = append(missing, what)
	}
	return "not a Kubernetes object: " + strings.Join(missing, ", ")
}

func isKustomizationFile(file string) bool {
	switch filepath.Base(file) {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return true
	}
	return false
}

// decode reads a Consul object as the API server does: keys match case-sensitively, and a key
// the type does not define is returned as an unknown field rather than silently dropped (at
// most 100 per document, the decoder's own bound). A value of the wrong type is an error.
func decode(js []byte, into runtime.Object) ([]UnknownField, error) {
	strictErrs, err := sigsjson.UnmarshalStrict(js, into, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, v1alpha1.NameTypeError(err)
	}
	var unknown []UnknownField
	for _, e := range strictErrs {
		var fe sigsjson.FieldError
		if !errors.As(e, &fe) {
			return nil, e
		}
		unknown = append(unknown, UnknownField{Path: fe.FieldPath(), Suggestion: caseSuggestion(reflect.TypeOf(into), fe.FieldPath())})
	}
	return unknown, nil
}

// stripComments drops YAML comment lines so a document of only comments counts as empty.
func stripComments(raw []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(raw, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || bytes.Equal(t, []byte("---")) {
			continue
		}
		out = append(out, line...)
		out = append(out, '\n')
	}
	return out
}
