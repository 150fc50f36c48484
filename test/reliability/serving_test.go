package reliability

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// slowUploads keeps uploaders sending review bodies to the webhook port one byte a second:
// each announces declared bytes, and when the server cuts it off (or answers) it starts
// again. It returns a function that stops them and reports the connections made and the
// answers they got by status line.
func slowUploads(t *testing.T, port, uploaders, declared int) (stop func() (conns int, answers map[string]int)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		made    int
		answers = map[string]int{}
	)
	for range uploaders {
		wg.Go(func() {
			for ctx.Err() == nil {
				status := slowUpload(ctx, port, declared)
				mu.Lock()
				made++
				if status != "" {
					answers[status]++
				}
				mu.Unlock()
			}
		})
	}
	return func() (int, map[string]int) {
		cancel()
		wg.Wait()
		return made, answers
	}
}

// slowUpload sends one request whose body trickles in, until the server answers or closes
// the connection or ctx ends; it returns the status line of the answer, if any.
func slowUpload(ctx context.Context, port, declared int) string {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{RootCAs: trusted(), MinVersion: tls.VersionTLS13}}
	c, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
		return ""
	}
	defer func() { _ = c.Close() }()
	answered := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(c).ReadString('\n')
		answered <- strings.TrimSpace(line)
	}()
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{",
		webhook.Path(kinds.ServiceDefaults), declared)
	if _, err := io.WriteString(c, head); err != nil {
		return ""
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case line := <-answered:
			return line
		case <-ctx.Done():
			return ""
		case <-tick.C:
			if _, err := io.WriteString(c, " "); err != nil {
				return ""
			}
		}
	}
}

// Issue 27, item 1: uploads that send their bodies a byte a second cannot block Consul
// writes. Eight uploaders announce half the byte budget each (on a budget charged from
// Content-Length, two of them held all of it until the 10 s read timeout and every write
// through the API server failed after its 5 s), or, in the second case, more small bodies
// than there are review slots: writes through the API server still succeed while they
// trickle in, and the uploaders are cut off by the body's own deadline.
func TestSlowUploadsDoNotBlockWrites(t *testing.T) {
	const writes = 7
	for _, tc := range []struct {
		name                string
		flags               []string
		uploaders, declared int
	}{
		{"half-budget-uploads", nil, 8, webhook.DefaultMaxInFlightBytes / 2},
		{"more-uploads-than-slots", []string{"--max-in-flight=4"}, 12, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := behindAPIServer(t, tc.flags...)
			valid := serviceDefaultsWith("frontend", &v1alpha1.Upstream{Name: "api"})
			var before []time.Duration
			for range writes {
				took, err := dryRun(valid.DeepCopy())
				if err != nil {
					t.Fatalf("valid write before the uploads: %v", err)
				}
				before = append(before, took)
			}

			stop := slowUploads(t, w.Port, tc.uploaders, tc.declared)
			time.Sleep(2 * time.Second) // the uploads hold whatever they can
			var during []time.Duration
			var failures []string
			for i := range writes {
				took, err := dryRun(valid.DeepCopy())
				during = append(during, took)
				if err != nil {
					failures = append(failures, fmt.Sprintf("write %d after %s: %v", i, took, err))
				}
				time.Sleep(500 * time.Millisecond)
			}
			conns, answers := stop()

			bP50, bMax := latencies(before)
			dP50, dMax := latencies(during)
			figures, _ := json.Marshal(map[string]any{
				"uploaders": tc.uploaders, "declared_bytes": tc.declared, "upload_connections": conns, "upload_answers": answers,
				"before_p50_ms": bP50.Milliseconds(), "before_max_ms": bMax.Milliseconds(),
				"during_p50_ms": dP50.Milliseconds(), "during_max_ms": dMax.Milliseconds(),
				"during_ms": millis(during), "p50_ratio": float64(dP50) / float64(max(bP50, time.Millisecond)),
			})
			t.Logf("valid writes through the API server while slow uploads trickle in: %s", figures)
			for _, f := range failures {
				t.Error(f)
			}
			// The uploads were ended by the webhook (408 once the body deadline passed), not
			// left to hang until the test stopped them.
			if answers["HTTP/1.1 408 Request Timeout"] == 0 {
				t.Errorf("no upload was cut off by the body deadline: %v", answers)
			}
		})
	}
}

func millis(d []time.Duration) []int64 {
	out := make([]int64, len(d))
	for i, v := range d {
		out[i] = v.Milliseconds()
	}
	return out
}

