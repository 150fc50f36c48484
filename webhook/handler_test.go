package webhook_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

type fixture struct {
	idx     *state.Index
	mux     *http.ServeMux
	metrics *prometheus.Registry
}

func newFixture(t testing.TB, cfg validators.Config) *fixture {
	t.Helper()
	engine, err := validators.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{idx: state.NewIndex(), mux: http.NewServeMux(), metrics: prometheus.NewRegistry()}
	for path, wh := range webhook.Handlers(webhook.Deps{
		Engine: engine, State: f.idx, Log: logr.Discard(), Metrics: webhook.NewMetrics(f.metrics),
	}) {
		f.mux.Handle(path, wh)
	}
	return f
}

// review posts an AdmissionReview and returns the HTTP status and decoded response.
func (f *fixture) review(t *testing.T, kind kinds.Kind, op string, obj, old string) (int, *admissionv1.AdmissionResponse) {
	t.Helper()
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1",` +
		`"kind":{"group":"consul.hashicorp.com","version":"v1alpha1","kind":"` + string(kind) + `"},` +
		`"resource":{"group":"consul.hashicorp.com","version":"v1alpha1","resource":"` + kinds.Plural(kind) + `"},` +
		`"operation":"` + op + `","userInfo":{"username":"alice"}`
	if obj != "" {
		body += `,"object":` + obj
	}
	if old != "" {
		body += `,"oldObject":` + old
	}
	body += `}}`
	return f.post(t, webhook.Path(kind), "application/json", body)
}

func (f *fixture) post(t *testing.T, path, contentType, body string) (int, *admissionv1.AdmissionResponse) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, req)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		return rec.Code, nil
	}
	return rec.Code, out.Response
}

func causes(resp *admissionv1.AdmissionResponse) map[string]string {
	out := map[string]string{}
	if resp.Result == nil || resp.Result.Details == nil {
		return out
	}
	for _, c := range resp.Result.Details.Causes {
		out[c.Field] = c.Message
	}
	return out
}

func serviceDefaults(name, overrides string) string {
	return `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ServiceDefaults","metadata":{"name":"` + name +
		`","namespace":"default"},"spec":{"upstreamConfig":{"overrides":` + overrides + `}}}`
}

func TestDenialIsInvalidWithOneCausePerViolation(t *testing.T) {
	f := newFixture(t, validators.Config{})
	obj := serviceDefaults("web", `[{"name":"api","peer":"dc2","meshGateway":{"mode":"none"}},{"peer":"dc2"}]`)
	code, resp := f.review(t, kinds.ServiceDefaults, "CREATE", obj, "")
	if code != http.StatusOK || resp == nil {
		t.Fatalf("HTTP %d", code)
	}
	if resp.Allowed || resp.Result.Code != http.StatusUnprocessableEntity || resp.Result.Reason != "Invalid" {
		t.Fatalf("want 422 Invalid, got allowed=%v %+v", resp.Allowed, resp.Result)
	}
	got := causes(resp)
	for field, rule := range map[string]string{
		"spec.upstreamConfig.overrides[0].meshGateway.mode": "gateway-mode-none-peer-upstream",
		"spec.upstreamConfig.overrides[1].name":             "upstream-name-required",
	} {
		if !strings.HasSuffix(got[field], "("+rule+")") {
			t.Errorf("cause %s = %q, want rule %s", field, got[field], rule)
		}
	}
	// upstream-peer-known is a warning: no PeeringDialer dc2 exists.
	if len(resp.Warnings) == 0 || !strings.HasSuffix(resp.Warnings[0], "(upstream-peer-known)") {
		t.Errorf("warnings %v", resp.Warnings)
	}
	for _, w := range resp.Warnings {
		if len(w) > validators.MaxWarningLength {
			t.Errorf("warning longer than %d: %q", validators.MaxWarningLength, w)
		}
	}
}

