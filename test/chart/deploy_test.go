package chart

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"k8s.io/apimachinery/pkg/util/diff"
	"sigs.k8s.io/yaml"
)

// normalised parses a manifest stream into one generic object per document, so comments,
// key order, quoting and document separators do not count.
func normalised(t *testing.T, stream []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, doc := range yamlDocuments(t, stream) {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		out = append(out, obj)
	}
	return out
}

func identity(obj map[string]any) string {
	meta, _ := obj["metadata"].(map[string]any)
	return fmt.Sprintf("%v/%v %v/%v", obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
}

func byIdentity(t *testing.T, objs []map[string]any) map[string]map[string]any {
	t.Helper()
	m := make(map[string]map[string]any, len(objs))
	for _, o := range objs {
		id := identity(o)
		if _, dup := m[id]; dup {
			t.Fatalf("%s twice", id)
		}
		m[id] = o
	}
	return m
}

func keys(m map[string]map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// deploy/consul-peering-guard.yaml is `make manifests` output; it must be what the chart
// renders with default values today.
func TestDeployManifestsAreTheChartWithDefaultValues(t *testing.T) {
	committed, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "consul-peering-guard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, want := normalised(t, committed), normalised(t, render(t, ""))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("deploy/consul-peering-guard.yaml is stale: run make manifests (- deploy, + chart):\n%s", diff.Diff(got, want))
	}
	// and it decodes strictly into the Go types, like the chart's output
	decode(t, committed)
}

// kubectl apply -k deploy/ applies the namespace plus exactly the chart's objects.
func TestKustomizationBuildsTheChartObjects(t *testing.T) {
	kubectl := filepath.Join(repoRoot(t), "bin", "kubectl")
	r := run(t, nil, kubectl, "kustomize", "deploy")
	if r.code != 0 {
		t.Fatalf("kubectl kustomize deploy: %s", r)
	}
	built := byIdentity(t, normalised(t, []byte(r.stdout)))
	ns := "v1/Namespace <nil>/" + namespace
	if _, ok := built[ns]; !ok {
		t.Fatalf("kustomize output has no Namespace %s: %v", namespace, keys(built))
	}
	delete(built, ns)
	want := byIdentity(t, normalised(t, render(t, "")))
	if !reflect.DeepEqual(keys(built), keys(want)) {
		t.Fatalf("kustomize builds\n %v\nthe chart renders\n %v", keys(built), keys(want))
	}
	for id, obj := range want {
		if !reflect.DeepEqual(built[id], obj) {
			t.Errorf("%s differs (- kustomize, + chart):\n%s", id, diff.Diff(built[id], obj))
		}
	}
}