// Issue 27, item 1: an honest burst beyond the review slots waits for them instead of being
// answered 429 at once. 32 clients post valid reviews at a webhook with one slot; every
// answer is 200 and the webhook counts no 429.
func TestHonestBurstIsNotAnswered429(t *testing.T) {
	const clients, perClient, slots = 32, 40, 1
	// The wait is long so that the machine's speed cannot decide the outcome: what is
	// asserted is that a review beyond the slots waits, not how long it waits.
	w, _ := startGuard(t, "--max-in-flight="+strconv.Itoa(slots), "--in-flight-wait=10s")
	body := framework.ReviewBody(kinds.ServiceDefaults, "CREATE", `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ServiceDefaults","metadata":{"name":"web","namespace":"default"},"spec":{"upstreamConfig":{"overrides":[{"name":"api"}]}}}`, "")
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		times    []time.Duration
		errs     atomic.Int64
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			c := framework.TLSClient(ca.CertPEM, true)
			c.Timeout = 30 * time.Second
			for range perClient {
				t0 := time.Now()
				status, _, err := framework.PostReview(c, base(w), kinds.ServiceDefaults, body)
				took := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs.Add(1)
				} else {
					statuses[status]++
				}
				times = append(times, took)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	p50, slowest := latencies(times)
	tooMany := w.MetricValue(`consul_peering_guard_admission_errors_total{code="429",kind="ServiceDefaults"}`)
	figures, _ := json.Marshal(map[string]any{
		"clients": clients, "reviews": clients * perClient, "slots": slots, "statuses": statuses, "errors": errs.Load(),
		"answered_429_metric": tooMany, "p50_ms": p50.Milliseconds(), "max_ms": slowest.Milliseconds(), "elapsed_ms": elapsed.Milliseconds(),
	})
	t.Logf("honest burst: %s", figures)
	if statuses[http.StatusOK] != clients*perClient || errs.Load() != 0 {
		t.Errorf("answers by status %v and %d errors; want all %d answered 200", statuses, errs.Load(), clients*perClient)
	}
	if tooMany != 0 {
		t.Errorf("the webhook counted %v answers 429", tooMany)
	}
}

// idleConns opens up to n TCP connections to port and sends nothing on them.
func idleConns(port, n int) (open []net.Conn, failed int) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next = make(chan struct{}, n)
	)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range 50 {
		wg.Go(func() {
			for range next {
				c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
				mu.Lock()
				if err != nil {
					failed++
				} else {
					open = append(open, c)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return open, failed
}

// Issue 27, item 3: the probe and metrics ports take a bounded number of connections. 2,000
// idle TCP connections to each: the webhook accepts no more than --max-side-connections on
// each (the rest wait in the kernel's queue), its RSS grows by little, and once they are
// gone both ports answer again. On the manager's own servers all 4,000 were accepted.
func TestProbeAndMetricsPortsAreBounded(t *testing.T) {
	const idle, bound = 2000, 64
	// The header timeout is longer than the test holds the connections, so the bound is what
	// is measured, not the timeout.
	w, _ := startGuard(t, "--max-side-connections="+strconv.Itoa(bound), "--read-header-timeout=60s", "--read-timeout=60s")
	if _, err := w.Metrics(); err != nil {
		t.Fatal(err)
	}
	baseRSS, baseFiles := w.Memory("VmRSS"), openFiles(w.Pid())
	var held []net.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	failed := 0
	for _, port := range []int{w.ProbePort, w.MetricsPort} {
		open, f := idleConns(port, idle)
		held, failed = append(held, open...), failed+f
	}
	time.Sleep(time.Second) // let the webhook accept what it will
	files, rss := openFiles(w.Pid()), w.Memory("VmRSS")
	figures, _ := json.Marshal(map[string]any{
		"idle_per_port": idle, "connected": len(held), "dial_failures": failed, "bound_per_port": bound,
		"base_open_files": baseFiles, "open_files": files, "base_rss_mib": mib(baseRSS), "rss_mib": mib(rss),
		"rss_growth_mib": mib(rss - baseRSS),
	})
	t.Logf("%d idle connections to the probe and the metrics port each: %s", idle, figures)
	if accepted := files - baseFiles; accepted > 2*bound+10 {
		t.Errorf("the webhook holds %d more open files, above the %d connections allowed on the two ports", accepted, 2*bound)
	}
	// Each accepted idle connection costs a goroutine and its buffers (about 16 KiB): 4,000
	// of them would be over 60 MiB; the bound keeps it to a few.
	if growth := rss - baseRSS; baseRSS <= 0 || growth > 16<<20 {
		t.Errorf("RSS grew by %.1f MiB", mib(growth))
	}
	for _, c := range held {
		_ = c.Close()
	}
	held = nil
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		ready, _ := w.Ready()
		_, err := w.Metrics()
		if ready && err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the ports did not answer again once the idle connections closed: ready %v, metrics %v", ready, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Issue 27, item 3: the probe and metrics ports close a connection that sends no request
// within --read-header-timeout (controller-runtime's own servers wait 32 s).
func TestProbeAndMetricsPortsTimeOutIdleConnections(t *testing.T) {
	w, _ := startGuard(t, "--read-header-timeout=1s")
	for name, port := range map[string]int{"probe": w.ProbePort, "metrics": w.MetricsPort} {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = c.Read(make([]byte, 1))
		_ = c.Close()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s port: a connection without a request was still open after %s", name, time.Since(start))
			continue
		}
		t.Logf("%s port: a connection without a request closed after %s (%v)", name, time.Since(start).Round(time.Millisecond), err)
	}
}
