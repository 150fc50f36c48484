// Command bench is `make bench`: an HTTPS load benchmark of the real webhook handler stack
// against a floor server that only decodes the AdmissionReview and allows it, both behind the
// same TLS server in this process, on loopback, with keep-alive. It prints throughput and
// p50/p99 latency of both at several concurrencies, their ratio measured in the same run,
// and the p99 of the webhook at a paced 1,000 reviews/s.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/hack/internal/measure"
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

	webhookSrv, err := measure.StartServer(ctx, certDir, func(s *server.TLSServer) error {
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
	floorSrv, err := measure.StartServer(ctx, certDir, func(s *server.TLSServer) error {
		for _, k := range kinds.Consul {
			s.Register(webhook.Path(k), http.HandlerFunc(measure.Floor))
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
		measure.Load(ca.CertPEM, t.base, bodies, 4, 500*time.Millisecond, 0)
	}

	var table []string
	table = append(table, fmt.Sprintf("Machine: %d CPUs (GOMAXPROCS %d), %s/%s, %s. Each run %s, keep-alive, loopback TLS.\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), d),
		"| concurrency | floor reviews/s | webhook reviews/s | ratio webhook/floor | floor p50 / p99 | webhook p50 / p99 |",
		"|---|---|---|---|---|---|")
	for _, c := range []int{1, 4, 16} {
		// floor, webhook, floor, webhook: alternate so that drift hits both alike.
		var fl, wh []measure.Result
		for i := 0; i < 2; i++ {
			fl = append(fl, measure.Load(ca.CertPEM, targets[0].base, bodies, c, d/2, 0))
			wh = append(wh, measure.Load(ca.CertPEM, targets[1].base, bodies, c, d/2, 0))
		}
		f, w := measure.Merge(fl), measure.Merge(wh)
		if f.Errors+w.Errors > 0 {
			return fmt.Errorf("concurrency %d: %d floor and %d webhook errors", c, f.Errors, w.Errors)
		}
		table = append(table, fmt.Sprintf("| %d | %.0f | %.0f | %.2f | %s / %s | %s / %s |", c, f.RPS, w.RPS, w.RPS/f.RPS,
			ms(f.P50), ms(f.P99), ms(w.P50), ms(w.P99)))
	}
	paced := measure.Load(ca.CertPEM, targets[1].base, bodies, 16, d, rate)
	pacedFloor := measure.Load(ca.CertPEM, targets[0].base, bodies, 16, d, rate)
	table = append(table, "",
		fmt.Sprintf("Paced at %d reviews/s for %s: webhook p50 %s, p99 %s (%d reviews, %d errors); floor p50 %s, p99 %s.",
			rate, d, ms(paced.P50), ms(paced.P99), paced.N, paced.Errors, ms(pacedFloor.P50), ms(pacedFloor.P99)))
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

func ms(d time.Duration) string { return measure.Millis(d, 3) }

// reviews are realistic, allowed objects of the six kinds (5 upstreams, 5 exported services).
func reviews() []measure.Body {
	var out []measure.Body
	for _, s := range framework.Samples(5) {
		if s.Allowed {
			out = append(out, measure.Body{Path: webhook.Path(s.Kind), Data: framework.ReviewBody(s.Kind, "CREATE", s.Object, "")})
		}
	}
	return out
}
