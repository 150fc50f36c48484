package reliability

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// peakRSS reads VmHWM (the peak resident set) of a process, in KiB.
func peakRSS(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	return -1
}

// Concurrent reviews of all six kinds over TLS keep-alive: zero errors, zero wrong verdicts,
// bounded memory. The short run is always on; make load runs the long one.
func TestLoadWithoutLoss(t *testing.T) {
	// Capacity for every worker whatever the CPU count: a review over it would be a 429,
	// which the API server retries but this test counts as lost.
	w, _ := startGuard(t, fmt.Sprintf("--max-in-flight=%d", max(*loadWorkers, 1)))
	samples := framework.Samples(20)
	bodies := make([][]byte, len(samples))
	for i, s := range samples {
		bodies[i] = framework.ReviewBody(s.Kind, "CREATE", s.Object, "")
	}
	var next, sent, errs, wrong atomic.Int64
	deadline := time.Now().Add(*loadDuration)
	start := time.Now()
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := 0; i < *loadWorkers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := framework.TLSClient(ca.CertPEM, true)
			for {
				n := next.Add(1) - 1
				if n >= int64(*loadCount) || time.Now().After(deadline) {
					return
				}
				s := samples[n%int64(len(samples))]
				sent.Add(1)
				status, resp, err := framework.PostReview(c, base(w), s.Kind, bodies[n%int64(len(samples))])
				switch {
				case err != nil || status != 200 || resp == nil:
					errs.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("HTTP %d: %v", status, err))
				case resp.Allowed != s.Allowed:
					wrong.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: allowed=%v, want %v", s.Kind, resp.Allowed, s.Allowed))
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	rss := peakRSS(w.Pid())
	figures := map[string]any{
		"requests": sent.Load(), "errors": errs.Load(), "wrong_verdicts": wrong.Load(),
		"workers": *loadWorkers, "seconds": took.Seconds(), "reviews_per_second": float64(sent.Load()) / took.Seconds(),
		"peak_rss_mib": float64(rss) / 1024,
	}
	out, _ := json.Marshal(figures)
	t.Logf("load: %s", out)
	if *loadReport != "" {
		if err := os.WriteFile(*loadReport, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if errs.Load() != 0 || wrong.Load() != 0 {
		t.Fatalf("%d errors, %d wrong verdicts of %d; first: %v", errs.Load(), wrong.Load(), sent.Load(), firstErr.Load())
	}
	if sent.Load() < int64(*loadCount) && time.Now().Before(deadline) {
		t.Fatalf("sent %d of %d", sent.Load(), *loadCount)
	}
	if rss > 512*1024 {
		t.Errorf("peak RSS %d KiB exceeds 512 MiB", rss)
	}
}
