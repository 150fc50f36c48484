// Package manifest reads Kubernetes manifests from files and folders for the offline CLI:
// multi-document YAML or JSON, lists, the six Consul kinds decoded into typed objects, and
// mesh gateway workloads recognised by their labels. Every error names the file and document.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
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
	Kind   validators.Kind
	Object runtime.Object
	Source Source
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

func (s Source) String() string { return fmt.Sprintf("%s (document %d)", s.File, s.Document) }

// Set is everything read from one group of manifests.
type Set struct {
	Objects  []Object
	Gateways []Gateway
}

// Options controls reading.
type Options struct {
	// GatewaySelector matches the labels of mesh gateway Deployments.
	GatewaySelector labels.Selector
	// Strict rejects fields that the consul-k8s schema does not have.
	Strict bool
}

// Error is an unreadable input; it names the file and, when known, the document.
type Error struct {
	Source Source
	Err    error
}

func (e *Error) Error() string {
	if e.Source.Document == 0 {
		return fmt.Sprintf("%s: %v", e.Source.File, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Files expands paths (files or folders, walked recursively) into the manifest files to read:
// *.yaml, *.yml and *.json, in lexical order within each folder.
func Files(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, &Error{Source: Source{File: p}, Err: errors.Unwrap(err)}
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && IsManifestFile(path) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, &Error{Source: Source{File: p}, Err: err}
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
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

// ReadFile reads every document of one file into set.
func ReadFile(path string, opts Options, set *Set) error {
	f, err := os.Open(path)
	if err != nil {
		return &Error{Source: Source{File: path}, Err: errors.Unwrap(err)}
	}
	defer func() { _ = f.Close() }()
	return Read(f, path, opts, set)
}

// Read reads every document of r, named name in errors, into set.
func Read(r io.Reader, name string, opts Options, set *Set) error {
	limited := &io.LimitedReader{R: r, N: MaxFileBytes + 1}
	reader := utilyaml.NewYAMLReader(bufio.NewReaderSize(limited, 64<<10))
	for doc := 1; ; doc++ {
		src := Source{File: name, Document: doc}
		raw, err := reader.Read()
		if limited.N <= 0 {
			return &Error{Source: Source{File: name}, Err: fmt.Errorf("file is larger than %d bytes", MaxFileBytes)}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &Error{Source: src, Err: err}
		}
		if len(raw) > MaxDocumentBytes {
			return &Error{Source: src, Err: fmt.Errorf("document is larger than %d bytes", MaxDocumentBytes)}
		}
		if err := readDocument(raw, src, opts, set); err != nil {
			return err
		}
	}
}

type typeMeta struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metadata          `json:"metadata"`
	Items      []json.RawMessage `json:"items"`
	Spec       struct {
		// Replicas of a Deployment; Kubernetes defaults a missing value to 1.
		Replicas *int32 `json:"replicas"`
	} `json:"spec"`
}

type metadata struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels"`
}

func readDocument(raw []byte, src Source, opts Options, set *Set) error {
	if len(bytes.TrimSpace(stripComments(raw))) == 0 {
		return nil
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return &Error{Source: src, Err: fmt.Errorf("not valid YAML or JSON: %w", err)}
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil
	}
	var tm typeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return &Error{Source: src, Err: fmt.Errorf("not a Kubernetes object: %w", err)}
	}
	if tm.Kind == "" || tm.APIVersion == "" {
		return &Error{Source: src, Err: errors.New("not a Kubernetes object: apiVersion and kind are required")}
	}
	if strings.HasSuffix(tm.Kind, "List") && tm.APIVersion == "v1" {
		for _, item := range tm.Items {
			if err := readDocument(item, src, opts, set); err != nil {
				return err
			}
		}
		return nil
	}
	if tm.APIVersion == v1alpha1.GroupVersion.String() {
		obj, ok := validators.NewObject(validators.Kind(tm.Kind))
		if !ok {
			return nil // another Consul kind: not ours to validate
		}
		if err := decode(js, obj, opts.Strict); err != nil {
			return &Error{Source: src, Err: fmt.Errorf("%s %q: %w", tm.Kind, tm.Metadata.Name, err)}
		}
		if m, ok := obj.(interface{ GetNamespace() string }); ok && m.GetNamespace() == "" {
			obj.(interface{ SetNamespace(string) }).SetNamespace("default")
		}
		set.Objects = append(set.Objects, Object{Kind: validators.Kind(tm.Kind), Object: obj, Source: src})
		return nil
	}
	// Offline there is no status: a mesh gateway Deployment that asks for a replica stands for
	// the ready gateway the webhook would require. A Service alone is no gateway, as in the webhook.
	if isGatewayDeployment(tm) && opts.GatewaySelector != nil && opts.GatewaySelector.Matches(labels.Set(tm.Metadata.Labels)) {
		ns := tm.Metadata.Namespace
		if ns == "" {
			ns = "default"
		}
		set.Gateways = append(set.Gateways, Gateway{Namespace: ns, Name: tm.Metadata.Name, Source: src})
	}
	return nil
}

func isGatewayDeployment(tm typeMeta) bool {
	return tm.APIVersion == "apps/v1" && tm.Kind == "Deployment" && (tm.Spec.Replicas == nil || *tm.Spec.Replicas >= 1)
}

func decode(js []byte, into runtime.Object, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(into); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fmt.Errorf("field %s: cannot use a JSON %s as %s", typeErr.Field, typeErr.Value, typeErr.Type)
		}
		return err
	}
	return nil
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
