// Package measure holds what the benchmark programs of hack/ share: an HTTPS load loop over
// AdmissionReview bodies, the floor server every webhook is compared with and the TLS server
// it runs in, and percentiles.
package measure

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/consul-peering-guard/consul-peering-guard/internal/server"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// Floor decodes the review and allows it: the least any webhook must do.
func Floor(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	review.Request = nil
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&review)
}

// Body is one AdmissionReview and the path it is posted to.
type Body struct {
	Path string
	Data []byte
}

// Result is what one or more load runs measured.
type Result struct {
	N, Errors int
	RPS       float64
	P50, P99  time.Duration
	Lat       []time.Duration
	Took      time.Duration
}

// Merge adds runs together (alternated runs of one target).
func Merge(rs []Result) Result {
	var m Result
	for _, r := range rs {
		m.N += r.N
		m.Errors += r.Errors
		m.Lat = append(m.Lat, r.Lat...)
		m.Took += r.Took
	}
	if m.Took > 0 {
		m.RPS = float64(m.N) / m.Took.Seconds()
	}
	m.P50, m.P99 = Percentiles(m.Lat)
	return m
}

// Percentiles returns the p50 and p99 of lat (sorted in place), 0 for none: the smallest
// samples at or above 50 % and 99 % of them (nearest rank), so that the p99 of 100 samples is
// the 99th, not the largest.
func Percentiles(lat []time.Duration) (time.Duration, time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	rank := func(q int) time.Duration { return lat[(len(lat)*q+99)/100-1] }
	return rank(50), rank(99)
}

// Millis formats d in milliseconds with the given decimals.
func Millis(d time.Duration, decimals int) string {
	return fmt.Sprintf("%.*f ms", decimals, float64(d.Microseconds())/1000)
}

// Load runs c keep-alive workers posting bodies to base for d, each over its own connection
// trusting caPEM; with rate > 0 requests are paced (open loop). Any answer but 200 is an error.
func Load(caPEM []byte, base string, bodies []Body, c int, d time.Duration, rate int) Result {
	var mu sync.Mutex
	var res Result
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		tick = t.C
	}
	start := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			client := framework.TLSClient(caPEM, true)
			var lat []time.Duration
			errs := 0
			for j := worker; time.Now().Before(deadline); j++ {
				if tick != nil {
					<-tick
				}
				b := bodies[j%len(bodies)]
				t0 := time.Now()
				resp, err := client.Post(base+b.Path, "application/json", bytes.NewReader(b.Data))
				if err != nil {
					errs++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.Lat = append(res.Lat, lat...)
			res.Errors += errs
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	res.Took = time.Since(start)
	res.N = len(res.Lat)
	res.RPS = float64(res.N) / res.Took.Seconds()
	res.P50, res.P99 = Percentiles(res.Lat)
	return res
}

// StartServer starts the production TLS server with the handlers reg registers and returns
// its address once it accepts connections; it stops with ctx.
func StartServer(ctx context.Context, certDir string, reg func(*server.TLSServer) error) (string, error) {
	s := server.NewTLSServer(server.TLSServerOptions{Host: "127.0.0.1", Port: 0, CertDir: certDir,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second,
		ShutdownTimeout: time.Second, Log: logr.Discard()})
	if err := reg(s); err != nil {
		return "", err
	}
	go func() { _ = s.Start(ctx) }()
	for i := 0; i < 100; i++ {
		if addr := s.Addr(); addr != "" {
			return addr, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("server did not start")
}
