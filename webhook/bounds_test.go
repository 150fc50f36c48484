package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// duplicateOverrides is the object of issue 18: n copies of {"name":"a"}, every one after
// the first a denial of upstream-duplicate.
func duplicateOverrides(n int) string {
	return serviceDefaults("web", "["+strings.TrimSuffix(strings.Repeat(`{"name":"a"},`, n), ",")+"]")
}

func TestThousandsOfDenialsAreAnsweredQuicklyWithBoundedCauses(t *testing.T) {
	f := newFixture(t, validators.Config{})
	start := time.Now()
	code, resp := f.review(t, kinds.ServiceDefaults, "CREATE", duplicateOverrides(32000), "")
	took := time.Since(start)
	if code != http.StatusOK || resp == nil || resp.Allowed || resp.Result.Code != http.StatusUnprocessableEntity || resp.Result.Reason != "Invalid" {
		t.Fatalf("HTTP %d, want a 422 Invalid: %+v", code, resp)
	}
	// Issue 18 measured 5 s and more through the API server; linear work takes a fraction.
	if took > 2*time.Second {
		t.Errorf("answered in %s", took)
	}
	d := resp.Result.Details
	if d == nil || d.Kind != "ServiceDefaults" || d.Group != "consul.hashicorp.com" || d.Name != "web" {
		t.Fatalf("details %+v", d)
	}
	if len(d.Causes) != webhook.MaxCauses {
		t.Fatalf("%d causes, want %d", len(d.Causes), webhook.MaxCauses)
	}
	for i, c := range d.Causes[:webhook.MaxCauses-1] {
		if want := fmt.Sprintf("spec.upstreamConfig.overrides[%d]", i+1); c.Field != want || !strings.HasSuffix(c.Message, "(upstream-duplicate)") || c.Type != "FieldValueDuplicate" {
			t.Errorf("cause %d = %+v, want a duplicate at %s by upstream-duplicate", i, c, want)
		}
	}
	last := d.Causes[webhook.MaxCauses-1]
	// The engine keeps MaxViolationsPerRule duplicates and one more counting the rest.
	if want := fmt.Sprintf("%d more denials", validators.MaxViolationsPerRule+1-(webhook.MaxCauses-1)); last.Field != "" || last.Type != "FieldValueTooMany" || !strings.HasPrefix(last.Message, want) {
		t.Errorf("last cause %+v, want one saying %q", last, want)
	}
	msg := resp.Result.Message
	if !strings.HasPrefix(msg, `ServiceDefaults.consul.hashicorp.com "web" is invalid: [spec.upstreamConfig.overrides[1]: Duplicate value: `) ||
		!strings.HasSuffix(msg, last.Message+"]") {
		t.Errorf("message %q", msg)
	}
	if len(msg) > 8<<10 {
		t.Errorf("message of %d bytes", len(msg))
	}
}

func TestOneDenialMessageHasNoBrackets(t *testing.T) {
	f := newFixture(t, validators.Config{})
	_, resp := f.review(t, kinds.ServiceDefaults, "CREATE", duplicateOverrides(2), "")
	if resp == nil || resp.Allowed || len(resp.Result.Details.Causes) != 1 {
		t.Fatalf("%+v", resp)
	}
	c := resp.Result.Details.Causes[0]
	if want := `ServiceDefaults.consul.hashicorp.com "web" is invalid: ` + c.Field + ": " + c.Message; resp.Result.Message != want {
		t.Errorf("message %q, want %q", resp.Result.Message, want)
	}
}

func TestLongValuesAreClippedInCauses(t *testing.T) {
	f := newFixture(t, validators.Config{})
	long := strings.Repeat("é", 50000)
	obj := serviceDefaults("web", `[{"name":"api","peer":"dc2","meshGateway":{"mode":"`+long+`"}}]`)
	_, resp := f.review(t, kinds.ServiceDefaults, "CREATE", obj, "")
	if resp == nil || resp.Allowed {
		t.Fatalf("%+v", resp)
	}
	clipped := false
	for _, c := range resp.Result.Details.Causes {
		if len(c.Message) > 512 || !utf8.ValidString(c.Message) || !strings.HasSuffix(c.Message, ")") {
			t.Errorf("cause of %d bytes: %.200q", len(c.Message), c.Message)
		}
		if c.Field == "spec.upstreamConfig.overrides[0].meshGateway.mode" && strings.HasSuffix(c.Message, "… (gateway-mode-valid)") {
			clipped = true
		}
	}
	if !clipped {
		t.Errorf("no clipped cause of gateway-mode-valid at the mode among %+v", resp.Result.Details.Causes)
	}
	if len(resp.Result.Message) > 4<<10 {
		t.Errorf("message of %d bytes", len(resp.Result.Message))
	}
}

