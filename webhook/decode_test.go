package webhook_test

import (
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// The webhook decodes the reviewed object as the API server does: keys match case-sensitively,
// so a mis-cased key is no field at all (the API server would have pruned it) and cannot make a
// rule fire. With encoding/json, "Peer" would read as peer and "MeshGateway" as meshGateway.
func TestObjectKeysMatchCaseSensitively(t *testing.T) {
	f := newFixture(t, validators.Config{})
	cases := map[string]struct {
		kind      kinds.Kind
		obj       string
		wantAllow bool
	}{
		"peer spelled right, mode none": {kinds.ServiceDefaults,
			serviceDefaults("web", `[{"name":"api","peer":"dc2","meshGateway":{"mode":"none"}}]`), false},
		"Peer mis-cased is no peer": {kinds.ServiceDefaults,
			serviceDefaults("web", `[{"name":"api","Peer":"dc2","meshGateway":{"mode":"none"}}]`), true},
		"meshGateway spelled right, bad mode": {kinds.ProxyDefaults,
			`{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ProxyDefaults","metadata":{"name":"global","namespace":"default"},"spec":{"meshGateway":{"mode":"bogus"}}}`, false},
		"MeshGateway mis-cased is no meshGateway": {kinds.ProxyDefaults,
			`{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ProxyDefaults","metadata":{"name":"global","namespace":"default"},"spec":{"MeshGateway":{"Mode":"bogus"}}}`, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, resp := f.review(t, tc.kind, "CREATE", tc.obj, "")
			if resp == nil {
				t.Fatal("no admission response")
			}
			if resp.Allowed != tc.wantAllow {
				t.Errorf("allowed = %v, want %v: %+v", resp.Allowed, tc.wantAllow, resp.Result)
			}
		})
	}
}