func TestAllowedObjectCarriesWarningsOnly(t *testing.T) {
	f := newFixture(t, validators.Config{NamespacesEnabled: true})
	code, resp := f.review(t, kinds.ServiceDefaults, "CREATE", serviceDefaults("web", `[{"name":"api","peer":"dc2","namespace":"default"}]`), "")
	if code != http.StatusOK || resp == nil || !resp.Allowed {
		t.Fatalf("HTTP %d, %+v", code, resp)
	}
	joined := strings.Join(resp.Warnings, "\n")
	for _, rule := range []string{"upstream-peer-known", "upstream-namespace-default-redundant"} {
		if !strings.Contains(joined, "("+rule+")") {
			t.Errorf("missing warning of %s in %q", rule, joined)
		}
	}
}

func peeringDialer(name string) string {
	return `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"PeeringDialer","metadata":{"name":"` + name +
		`","namespace":"consul"},"spec":{"peer":{"secret":{"name":"t","key":"data","backend":"kubernetes"}}}}`
}

func TestStateRulesReadTheIndex(t *testing.T) {
	f := newFixture(t, validators.Config{})
	pd := `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ProxyDefaults","metadata":{"name":"global","namespace":"consul"},"spec":{"meshGateway":{"mode":"none"}}}`
	if _, resp := f.review(t, kinds.ProxyDefaults, "CREATE", pd, ""); resp == nil || !resp.Allowed {
		t.Fatalf("mode none without peering should be allowed: %+v", resp)
	}
	dialer := mustDecode(t, peeringDialer("dc2"))
	f.idx.Upsert(dialer)
	_, resp := f.review(t, kinds.ProxyDefaults, "CREATE", pd, "")
	if resp == nil || resp.Allowed || !strings.HasSuffix(causes(resp)["spec.meshGateway.mode"], "(gateway-mode-none-with-peering)") {
		t.Fatalf("mode none with a peer should be denied: %+v", resp)
	}
	// On UPDATE an old violation caused by unrelated state is only a warning...
	pdLabelled := strings.Replace(pd, `"namespace":"consul"`, `"namespace":"consul","labels":{"team":"mesh"}`, 1)
	_, resp = f.review(t, kinds.ProxyDefaults, "UPDATE", pdLabelled, pd)
	if resp == nil || !resp.Allowed || !strings.Contains(strings.Join(resp.Warnings, ""), "(gateway-mode-none-with-peering)") {
		t.Fatalf("pre-existing violation on update should warn: %+v", resp)
	}
	// ...but introducing it is denied.
	pdRemote := strings.Replace(pd, `"none"`, `"remote"`, 1)
	_, resp = f.review(t, kinds.ProxyDefaults, "UPDATE", pd, pdRemote)
	if resp == nil || resp.Allowed {
		t.Fatalf("new violation on update should be denied: %+v", resp)
	}
}

