package measure

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

func TestPercentiles(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	p50, p99 := Percentiles(lat)
	if p50 != 50*time.Millisecond || p99 != 99*time.Millisecond {
		t.Fatalf("p50, p99 = %s, %s; want 50ms, 99ms", p50, p99)
	}
	if p50, p99 := Percentiles([]time.Duration{time.Second}); p50 != time.Second || p99 != time.Second {
		t.Fatalf("one sample: %s, %s", p50, p99)
	}
	if p50, p99 := Percentiles(nil); p50 != 0 || p99 != 0 {
		t.Fatalf("no samples: %s, %s", p50, p99)
	}
}

func TestMergeAddsRuns(t *testing.T) {
	m := Merge([]Result{
		{N: 2, Errors: 1, Lat: []time.Duration{time.Millisecond, 3 * time.Millisecond}, Took: time.Second},
		{N: 1, Lat: []time.Duration{2 * time.Millisecond}, Took: time.Second},
	})
	if m.N != 3 || m.Errors != 1 || m.RPS != 1.5 || m.P50 != 2*time.Millisecond {
		t.Fatalf("merged %+v", m)
	}
}

func TestFloorAllowsWhatItDecodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(Floor))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&review); err != nil {
		t.Fatal(err)
	}
	if review.Response == nil || !review.Response.Allowed || review.Response.UID != "u-1" || review.Request != nil {
		t.Fatalf("response %+v", review)
	}
	bad, err := http.Post(srv.URL, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = bad.Body.Close()
	if bad.StatusCode != http.StatusBadRequest {
		t.Fatalf("a body without a request: HTTP %d, want 400", bad.StatusCode)
	}
}
