package webhook_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// FuzzAdmissionReview posts arbitrary bodies to every path of the handler: each gets an
// answer (an HTTP error or a review response), never a panic. Seeds are the examples
// wrapped into AdmissionReviews for their kind's path.
func FuzzAdmissionReview(f *testing.F) {
	files, _ := filepath.Glob("../examples/*/*/*.yaml")
	more, _ := filepath.Glob("../examples/*/*.yaml")
	for _, p := range append(files, more...) {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			continue
		}
		var head struct{ Kind string }
		if json.Unmarshal(js, &head) != nil {
			continue
		}
		for i, k := range validators.Kinds {
			if string(k) == head.Kind {
				f.Add(uint8(i), reviewBody(head.Kind, "CREATE", string(js)))
				f.Add(uint8(i), strings.Replace(reviewBody(head.Kind, "UPDATE", string(js)), `"object":`, `"oldObject":`+string(js)+`,"object":`, 1))
			}
		}
	}
	f.Add(uint8(0), `{"request":null}`)
	fx := newFixture(f, validators.Config{})
	f.Fuzz(func(t *testing.T, kindIndex uint8, body string) {
		kind := validators.Kinds[int(kindIndex)%len(validators.Kinds)]
		req := httptest.NewRequest(http.MethodPost, webhook.Path(kind), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		fx.mux.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
				t.Fatalf("200 without a review response: %q", rec.Body.String())
			}
		}
	})
}
