package webhook_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// BenchmarkHandler measures our own time per review, from the HTTP body to the written
// response, for the allowed sample objects of the six kinds.
func BenchmarkHandler(b *testing.B) {
	f := newFixture(b, validators.Config{})
	f.idx.SetGateway(state.GatewayRef{Namespace: "consul", Name: "gw"}, validators.GatewayReady)
	d := &v1alpha1.PeeringDialer{}
	d.Name, d.Namespace = "dc2", "consul"
	f.idx.Upsert(d)
	type review struct {
		path string
		body []byte
	}
	var reviews []review
	for _, s := range framework.Samples(5) {
		if s.Allowed {
			reviews = append(reviews, review{webhook.Path(s.Kind), framework.ReviewBody(s.Kind, "CREATE", s.Object, "")})
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := reviews[i%len(reviews)]
		i++
		req := httptest.NewRequest(http.MethodPost, r.path, bytes.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		f.mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d", rec.Code)
		}
	}
}