func mustDecode(t *testing.T, js string) runtime.Object {
	t.Helper()
	obj, _, err := serializerFor().Decode([]byte(js), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestDeleteIsAlwaysAllowed(t *testing.T) {
	f := newFixture(t, validators.Config{})
	bad := serviceDefaults("web", `[{"peer":"NOT_VALID","meshGateway":{"mode":"none"}}]`)
	_, resp := f.review(t, kinds.ServiceDefaults, "DELETE", "", bad)
	if resp == nil || !resp.Allowed {
		t.Fatalf("delete denied: %+v", resp)
	}
}

func TestBadRequestsGetClearAnswers(t *testing.T) {
	f := newFixture(t, validators.Config{})
	sdPath := webhook.Path(kinds.ServiceDefaults)
	cases := map[string]struct {
		path, contentType, body string
		wantHTTP                int
		wantCode                int32
		wantMsg                 string
	}{
		"malformed JSON":    {sdPath, "application/json", `{"request":`, http.StatusBadRequest, http.StatusBadRequest, "malformed"},
		"wrong content":     {sdPath, "text/plain", `{}`, http.StatusUnsupportedMediaType, http.StatusUnsupportedMediaType, "application/json"},
		"wrong version":     {sdPath, "application/json", `{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"1"}}`, http.StatusBadRequest, http.StatusBadRequest, "AdmissionReview"},
		"no request":        {sdPath, "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest, http.StatusBadRequest, "with a request"},
		"body over limit":   {sdPath, "application/json", strings.Repeat(" ", webhook.MaxRequestBytes+1), http.StatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge, "too large"},
		"missing object":    {sdPath, "application/json", reviewBody("ServiceDefaults", "CREATE", ""), http.StatusOK, http.StatusBadRequest, "no content"},
		"null object":       {sdPath, "application/json", reviewBody("ServiceDefaults", "CREATE", "null"), http.StatusOK, http.StatusBadRequest, "no content"},
		"another kind":      {sdPath, "application/json", reviewBody("PeeringDialer", "CREATE", peeringDialer("dc2")), http.StatusOK, http.StatusBadRequest, "PeeringDialer"},
		"mode is a number":  {webhook.Path(kinds.ProxyDefaults), "application/json", reviewBody("ProxyDefaults", "CREATE", `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ProxyDefaults","metadata":{"name":"global"},"spec":{"meshGateway":{"mode":3}}}`), http.StatusOK, http.StatusBadRequest, "mode"},
		"overrides object":  {sdPath, "application/json", reviewBody("ServiceDefaults", "CREATE", `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ServiceDefaults","metadata":{"name":"web"},"spec":{"upstreamConfig":{"overrides":{}}}}`), http.StatusOK, http.StatusBadRequest, "overrides"},
		"unknown operation": {sdPath, "application/json", reviewBody("ServiceDefaults", "PATCH", serviceDefaults("web", "[]")), http.StatusOK, http.StatusBadRequest, "PATCH"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, resp := f.post(t, tc.path, tc.contentType, tc.body)
			if code != tc.wantHTTP {
				t.Fatalf("HTTP %d, want %d", code, tc.wantHTTP)
			}
			if resp == nil || resp.Allowed || resp.Result == nil || resp.Result.Code != tc.wantCode {
				t.Fatalf("response %+v, want a refusal with code %d", resp, tc.wantCode)
			}
			if !strings.Contains(resp.Result.Message, tc.wantMsg) {
				t.Errorf("message %q does not mention %q", resp.Result.Message, tc.wantMsg)
			}
		})
	}
	if n := metricSum(t, f.metrics, "consul_peering_guard_admission_errors_total", nil); n == 0 {
		t.Error("bad requests were not counted in consul_peering_guard_admission_errors_total")
	}
	// The handler keeps serving after all of that.
	if _, resp := f.review(t, kinds.ServiceDefaults, "CREATE", serviceDefaults("web", `[{"name":"api"}]`), ""); resp == nil || !resp.Allowed {
		t.Fatalf("valid request after bad ones: %+v", resp)
	}
}

func reviewBody(kind, op, obj string) string {
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-2","operation":"` + op +
		`","kind":{"group":"consul.hashicorp.com","version":"v1alpha1","kind":"` + kind + `"}`
	if obj != "" {
		body += `,"object":` + obj
	}
	return body + `}}`
}

func TestMetricsCountDecisions(t *testing.T) {
	f := newFixture(t, validators.Config{})
	f.review(t, kinds.ServiceDefaults, "CREATE", serviceDefaults("web", `[{"name":"api","peer":"dc2","meshGateway":{"mode":"none"}}]`), "")
	sd := map[string]string{"kind": "ServiceDefaults", "operation": "CREATE"}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"consul_peering_guard_admission_reviews_total", with(sd, "verdict", "denied"), 1},
		{"consul_peering_guard_admission_reviews_total", with(sd, "verdict", "allowed"), 0},
		{"consul_peering_guard_rule_violations_total", with(with(sd, "rule", "gateway-mode-none-peer-upstream"), "action", "deny"), 1},
		{"consul_peering_guard_rule_violations_total", with(with(sd, "rule", "upstream-peer-known"), "action", "warn"), 1},
		{"consul_peering_guard_rule_violations_total", with(with(sd, "rule", "gateway-mode-valid"), "action", "deny"), 0},
		{"consul_peering_guard_admission_duration_seconds", sd, 1},
		{"consul_peering_guard_admission_duration_seconds", map[string]string{"kind": "Mesh", "operation": "UPDATE"}, 0},
	} {
		if got := metricSum(t, f.metrics, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}
