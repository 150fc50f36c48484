package snapshot_test

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func dialer(name string) *v1alpha1.PeeringDialer {
	return &v1alpha1.PeeringDialer{ObjectMeta: metav1.ObjectMeta{Namespace: "consul", Name: name},
		Spec: v1alpha1.PeeringSpec{Peer: &v1alpha1.Peer{Secret: &v1alpha1.Secret{Name: "t", Key: "k", Backend: "kubernetes"}}}}
}

func exportTo(peers ...string) *v1alpha1.ExportedServices {
	es := &v1alpha1.ExportedServices{ObjectMeta: metav1.ObjectMeta{Namespace: "consul", Name: "default"}}
	svc := v1alpha1.ExportedService{Name: "backend"}
	for _, p := range peers {
		svc.Consumers = append(svc.Consumers, v1alpha1.ServiceConsumer{Peer: p})
	}
	es.Spec.Services = []v1alpha1.ExportedService{svc}
	return es
}

type hit struct{ rule, field, action string }

func hits(f snapshot.Finding) []hit {
	var out []hit
	for _, v := range f.Result.Violations {
		out = append(out, hit{v.Rule, v.Error.Field, string(v.Action)})
	}
	return out
}

func mustEngine(t *testing.T, cfg validators.Config) *validators.Engine {
	t.Helper()
	e, err := validators.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Each object is judged against a cluster holding all the others and the gateways given.
func TestCheckJudgesEachObjectAgainstTheOthers(t *testing.T) {
	gw := state.GatewayRef{Namespace: "consul", Name: "mesh-gateway"}
	for _, tc := range []struct {
		name     string
		gateways []state.Gateway
		want     []hit
	}{
		{"ready gateway", []state.Gateway{{Ref: gw, Status: validators.GatewayReady}},
			[]hit{{"consumer-peer-known", "spec.services[0].consumers[1].peer", "warn"}}},
		{"gateway not ready yet", []state.Gateway{{Ref: gw, Status: validators.GatewayNotReady}},
			[]hit{
				{"export-needs-mesh-gateway", "spec.services[0].consumers[0].peer", "warn"},
				{"export-needs-mesh-gateway", "spec.services[0].consumers[1].peer", "warn"},
				{"consumer-peer-known", "spec.services[0].consumers[1].peer", "warn"},
			}},
		{"no gateway", nil,
			[]hit{
				{"export-needs-mesh-gateway", "spec.services[0].consumers[0].peer", "deny"},
				{"export-needs-mesh-gateway", "spec.services[0].consumers[1].peer", "deny"},
				{"consumer-peer-known", "spec.services[0].consumers[1].peer", "warn"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := []snapshot.Item{{Object: dialer("dc2"), File: "a.yaml"}, {Object: exportTo("DC2", "dc3"), File: "b.yaml"}}
			findings, err := snapshot.Check(mustEngine(t, validators.Config{}), items, tc.gateways)
			if err != nil {
				t.Fatal(err)
			}
			if len(findings) != 2 {
				t.Fatalf("%d findings, want one per item", len(findings))
			}
			if got := hits(findings[0]); len(got) != 0 {
				t.Errorf("dialer: %v", got)
			}
			es := findings[1]
			if es.Ref != (kinds.ObjectRef{Kind: kinds.ExportedServices, Namespace: "consul", Name: "default"}) || es.File != "b.yaml" {
				t.Errorf("finding names %v in %q", es.Ref, es.File)
			}
			if got := hits(es); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// Unknown fields found while reading lead the verdict, with the action --strict chose.
func TestCheckClusterReportsUnknownFieldsFirst(t *testing.T) {
	c := &manifest.Cluster{Set: manifest.Set{Objects: []manifest.Object{{
		Kind: kinds.PeeringDialer, Object: dialer("dc2"), Source: manifest.Source{File: "d.yaml", Document: 1},
		UnknownFields: []manifest.UnknownField{{Path: "spec.peer.Secret", Suggestion: "secret"}},
	}}}}
	for _, action := range []validators.Action{validators.Warn, validators.Deny, validators.Off} {
		prepared, err := snapshot.PrepareCluster(c, action, false)
		if err != nil {
			t.Fatal(err)
		}
		findings, err := prepared.Check()
		if err != nil {
			t.Fatal(err)
		}
		var want []hit
		if action != validators.Off {
			want = []hit{{snapshot.UnknownFieldRule, "spec.peer.Secret", string(action)}}
		}
		if got := hits(findings[0]); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", action, got, want)
		}
		if allowed := findings[0].Result.Allowed(); allowed != (action != validators.Deny) {
			t.Errorf("%s: allowed = %v", action, allowed)
		}
	}
}

func TestUnknownFieldViolations(t *testing.T) {
	got := snapshot.UnknownFieldViolations([]manifest.UnknownField{{Path: "spec.upstreamConfig.overrides[0].Peer", Suggestion: "peer"}}, validators.Warn)
	want := []validators.Violation{{Rule: snapshot.UnknownFieldRule, Action: validators.Warn, Error: &field.Error{
		Type: field.ErrorTypeForbidden, Field: "spec.upstreamConfig.overrides[0].Peer", BadValue: "",
		Detail: "unknown field \"Peer\", did you mean `peer`? Keys are case-sensitive: kubectl apply refuses it or the API server drops it (unknown-field)",
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got[0].Error, want[0].Error)
	}
}

// The Consul Helm chart runs the mesh gateway: a repository of config entries holds no
// Deployment for it. --mesh-gateway-installed (or the cluster file) counts it as ready.
func TestCheckClusterCountsAnInstalledGateway(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name     string
		flag     bool
		file     *bool
		wantDeny bool
	}{
		{"neither", false, nil, true},
		{"flag", true, nil, false},
		{"cluster file", false, &yes, false},
		{"cluster file overrides the flag", true, &no, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &manifest.Cluster{Settings: manifest.ClusterSettings{MeshGatewayInstalled: tc.file}, Set: manifest.Set{Objects: []manifest.Object{
				{Kind: kinds.PeeringDialer, Object: dialer("dc2")},
				{Kind: kinds.ExportedServices, Object: exportTo("dc2")},
			}}}
			prepared, err := snapshot.PrepareCluster(c, validators.Warn, tc.flag)
			if err != nil {
				t.Fatal(err)
			}
			findings, err := prepared.Check()
			if err != nil {
				t.Fatal(err)
			}
			var want []hit
			if tc.wantDeny {
				want = []hit{{"export-needs-mesh-gateway", "spec.services[0].consumers[0].peer", "deny"}}
			}
			if got := hits(findings[1]); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}
