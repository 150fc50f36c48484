// Command bench-peers is `make bench-peers`: consul-peering-guard beside Gatekeeper and
// Kyverno enforcing the same three rules (gateway-mode-none-peer-upstream, peer-name-syntax,
// export-needs-mesh-gateway), each written as its users would write it
// (hack/bench-peers/policies), on one real API server, in one run. It first checks that the
// engines agree on the same valid and invalid objects, then measures, alternately in rounds,
// the latency each adds to writes through the API server, each webhook's direct HTTPS
// throughput against a floor server, their memory with 10,000 ServiceDefaults and 1,000
// PeeringDialers stored, and their time from start to enforcing.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

type options struct {
	rounds, creates, updates int
	direct                   time.Duration
	scaleSD, scalePeers      int
	scaleDeployments         int
	out                      string
	parityOnly               bool
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of every setup, alternated so that drift hits all alike")
	flag.IntVar(&o.creates, "creates", 200, "ServiceDefaults created through the API server per setup and round")
	flag.IntVar(&o.updates, "updates", 100, "ExportedServices updates (the state rule) through the API server per setup and round")
	flag.DurationVar(&o.direct, "direct", 2*time.Second, "length of each direct HTTPS load run per setup and round")
	flag.IntVar(&o.scaleSD, "scale-servicedefaults", 10000, "ServiceDefaults stored for the memory figures (0 skips them)")
	flag.IntVar(&o.scalePeers, "scale-peers", 1000, "PeeringDialers stored for the memory figures")
	flag.IntVar(&o.scaleDeployments, "scale-deployments", 2000, "Deployments (not gateways) stored afterwards, for the memory of the engines that replicate them (0 skips them)")
	flag.StringVar(&o.out, "out", "", "also write the Markdown report to this file")
	flag.BoolVar(&o.parityOnly, "parity-only", false, "stop after the parity table (for working on the policies)")
	flag.Parse()
	// The engines' warnings reach client-go's logger; the output here is the report.
	ctrllog.SetLogger(logr.Discard())
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-peers:", err)
		os.Exit(1)
	}
}

type bench struct {
	cluster  *framework.Cluster
	dyn      *dynamic.DynamicClient
	warnings *warningCollector
	root     string
	ca       *framework.CA
	ours     *engine
	gk       *engine
	ky       *engine
}

// moduleDir is where the Go module a tools module pins lives (its CRDs ship in it).
func moduleDir(root, tool, module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = filepath.Join(root, "hack", "tools", tool)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s in hack/tools/%s: %w", module, tool, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func run(o options) error {
	root, err := framework.Root()
	if err != nil {
		return err
	}
	for _, b := range []string{"gatekeeper", "kyverno"} {
		if _, err := os.Stat(filepath.Join(root, "bin", b)); err != nil {
			return fmt.Errorf("bin/%s missing: run hack/build-tools.sh %s", b, b)
		}
	}
	gkDir, err := moduleDir(root, "gatekeeper", "github.com/open-policy-agent/gatekeeper/v3")
	if err != nil {
		return err
	}
	kyDir, err := moduleDir(root, "kyverno", "github.com/kyverno/kyverno")
	if err != nil {
		return err
	}
	crds := []string{filepath.Join(gkDir, "manifest_staging", "charts", "gatekeeper", "crds")}
	for _, d := range []string{"kyverno", "policies.kyverno.io", "policyreport", "reports"} {
		crds = append(crds, filepath.Join(kyDir, "config", "crds", d))
	}
	fmt.Fprintln(os.Stderr, ">> starting kube-apiserver with the Consul, Gatekeeper and Kyverno CRDs")
	cluster, err := framework.StartCluster(crds...)
	if err != nil {
		return err
	}
	b := &bench{cluster: cluster, root: root, warnings: &warningCollector{}}
	// Whatever ends the run (an error, an interrupt) stops the engines, then the API server and
	// etcd, which are not children that die with this process.
	stop := sync.OnceFunc(func() {
		b.stopEngines()
		_ = cluster.Stop()
	})
	defer stop()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		fmt.Fprintln(os.Stderr, "bench-peers: interrupted; stopping what it started")
		stop()
		os.Exit(130)
	}()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.WarningHandler = b.warnings
	cfg.QPS, cfg.Burst = 500, 1000
	if b.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	ctx := context.Background()
	for _, ns := range []string{"consul", "apps", "gatekeeper-system", kyvernoNamespace} {
		if err := cluster.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	if err := b.startEngines(ctx); err != nil {
		return err
	}

	setups := b.setups()
	engines := setups[1:]
	var report strings.Builder
	fmt.Fprintf(&report, "Machine: %s. One kube-apiserver (bin/kube-apiserver, etcd) for all; every engine on loopback, registered alone, failurePolicy Fail: "+
		"ours with its own configuration (an entry per kind, as the chart installs it; it runs its whole catalogue of rules on every review), "+
		"Gatekeeper and Kyverno with one entry for the four resources the three rules read.\n\n", machine())

	fmt.Fprintln(os.Stderr, ">> parity: every case through every engine alone")
	cases := parityCases()
	if err := b.storeBeforePolicies(ctx, cases); err != nil {
		return err
	}
	verdicts, err := b.parity(ctx, engines, cases)
	if err != nil {
		return err
	}
	parity, disagreements := parityReport(engines, cases, verdicts, b.ours)
	report.WriteString("### Parity (server-side dry runs through the API server)\n\n" + parity)
	if disagreements > 0 {
		// What the engines say about the policies, for whoever mends them.
		fmt.Fprintln(os.Stderr, b.cluster.Kubectl("get", "validatingpolicies,constrainttemplates", "-o",
			`jsonpath={range .items[*]}{.kind} {.metadata.name}: {.status}{"\n"}{end}`).Stdout)
	}
	if !o.parityOnly {
		if err := b.measure(ctx, setups, o, &report); err != nil {
			return err
		}
	}
	fmt.Print(report.String())
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(report.String()), 0o644); err != nil {
			return err
		}
	}
	if disagreements > 0 {
		return fmt.Errorf("%d disagreements on the rules themselves (see the parity table)", disagreements)
	}
	return nil
}

// measure runs the timed parts: latency and direct load in rounds, then memory and start.
func (b *bench) measure(ctx context.Context, setups []*setup, o options, report *strings.Builder) error {

	fmt.Fprintln(os.Stderr, ">> latency and direct load, alternated in rounds")
	perf, err := b.performance(ctx, setups, o)
	if err != nil {
		return err
	}
	report.WriteString("\n" + perf)
	fmt.Fprintln(os.Stderr, ">> memory and start")
	mem, err := b.memoryAndStart(ctx, []*engine{b.ours, b.gk, b.ky}, o)
	if err != nil {
		return err
	}
	report.WriteString("\n" + mem)
	return nil
}

// storeBeforePolicies stores the objects of the "existing" cases while no engine is
// registered, as objects written before a policy was installed.
func (b *bench) storeBeforePolicies(ctx context.Context, cases []parityCase) error {
	if err := b.unregisterAll(); err != nil {
		return err
	}
	for _, c := range cases {
		if !c.existing {
			continue
		}
		if _, err := b.dyn.Resource(c.resource).Namespace("default").Create(ctx, u(c.object), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	// A known peer, so that our peer-known warnings do not crowd the verdicts.
	_, err := b.dyn.Resource(gvrDialers).Namespace("default").Create(ctx, u(dialer("dc2")), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func machine() string {
	return fmt.Sprintf("%d CPUs, %s/%s, %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
