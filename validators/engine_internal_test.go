package validators

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// An update is ratcheted by (rule, field path without list indexes, offending value): an
// override moved down the list keeps its old finding a warning; the same mode on another
// peer is a new finding (the peer reached with mode none is what is offending, as the
// policy's ratchet keys it).
func TestRatchetByValueIdentity(t *testing.T) {
	sd := func(overrides ...*v1alpha1.Upstream) *v1alpha1.ServiceDefaults {
		return &v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"},
			Spec: v1alpha1.ServiceDefaultsSpec{UpstreamConfig: &v1alpha1.Upstreams{Overrides: overrides}}}
	}
	none := func(name, peer string) *v1alpha1.Upstream {
		return &v1alpha1.Upstream{Name: name, Peer: peer, MeshGateway: v1alpha1.MeshGateway{Mode: modeNone}}
	}
	e, err := NewEngine(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		old, obj *v1alpha1.ServiceDefaults
		want     []Action
	}{
		{"kept", sd(none("api", "dc2")), sd(none("api", "dc2")), []Action{Warn}},
		{"moved down the list", sd(none("api", "dc2")), sd(&v1alpha1.Upstream{Name: "db"}, none("api", "dc2")), []Action{Warn}},
		{"another peer", sd(none("api", "dc2")), sd(none("api", "dc3")), []Action{Deny}},
		{"a second one", sd(none("api", "dc2")), sd(none("api", "dc2"), none("db", "dc2")), []Action{Warn, Deny}},
	} {
		res, err := e.Validate(Update, tc.obj, tc.old, peersOnly{"dc2", "dc3"})
		if err != nil {
			t.Fatal(err)
		}
		var got []Action
		for _, v := range res.Violations {
			if v.Rule == "gateway-mode-none-peer-upstream" {
				got = append(got, v.Action)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: actions %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Findings about annotation entries share the annotation's path; the entry tells them apart.
func TestRatchetTellsAnnotationEntriesApart(t *testing.T) {
	e, err := NewEngine(Config{Actions: map[string]Action{"upstream-peer-known": Deny}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, rule, old, obj string
		want                 []Action
	}{
		{"broken entry kept, another added", "upstream-annotation-syntax", "backend:grpc", "billing:admin, backend:grpc", []Action{Deny, Warn}},
		{"unknown peer kept, another added", "upstream-peer-known",
			"backend.svc.cluster-09.peer:9090", "backend.svc.cluster-09.peer:9090,billing.svc.cluster-08.peer:9091", []Action{Warn, Deny}},
	} {
		res, err := e.Validate(Update, workload(tc.obj, "2"), workload(tc.old, "1"), peersOnly{"cluster-02"})
		if err != nil {
			t.Fatal(err)
		}
		var got []Action
		for _, v := range res.Violations {
			if v.Rule == tc.rule {
				got = append(got, v.Action)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: actions %v, want %v", tc.name, got, tc.want)
		}
	}
}