func TestReviewsOverTheInFlightBoundAreAnswered429AtOnce(t *testing.T) {
	engine, err := validators.NewEngine(validators.Config{})
	if err != nil {
		t.Fatal(err)
	}
	const bound = 3
	h := webhook.Handlers(webhook.Deps{Engine: engine, State: state.NewIndex(), Log: logr.Discard(),
		Metrics: webhook.NewMetrics(prometheus.NewRegistry()), MaxInFlight: bound})[webhook.Path(kinds.ServiceDefaults)]
	body := reviewBody("ServiceDefaults", "CREATE", serviceDefaults("web", `[{"name":"api"}]`))
	serve := func(r io.Reader) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, webhook.Path(kinds.ServiceDefaults), r)
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = int64(len(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// Reviews whose bodies are still arriving hold their places: a place is taken before
	// the body is read, since reading it is where the memory goes.
	var wg sync.WaitGroup
	writers := make([]*io.PipeWriter, bound)
	codes := make([]int, bound)
	for i := range bound {
		pr, pw := io.Pipe()
		writers[i] = pw
		wg.Go(func() { codes[i] = serve(pr).Code })
		// The write returns once the handler reads, that is once it holds a place.
		if _, err := pw.Write([]byte(body[:10])); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	rec := serve(strings.NewReader(body))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("HTTP %d, Retry-After %q; want 429 with Retry-After 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("the refusal took %s", took)
	}
	for _, pw := range writers {
		if _, err := pw.Write([]byte(body[10:])); err != nil {
			t.Fatal(err)
		}
		_ = pw.Close()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("review %d within the bound got HTTP %d", i, c)
		}
	}
	if rec := serve(strings.NewReader(body)); rec.Code != http.StatusOK {
		t.Errorf("after the burst: HTTP %d", rec.Code)
	}
}

func TestDeclaredBodyOverTheLimitIsRefusedUnread(t *testing.T) {
	f := newFixture(t, validators.Config{})
	req := httptest.NewRequest(http.MethodPost, webhook.Path(kinds.ServiceDefaults), strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = webhook.MaxRequestBytes + 1
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("HTTP %d, want 413", rec.Code)
	}
}

func TestAbandonedReviewIsNotJudged(t *testing.T) {
	f := newFixture(t, validators.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, webhook.Path(kinds.ServiceDefaults),
		strings.NewReader(reviewBody("ServiceDefaults", "CREATE", duplicateOverrides(100))))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, req)
	if rec.Body.Len() != 0 {
		t.Errorf("an answer nobody waits for was rendered: %.200s", rec.Body.String())
	}
	mfs, err := f.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// Every series exists at zero from the start; none may have counted this review.
	for _, mf := range mfs {
		if mf.GetName() != "consul_peering_guard_admission_reviews_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetCounter().GetValue() != 0 {
				t.Errorf("the engine judged an abandoned review: %s", m.String())
			}
		}
	}
}

func TestBodiesOverTheInFlightBytesAreAnswered429(t *testing.T) {
	engine, err := validators.NewEngine(validators.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := webhook.Handlers(webhook.Deps{Engine: engine, State: state.NewIndex(), Log: logr.Discard(),
		Metrics: webhook.NewMetrics(prometheus.NewRegistry()), MaxInFlightBytes: webhook.MaxRequestBytes})[webhook.Path(kinds.ServiceDefaults)]
	serve := func(r io.Reader, size int64) int {
		req := httptest.NewRequest(http.MethodPost, webhook.Path(kinds.ServiceDefaults), r)
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = size
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	// A large review is being read: it holds two thirds of the bytes.
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() { done <- serve(pr, webhook.MaxRequestBytes*2/3) }()
	if _, err := pw.Write([]byte("{")); err != nil {
		t.Fatal(err)
	}
	// Another as large does not fit beside it; an ordinary one does, and so does a body of
	// unknown length once the large one is done.
	if code := serve(strings.NewReader("{}"), webhook.MaxRequestBytes*2/3); code != http.StatusTooManyRequests {
		t.Errorf("second large review: HTTP %d, want 429", code)
	}
	small := reviewBody("ServiceDefaults", "CREATE", serviceDefaults("web", `[{"name":"api"}]`))
	if code := serve(strings.NewReader(small), int64(len(small))); code != http.StatusOK {
		t.Errorf("ordinary review beside it: HTTP %d, want 200", code)
	}
	if code := serve(strings.NewReader(small), -1); code != http.StatusTooManyRequests {
		t.Errorf("body of unknown length beside it: HTTP %d, want 429", code)
	}
	_ = pw.Close()
	if code := <-done; code != http.StatusBadRequest {
		t.Errorf("the truncated large review: HTTP %d, want 400", code)
	}
	if code := serve(strings.NewReader(small), -1); code != http.StatusOK {
		t.Errorf("body of unknown length alone: HTTP %d, want 200", code)
	}
}
