package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

// FuzzRead feeds arbitrary bytes to the CLI's manifest reader: it must return objects or an
// error naming the document, never panic or hang. The seeds are the example manifests.
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob("../../examples/*/*/*.yaml")
	more, _ := filepath.Glob("../../examples/*/*.yaml")
	for _, p := range append(files, more...) {
		if raw, err := os.ReadFile(p); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte("---\n---\napiVersion: v1\nkind: List\nitems: [{apiVersion: consul.hashicorp.com/v1alpha1, kind: Mesh, metadata: {name: mesh}}]\n"))
	f.Add([]byte(`{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ServiceDefaults","spec":{"upstreamConfig":{"overrides":[null]}}}`))
	sel := labels.SelectorFromSet(labels.Set{"component": "mesh-gateway"})
	f.Fuzz(func(t *testing.T, data []byte) {
		var set Set
		err := newInput(Options{GatewaySelector: sel}).read(bytes.NewReader(data), "fuzz.yaml", &set)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Source.File != "fuzz.yaml" {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, o := range set.Objects {
			if o.Object == nil || o.Source.Document < 1 {
				t.Fatalf("object without source: %+v", o)
			}
			for _, u := range o.UnknownFields {
				if u.Path == "" {
					t.Fatalf("unknown field without a path: %+v", o)
				}
			}
		}
		for _, s := range set.Skipped {
			if s.Source.File != "fuzz.yaml" || s.Reason == "" {
				t.Fatalf("skipped without file or reason: %+v", s)
			}
		}
	})
}
