// Command bench is `make bench`: an HTTPS load benchmark of the real webhook handler stack
// against a floor server that only decodes the AdmissionReview and allows it, both behind the
// same TLS server in this process, on loopback, with keep-alive. It prints throughput and
// p50/p99 latency of both at several concurrencies, their ratio measured in the same run,
// and the p99 of the webhook at a paced 1,000 reviews/s.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/server"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

func main() {
	duration := flag.Duration("duration", 3*time.Second, "length of each measured run")
	rate := flag.Int("rate", 1000, "reviews per second of the paced run")
	out := flag.String("out", "", "also write the Markdown table to this file")
	flag.Parse()
	// The certificate watcher logs through controller-runtime; the output here is the report.
	ctrllog.SetLogger(logr.Discard())
	if err := run(*duration, *rate, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type target struct {
	name string
	base string
}

func run(d time.Duration, rate int, outFile string) error {
	dir, err := os.MkdirTemp("", "cpg-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	ca, err := framework.NewCA("bench-ca")
	if err != nil {
		return err
	}
	certDir := filepath.Join(dir, "certs")
	if _, err := ca.WriteServing(certDir); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	webhookSrv, err := startServer(ctx, certDir, func(s *server.TLSServer) error {
		engine, err := validators.NewEngine(validators.Config{})
		if err != nil {
			return err
		}
		idx := state.NewIndex()
		idx.SetGateway(state.GatewayRef{Namespace: "consul", Name: "mesh-gateway"}, validators.GatewayReady)
		for _, peer := range []string{"dc2", "dc3", "dc4"} {
			d := &v1alpha1.PeeringDialer{}
			d.Name, d.Namespace = peer, "consul"
			idx.Upsert(d)
		}
		// Room for the highest concurrency measured below whatever the CPU count: this
		// measures the handler's throughput, not its capacity bound.
		webhook.Register(s, webhook.Deps{Engine: engine, State: idx, Log: logr.Discard(),
			Metrics: webhook.NewMetrics(prometheus.NewRegistry()), MaxInFlight: 16})
		return nil
	})
	if err != nil {
		return err
	}
	floorSrv, err := startServer(ctx, certDir, func(s *server.TLSServer) error {
		for _, k := range kinds.Consul {
			s.Register(webhook.Path(k), http.HandlerFunc(floor))
		}
		return nil
	})
	if err != nil {
		return err
	}
	bodies := reviews()
	targets := []target{{"floor", "https://" + floorSrv}, {"webhook", "https://" + webhookSrv}}
	// Warm both up so that TLS sessions, pools and caches are equal.
	for _, t := range targets {
		measure(ca.CertPEM, t.base, bodies, 4, 500*time.Millisecond, 0)
	}

	var table []string
	table = append(table, fmt.Sprintf("Machine: %d CPUs (GOMAXPROCS %d), %s/%s, %s. Each run %s, keep-alive, loopback TLS.\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), d),
		"| concurrency | floor reviews/s | webhook reviews/s | ratio webhook/floor | floor p50 / p99 | webhook p50 / p99 |",
		"|---|---|---|---|---|---|")
	for _, c := range []int{1, 4, 16} {
		// floor, webhook, floor, webhook: alternate so that drift hits both alike.
		var fl, wh []result
		for i := 0; i < 2; i++ {
			fl = append(fl, measure(ca.CertPEM, targets[0].base, bodies, c, d/2, 0))
			wh = append(wh, measure(ca.CertPEM, targets[1].base, bodies, c, d/2, 0))
		}
		f, w := merge(fl), merge(wh)
		if f.errors+w.errors > 0 {
			return fmt.Errorf("concurrency %d: %d floor and %d webhook errors", c, f.errors, w.errors)
		}
		table = append(table, fmt.Sprintf("| %d | %.0f | %.0f | %.2f | %s / %s | %s / %s |", c, f.rps, w.rps, w.rps/f.rps,
			ms(f.p50), ms(f.p99), ms(w.p50), ms(w.p99)))
	}
	paced := measure(ca.CertPEM, targets[1].base, bodies, 16, d, rate)
	pacedFloor := measure(ca.CertPEM, targets[0].base, bodies, 16, d, rate)
	table = append(table, "",
		fmt.Sprintf("Paced at %d reviews/s for %s: webhook p50 %s, p99 %s (%d reviews, %d errors); floor p50 %s, p99 %s.",
			rate, d, ms(paced.p50), ms(paced.p99), paced.n, paced.errors, ms(pacedFloor.p50), ms(pacedFloor.p99)))
	text := ""
	for _, l := range table {
		text += l + "\n"
	}
	fmt.Print(text)
	if outFile != "" {
		return os.WriteFile(outFile, []byte(text), 0o644)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }

// startServer starts the production TLS server with handlers registered by reg and returns
// its address once it accepts connections.
func startServer(ctx context.Context, certDir string, reg func(*server.TLSServer) error) (string, error) {
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

// floor decodes the review and allows it: the least any webhook must do.
func floor(w http.ResponseWriter, r *http.Request) {
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

type body struct {
	kind kinds.Kind
	data []byte
}

// reviews are realistic, allowed objects of the six kinds (5 upstreams, 5 exported services).
func reviews() []body {
	var out []body
	for _, s := range framework.Samples(5) {
		if s.Allowed {
			out = append(out, body{s.Kind, framework.ReviewBody(s.Kind, "CREATE", s.Object, "")})
		}
	}
	return out
}

type result struct {
	n, errors int
	rps       float64
	p50, p99  time.Duration
	lat       []time.Duration
	took      time.Duration
}

func merge(rs []result) result {
	var m result
	for _, r := range rs {
		m.n += r.n
		m.errors += r.errors
		m.lat = append(m.lat, r.lat...)
		m.took += r.took
	}
	m.rps = float64(m.n) / m.took.Seconds()
	m.p50, m.p99 = percentiles(m.lat)
	return m
}

func percentiles(lat []time.Duration) (time.Duration, time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// measure runs c keep-alive workers for d; with rate > 0 requests are paced (open loop).
func measure(caPEM []byte, base string, bodies []body, c int, d time.Duration, rate int) result {
	var mu sync.Mutex
	var res result
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
				resp, err := client.Post(base+webhook.Path(b.kind), "application/json", bytes.NewReader(b.data))
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
			res.lat = append(res.lat, lat...)
			res.errors += errs
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	res.took = time.Since(start)
	res.n = len(res.lat)
	res.rps = float64(res.n) / res.took.Seconds()
	res.p50, res.p99 = percentiles(res.lat)
	return res
}
