package kinds_test

import (
	"slices"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

func TestKinds(t *testing.T) {
	for _, k := range append(slices.Clone(kinds.Consul), kinds.Workloads...) {
		obj, ok := kinds.New(k)
		if !ok {
			t.Fatalf("kinds.New(%s) failed", k)
		}
		if got, ok := kinds.Of(obj); !ok || got != k {
			t.Errorf("kinds.Of(kinds.New(%s)) = %s, %v", k, got, ok)
		}
	}
	if _, ok := kinds.New("Service"); ok {
		t.Error("kinds.New(Service) succeeded")
	}
	if _, ok := kinds.Of(&v1alpha1.MeshList{}); ok {
		t.Error("kinds.Of(MeshList) succeeded")
	}
}

// The scheme knows every kind's type under the group and version the kind is served at.
func TestSchemeKnowsEveryKind(t *testing.T) {
	s := kinds.NewScheme()
	for _, k := range append(slices.Clone(kinds.Consul), kinds.Workloads...) {
		obj, _ := kinds.New(k)
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if want := kinds.GroupVersion(k).WithKind(string(k)); !slices.Contains(gvks, want) {
			t.Errorf("%s registered as %v, want %v", k, gvks, want)
		}
	}
}
