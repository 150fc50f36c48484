package webhook_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// gated serves the handlers behind a Gate exempting "restore", ready when ready is true.
func gated(t *testing.T, ready *atomic.Bool) (*http.ServeMux, *webhook.Gate, *prometheus.Registry) {
	t.Helper()
	engine, err := validators.NewEngine(validators.Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	gate := webhook.NewGate([]string{"restore", "break-glass"}, ready.Load, reg)
	mux := http.NewServeMux()
	for path, h := range webhook.Handlers(webhook.Deps{
		Engine: engine, State: state.NewIndex(), Log: logr.Discard(), Metrics: webhook.NewMetrics(reg), Gate: gate,
	}) {
		mux.Handle(path, h)
	}
	return mux, gate, reg
}

// proxyDefaultsReview is a review of a ProxyDefaults named name in namespace ns.
func proxyDefaultsReview(op, ns, name string) string {
	obj := `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ProxyDefaults","metadata":{"name":"` + name + `","namespace":"` + ns + `"},"spec":{}}`
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1",` +
		`"kind":{"group":"consul.hashicorp.com","version":"v1alpha1","kind":"ProxyDefaults"},` +
		`"resource":{"group":"consul.hashicorp.com","version":"v1alpha1","resource":"proxydefaults"},` +
		`"namespace":"` + ns + `","name":"` + name + `","operation":"` + op + `","userInfo":{"username":"alice"}`
	switch op {
	case "CREATE":
		body += `,"object":` + obj
	case "UPDATE":
		body += `,"object":` + obj + `,"oldObject":` + obj
	case "DELETE":
		body += `,"oldObject":` + obj
	}
	return body + `}}`
}

func postGated(t *testing.T, mux *http.ServeMux, body string) (int, *admissionv1.AdmissionResponse) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, webhook.Path(kinds.ProxyDefaults), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("HTTP %d, not a review: %s", rec.Code, rec.Body)
	}
	return rec.Code, out.Response
}

func TestGate(t *testing.T) {
	type want struct {
		allowed bool
		// code is the status code of the response's result; 0 for none.
		code int32
	}
	refused := want{allowed: false, code: http.StatusServiceUnavailable}
	invalid := want{allowed: false, code: http.StatusUnprocessableEntity}
	allowed := want{allowed: true}
	cases := []struct {
		name            string
		ready           bool
		op, ns, objName string
		want            want
		exempted        float64
	}{
		// "wrong" breaks proxy-defaults-name, a deny rule; "global" breaks none.
		{name: "ready: a violation is denied", ready: true, op: "CREATE", ns: "default", objName: "wrong", want: invalid},
		{name: "ready: a good object is allowed", ready: true, op: "CREATE", ns: "default", objName: "global", want: allowed},
		{name: "ready: exempt namespace skips the rules on create", ready: true, op: "CREATE", ns: "restore", objName: "wrong", want: allowed, exempted: 1},
		{name: "ready: exempt namespace skips the rules on update", ready: true, op: "UPDATE", ns: "break-glass", objName: "wrong", want: allowed, exempted: 1},
		{name: "ready: a namespace merely prefixed by an exempt one is checked", ready: true, op: "CREATE", ns: "restore-2", objName: "wrong", want: invalid},
		{name: "not synced: create refused with 503", ready: false, op: "CREATE", ns: "default", objName: "global", want: refused},
		{name: "not synced: update refused with 503", ready: false, op: "UPDATE", ns: "default", objName: "global", want: refused},
		{name: "not synced: delete still allowed", ready: false, op: "DELETE", ns: "default", objName: "global", want: allowed},
		{name: "not synced: exempt namespace still allowed", ready: false, op: "CREATE", ns: "restore", objName: "wrong", want: allowed, exempted: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ready atomic.Bool
			ready.Store(tc.ready)
			mux, _, reg := gated(t, &ready)
			code, resp := postGated(t, mux, proxyDefaultsReview(tc.op, tc.ns, tc.objName))
			if code != http.StatusOK {
				t.Fatalf("HTTP %d: a verdict or refusal is an AdmissionResponse with 200", code)
			}
			var gotCode int32
			if resp.Result != nil {
				gotCode = resp.Result.Code
			}
			if got := (want{allowed: resp.Allowed, code: gotCode}); got != tc.want {
				t.Fatalf("got %+v, want %+v (%+v)", got, tc.want, resp.Result)
			}
			if tc.want == refused && resp.Result.Message != webhook.NotSyncedMessage {
				t.Errorf("message %q, want %q", resp.Result.Message, webhook.NotSyncedMessage)
			}
			if tc.want == refused && resp.Result.Reason != "ServiceUnavailable" {
				t.Errorf("reason %q, want ServiceUnavailable", resp.Result.Reason)
			}
			if got := exemptedCount(t, reg); got != tc.exempted {
				t.Errorf("admission_exempted_total %v, want %v", got, tc.exempted)
			}
		})
	}
}

func exemptedCount(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != "consul_peering_guard_admission_exempted_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// The gate follows readiness as it changes: refused before the sync, judged after.
func TestGateOpensOnceSynced(t *testing.T) {
	var ready atomic.Bool
	mux, gate, reg := gated(t, &ready)
	if _, resp := postGated(t, mux, proxyDefaultsReview("CREATE", "default", "global")); resp.Allowed {
		t.Fatal("allowed before the sync")
	}
	ready.Store(true)
	if _, resp := postGated(t, mux, proxyDefaultsReview("CREATE", "default", "global")); !resp.Allowed {
		t.Fatalf("refused after the sync: %+v", resp.Result)
	}
	if got := gate.ExemptNamespaces(); strings.Join(got, ",") != "break-glass,restore" {
		t.Errorf("ExemptNamespaces() = %v", got)
	}
	if n := exemptedCount(t, reg); n != 0 {
		t.Errorf("admission_exempted_total %v without an exempt review", n)
	}
}

// A nil Gate lets every review reach the rules.
func TestNilGate(t *testing.T) {
	var g *webhook.Gate
	if resp := g.Check(kinds.Mesh, admissionv1.Create, "restore"); resp != nil {
		t.Fatalf("nil gate answered %+v", resp)
	}
}
