package webhook_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// answerWithin is how long one review may take before the handler counts as stalled. The
// slowest review below takes well under a second without -race; the bound leaves room for
// -race and a loaded machine while still catching a hang or a quadratic blow-up.
const answerWithin = 20 * time.Second

// serveWithin posts body to the kind's path and fails the test when no answer comes within d.
// It runs the handler on its own goroutine so a stalled input is reported, not waited for.
func serveWithin(t *testing.T, fx *fixture, kind kinds.Kind, body string, d time.Duration) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, webhook.Path(kind), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fx.mux.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
		return rec
	case <-time.After(d):
		t.Fatalf("no answer within %v to a %d-byte %s review", d, len(body), kind)
		return nil
	}
}

// The largest reviews the API server can send (an object and its old version of about
// 1.5 MiB each), shaped to make every rule work hardest: tens of thousands of list elements
// that each violate several rules, duplicates, unknown proxy config keys, escape hatches
// nested or wide, a name of a million characters. Each is answered in time, on the update
// path that also re-checks the stored object to ratchet.
func TestLargestReviewsAreAnsweredInTime(t *testing.T) {
	fx := newFixture(t, validators.Config{})
	// Under -race (make unit) a quarter of the size keeps the test short; the work is linear,
	// so a stall or a quadratic blow-up still shows.
	scale := 1
	if raceDetector {
		scale = 4
	}
	list := func(elem string, n int) string {
		return strings.TrimSuffix(strings.Repeat(elem+",", n/scale), ",")
	}
	obj := func(kind, name, spec string) string {
		return `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"` + kind + `","metadata":{"name":"` + name + `","namespace":"default"},"spec":` + spec + `}`
	}
	var keys strings.Builder
	for i := 0; i < 25000/scale; i++ {
		if i > 0 {
			keys.WriteString(",")
		}
		fmt.Fprintf(&keys, `"local_connect_timeout_m%d":"x"`, i)
	}
	for name, tc := range map[string]struct {
		kind kinds.Kind
		obj  string
	}{
		"identical peer overrides with mode none": {kinds.ServiceDefaults, obj("ServiceDefaults", "web",
			`{"upstreamConfig":{"overrides":[`+list(`{"name":"a","peer":"p","meshGateway":{"mode":"none"}}`, 25000)+`]}}`)},
		"overrides breaking four rules each": {kinds.ServiceDefaults, obj("ServiceDefaults", "web",
			`{"upstreamConfig":{"overrides":[`+list(`{"name":"a","peer":"B_","partition":"x","namespace":"*"}`, 25000)+`]}}`)},
		"consumers breaking four rules each": {kinds.ExportedServices, obj("ExportedServices", "default",
			`{"services":[{"name":"*","namespace":"x","consumers":[`+list(`{"peer":"x_","partition":"*","samenessGroup":"*"}`, 25000)+`]}]}`)},
		"services exporting consul to unknown peers": {kinds.ExportedServices, obj("ExportedServices", "default",
			`{"services":[`+list(`{"name":"consul","consumers":[{"peer":"x"}]}`, 30000)+`]}`)},
		"unknown proxy config keys near known ones": {kinds.ProxyDefaults, obj("ProxyDefaults", "global", `{"config":{`+keys.String()+`}}`)},
		"escape hatch nested a million deep": {kinds.ProxyDefaults, obj("ProxyDefaults", "global",
			`{"config":{"envoy_extra_static_clusters_json":"`+strings.Repeat("[", 1<<20/scale)+`"}}`)},
		"escape hatch with half a million elements": {kinds.ProxyDefaults, obj("ProxyDefaults", "global",
			`{"config":{"envoy_extra_static_clusters_json":"[`+list(`{}`, 500000)+`]"}}`)},
		"peer name of a million characters": {kinds.PeeringDialer, obj("PeeringDialer", strings.Repeat("a-", 1<<19/scale),
			`{"peer":{"secret":{"name":"a","key":"b","backend":"kubernetes"}}}`)},
	} {
		t.Run(name, func(t *testing.T) {
			if len(tc.obj) > 3<<19 {
				t.Fatalf("%d bytes: larger than the API server accepts", len(tc.obj))
			}
			body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-big","operation":"UPDATE",` +
				`"kind":{"group":"consul.hashicorp.com","version":"v1alpha1","kind":"` + string(tc.kind) + `"},"object":` + tc.obj + `,"oldObject":` + tc.obj + `}}`
			start := time.Now()
			rec := serveWithin(t, fx, tc.kind, body, answerWithin)
			if rec.Code != http.StatusOK {
				t.Fatalf("HTTP %d: %s", rec.Code, rec.Body.String())
			}
			t.Logf("%d bytes answered in %v", len(body), time.Since(start))
		})
	}
}
