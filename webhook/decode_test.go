package webhook_test

import (
	"net/http"
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

// A field of the wrong type is answered as a review (400) naming the field from the review's
// root, in the object or the old object, as the API server's own decoding errors do.
func TestTypeMismatchNamesTheFieldFromTheReview(t *testing.T) {
	f := newFixture(t, validators.Config{})
	good := serviceDefaults("web", `[]`)
	for name, tc := range map[string]struct {
		op, obj, old, want string
	}{
		"in the object": {"CREATE", serviceDefaults("web", `5`), "",
			"field request.object.spec.upstreamConfig.overrides: cannot use a JSON number as []*v1alpha1.Upstream"},
		"in the old object": {"UPDATE", good, serviceDefaults("web", `[{"name":7}]`),
			"field request.oldObject.spec.upstreamConfig.overrides.name: cannot use a JSON number as string"},
		"the object itself": {"CREATE", `"web"`, "",
			"field request.object: cannot use a JSON string as v1alpha1.ServiceDefaults"},
	} {
		t.Run(name, func(t *testing.T) {
			code, resp := f.review(t, kinds.ServiceDefaults, tc.op, tc.obj, tc.old)
			if code != http.StatusOK || resp == nil || resp.UID != "u-1" || resp.Allowed {
				t.Fatalf("HTTP %d, %+v: want a refused review of u-1", code, resp)
			}
			if resp.Result.Code != http.StatusBadRequest || resp.Result.Message != tc.want {
				t.Errorf("got %d %q\nwant 400 %q", resp.Result.Code, resp.Result.Message, tc.want)
			}
		})
	}
}
