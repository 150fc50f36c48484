package reliability

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

func nested(depth int) string {
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

func sdWith(spec string) string {
	return `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ServiceDefaults","metadata":{"name":"web","namespace":"default"},"spec":` + spec + `}`
}

func pdWith(spec string) string {
	return `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ProxyDefaults","metadata":{"name":"global","namespace":"default"},"spec":` + spec + `}`
}

// Every bad request gets a clear answer (an HTTP 4xx, or a review refused with a 4xx code
// or with a denial naming the field), never a panic or a hang, and the server keeps serving.
func TestBadInputGetsClearAnswers(t *testing.T) {
	w, _ := startGuard(t)
	c := framework.TLSClient(ca.CertPEM, true)
	c.Timeout = 30 * time.Second
	sd := base(w) + webhook.Path(kinds.ServiceDefaults)
	pd := base(w) + webhook.Path(kinds.ProxyDefaults)

	var dup strings.Builder
	dup.WriteString(`{"upstreamConfig":{"overrides":[`)
	for i := 0; i < 10000; i++ {
		if i > 0 {
			dup.WriteString(",")
		}
		fmt.Fprintf(&dup, `{"name":"api-%d","peer":"dc2"}`, i%5000)
	}
	dup.WriteString(`]}}`)

	type want struct {
		httpStatus int    // exact HTTP status, or 0 for "a 200 carrying a refusal"
		field      string // a denial must name this field
		rule       string
		code       int32 // the refusal's result code when field is empty
	}
	cases := map[string]struct {
		url, contentType string
		body             []byte
		want             want
	}{
		"malformed JSON":        {sd, "application/json", []byte(`{"request":{`), want{httpStatus: http.StatusBadRequest}},
		"wrong content type":    {sd, "application/xml", framework.ReviewBody(kinds.ServiceDefaults, "CREATE", sdWith(`{}`), ""), want{httpStatus: http.StatusUnsupportedMediaType}},
		"review of v2":          {sd, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview","request":{"uid":"1"}}`), want{httpStatus: http.StatusBadRequest}},
		"missing object":        {sd, "application/json", framework.ReviewBody(kinds.ServiceDefaults, "CREATE", "", ""), want{code: http.StatusBadRequest}},
		"null object":           {sd, "application/json", framework.ReviewBody(kinds.ServiceDefaults, "CREATE", "null", ""), want{code: http.StatusBadRequest}},
		"another kind":          {sd, "application/json", framework.ReviewBody(kinds.ServiceDefaults, "CREATE", pdWith(`{}`), ""), want{code: http.StatusBadRequest}},
		"mode is a number":      {pd, "application/json", framework.ReviewBody(kinds.ProxyDefaults, "CREATE", pdWith(`{"meshGateway":{"mode":3}}`), ""), want{code: http.StatusBadRequest}},
		"overrides is a map":    {sd, "application/json", framework.ReviewBody(kinds.ServiceDefaults, "CREATE", sdWith(`{"upstreamConfig":{"overrides":{}}}`), ""), want{code: http.StatusBadRequest}},
		"10,000 overrides":      {sd, "application/json", framework.ReviewBody(kinds.ServiceDefaults, "CREATE", sdWith(dup.String()), ""), want{field: "spec.upstreamConfig.overrides[5000]", rule: "upstream-duplicate"}},
		"deeply nested config":  {pd, "application/json", framework.ReviewBody(kinds.ProxyDefaults, "CREATE", pdWith(`{"config":`+nested(20000)+`}`), ""), want{httpStatus: http.StatusBadRequest}},
		"moderately nested cfg": {pd, "application/json", framework.ReviewBody(kinds.ProxyDefaults, "CREATE", pdWith(`{"meshGateway":{"mode":"bogus"},"config":`+nested(500)+`}`), ""), want{field: "spec.meshGateway.mode", rule: "gateway-mode-valid"}},
		"body over the limit":   {sd, "application/json", bytes.Repeat([]byte(" "), webhook.MaxRequestBytes+1), want{httpStatus: http.StatusRequestEntityTooLarge}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			status, resp, err := framework.PostRaw(c, tc.url, tc.contentType, tc.body)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("answer took %s", took)
			}
			switch {
			case tc.want.httpStatus != 0:
				if status != tc.want.httpStatus && (resp == nil || resp.Allowed || resp.Result == nil || resp.Result.Code != int32(tc.want.httpStatus)) {
					t.Fatalf("HTTP %d, response %+v; want %d", status, resp, tc.want.httpStatus)
				}
			case tc.want.field != "":
				if status != http.StatusOK || resp == nil || resp.Allowed || resp.Result.Details == nil {
					t.Fatalf("HTTP %d, response %+v", status, resp)
				}
				found := false
				for _, cause := range resp.Result.Details.Causes {
					if cause.Field == tc.want.field && strings.HasSuffix(cause.Message, "("+tc.want.rule+")") {
						found = true
					}
				}
				if !found {
					t.Errorf("no cause %s (%s) among %d causes", tc.want.field, tc.want.rule, len(resp.Result.Details.Causes))
				}
			default:
				if status != http.StatusOK || resp == nil || resp.Allowed || resp.Result == nil || resp.Result.Code != tc.want.code || resp.Result.Message == "" {
					t.Fatalf("HTTP %d, response %+v; want a refusal with code %d and a message", status, resp, tc.want.code)
				}
			}
		})
	}
	// Still serving, and still judging correctly.
	for _, s := range framework.Samples(1) {
		_, resp, err := framework.PostReview(c, base(w), s.Kind, framework.ReviewBody(s.Kind, "CREATE", s.Object, ""))
		if err != nil || resp == nil || resp.Allowed != s.Allowed {
			t.Fatalf("after bad input, %s: err %v, response %+v, want allowed=%v", s.Kind, err, resp, s.Allowed)
		}
	}
	select {
	case <-w.Exited():
		t.Fatalf("the webhook exited: %v", w.ExitErr())
	default:
	}
}
