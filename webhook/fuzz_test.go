package webhook_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// fuzzAnswerWithin bounds the handler's time on one fuzz input. The fuzzer has no
// per-input timeout of its own: an input that stalled the handler would stall the run with
// no report. With this bound it fails, and the input is saved under testdata/fuzz.
const fuzzAnswerWithin = 10 * time.Second

// FuzzAdmissionReview posts arbitrary bodies to every path of the handler: each gets an
// answer (an HTTP error or a review response) within fuzzAnswerWithin, never a panic. Seeds
// are the examples wrapped into AdmissionReviews for their kind's path.
//
// A run once stopped making progress for minutes under load. No input was found that stalls
// the handler: decoding, every rule and the ratchet are linear in the body, whose size is
// bounded (7 MiB), and the largest reviews the API server can send are answered in well
// under a second (TestLargestReviewsAreAnsweredInTime). What stalls under load is the fuzzing
// engine itself: minimizing a new interesting input runs for up to -fuzzminimizetime (60s
// by default) per input with no exec count shown, and its workers share two cores with
// whatever else runs. make fuzz bounds minimization to 10s.
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
		for i, k := range kinds.Consul {
			if string(k) == head.Kind {
				f.Add(uint8(i), reviewBody(head.Kind, "CREATE", string(js)))
				f.Add(uint8(i), strings.Replace(reviewBody(head.Kind, "UPDATE", string(js)), `"object":`, `"oldObject":`+string(js)+`,"object":`, 1))
			}
		}
	}
	f.Add(uint8(0), `{"request":null}`)
	fx := newFixture(f, validators.Config{})
	f.Fuzz(func(t *testing.T, kindIndex uint8, body string) {
		kind := kinds.Consul[int(kindIndex)%len(kinds.Consul)]
		rec := serveWithin(t, fx, kind, body, fuzzAnswerWithin)
		if rec.Code == http.StatusOK {
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
				t.Fatalf("200 without a review response: %q", rec.Body.String())
			}
		}
	})
}
