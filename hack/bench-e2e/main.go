// Command bench-e2e is `make bench-e2e`: the cost a user pays per write through the real
// kube-apiserver, in one run: creating N ServiceDefaults with (a) no admission, (b) our
// webhook, (c) a ValidatingAdmissionPolicy in CEL that implements one single-object rule
// (meshGateway.mode none on a peer upstream), (d) the policies `consul-peering-guard vap`
// generates (every object-only rule) and (e) those policies plus the webhook started with
// --skip-object-rules, as the chart installs them with validatingAdmissionPolicies.enabled.
// It prints p50/p99 of each and the added latency over (a); then creates of Pods without the
// upstreams annotation with and without our configuration (whose workload entries must send
// them nothing); then the webhook's memory after 10,000 ServiceDefaults and 1,000 peers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/hack/internal/measure"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

const (
	webhookName = "consul-peering-guard"
	policyName  = "no-mode-none-on-peer-upstreams"
)

func main() {
	n := flag.Int("n", 300, "objects created per admission setup and round")
	rounds := flag.Int("rounds", 2, "rounds of (a) to (e), alternated so drift hits all alike")
	scaleSD := flag.Int("scale-servicedefaults", 10000, "ServiceDefaults in the cache for the memory figure (0 skips it)")
	scalePeers := flag.Int("scale-peers", 1000, "PeeringDialers in the cache for the memory figure")
	out := flag.String("out", "", "also write the Markdown report to this file")
	flag.Parse()
	// The API server's admission warnings reach the client's logger; the output here is the report.
	ctrllog.SetLogger(logr.Discard())
	if err := run(*n, *rounds, *scaleSD, *scalePeers, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

type bench struct {
	cluster *framework.Cluster
	guard   *framework.Webhook
	// skipping is a second webhook started with --skip-object-rules, for setup (e).
	skipping  *framework.Webhook
	ca        *framework.CA
	generated policies.Set
}

func run(n, rounds, scaleSD, scalePeers int, outFile string) error {
	ctx := context.Background()
	cluster, err := framework.StartCluster()
	if err != nil {
		return err
	}
	defer func() { _ = cluster.Stop() }()
	bin, err := framework.BuildBinary(cluster.Root, cluster.Dir)
	if err != nil {
		return err
	}
	ca, err := framework.NewCA("bench-ca")
	if err != nil {
		return err
	}
	certDir := filepath.Join(cluster.Dir, "certs")
	if _, err := ca.WriteServing(certDir); err != nil {
		return err
	}
	guard, err := framework.StartWebhook(bin, cluster.Kubeconfig, certDir, "--log-level=error")
	if err != nil {
		return err
	}
	defer func() { _ = guard.Stop() }()
	if err := guard.WaitReady(time.Minute); err != nil {
		return err
	}
	skipping, err := framework.StartWebhook(bin, cluster.Kubeconfig, certDir, "--log-level=error", "--skip-object-rules")
	if err != nil {
		return err
	}
	defer func() { _ = skipping.Stop() }()
	if err := skipping.WaitReady(time.Minute); err != nil {
		return err
	}
	generated, err := policies.Generate(validators.Config{}, "default")
	if err != nil {
		return err
	}
	b := &bench{cluster: cluster, guard: guard, skipping: skipping, ca: ca, generated: generated}

	setups := []struct {
		name  string
		setup func(context.Context) error
	}{
		{"(a) no admission", b.noAdmission},
		{"(b) consul-peering-guard webhook", b.useWebhook},
		{"(c) ValidatingAdmissionPolicy (CEL)", b.usePolicy},
		{fmt.Sprintf("(d) generated policies only (%d)", len(generated.Policies)), b.useGenerated},
		{"(e) generated policies + webhook --skip-object-rules", b.useGeneratedAndWebhook},
	}
	lat := make([][]time.Duration, len(setups))
	for r := 0; r < rounds; r++ {
		for i, s := range setups {
			if err := s.setup(ctx); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			// Warm-up creates, untimed, so every setup is measured with warm connections.
			if _, err := b.createMany(ctx, fmt.Sprintf("warm-r%d-s%d", r, i), 20); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			l, err := b.createMany(ctx, fmt.Sprintf("r%d-s%d", r, i), n)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			lat[i] = append(lat[i], l...)
			if err := b.deleteAll(ctx); err != nil {
				return err
			}
		}
	}
	var report strings.Builder
	fmt.Fprintf(&report, "Machine: %d CPUs, %s/%s, %s. %d rounds x %d sequential creates of a ServiceDefaults with 3 peer upstreams per setup, through kube-apiserver (envtest: bin/kube-apiserver, bin/etcd).\n\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), rounds, n)
	report.WriteString("| setup | p50 | p99 | added p50 over (a) | added p99 over (a) |\n|---|---|---|---|---|\n")
	p50a, p99a := percentiles(lat[0])
	for i, s := range setups {
		p50, p99 := percentiles(lat[i])
		fmt.Fprintf(&report, "| %s | %s | %s | %s | %s |\n", s.name, ms(p50), ms(p99), ms(p50-p50a), ms(p99-p99a))
	}
	pods, err := b.podsSection(ctx, n, rounds)
	if err != nil {
		return fmt.Errorf("pods: %w", err)
	}
	report.WriteString(pods)
	if scaleSD > 0 {
		if err := b.useWebhook(ctx); err != nil {
			return err
		}
		mem, err := b.memoryAtScale(ctx, scaleSD, scalePeers)
		if err != nil {
			return err
		}
		report.WriteString("\n" + mem)
	}
	fmt.Print(report.String())
	if outFile != "" {
		return os.WriteFile(outFile, []byte(report.String()), 0o644)
	}
	return nil
}

func ms(d time.Duration) string { return measure.Millis(d, 2) }

func percentiles(lat []time.Duration) (time.Duration, time.Duration) {
	return measure.Percentiles(slices.Clone(lat))
}

func serviceDefaults(name, mode string) *v1alpha1.ServiceDefaults {
	sd := &v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	sd.Spec.Protocol = "http"
	sd.Spec.UpstreamConfig = &v1alpha1.Upstreams{}
	for i := 0; i < 3; i++ {
		sd.Spec.UpstreamConfig.Overrides = append(sd.Spec.UpstreamConfig.Overrides,
			&v1alpha1.Upstream{Name: fmt.Sprintf("api-%d", i), Peer: "dc2", MeshGateway: v1alpha1.MeshGateway{Mode: mode}})
	}
	return sd
}

// waitDenied waits until the API server refuses an object only the active admission refuses,
// with a message holding by ("" for any): which admission answered.
func (b *bench) waitDenied(ctx context.Context, want bool, by string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		err := b.cluster.Client.Create(ctx, serviceDefaults("probe", "none"), client.DryRunAll)
		if (err != nil) == want && (err == nil || apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) &&
			(err == nil || strings.Contains(err.Error(), by)) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("admission did not switch (want denied=%v by %q)", want, by)
}

// The probe's refusal names who refused it.
const (
	byWebhook   = `admission webhook "`
	byGenerated = "ValidatingAdmissionPolicy '" + policies.NamePrefix + "gateway-mode-none-peer-upstream'"
)

func (b *bench) dropWebhook(ctx context.Context) error {
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: webhookName}}
	return client.IgnoreNotFound(b.cluster.Client.Delete(ctx, vwc))
}

func (b *bench) dropPolicy(ctx context.Context) error {
	if err := client.IgnoreNotFound(b.cluster.Client.Delete(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: policyName}})); err != nil {
		return err
	}
	return client.IgnoreNotFound(b.cluster.Client.Delete(ctx, &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: policyName}}))
}

// steps runs each step in turn, up to the first error.
func steps(ctx context.Context, each ...func(context.Context) error) error {
	for _, step := range each {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) noAdmission(ctx context.Context) error {
	if err := steps(ctx, b.dropWebhook, b.dropPolicy, b.dropGenerated); err != nil {
		return err
	}
	return b.waitDenied(ctx, false, "")
}

func (b *bench) dropGenerated(ctx context.Context) error {
	objs := b.generated.Objects()
	for i := len(objs) - 1; i >= 0; i-- {
		if err := client.IgnoreNotFound(b.cluster.Client.Delete(ctx, objs[i].DeepCopyObject().(client.Object))); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) createGenerated(ctx context.Context) error {
	for _, obj := range b.generated.Objects() {
		if err := b.cluster.Client.Create(ctx, obj.DeepCopyObject().(client.Object)); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// useGenerated installs every generated policy and no webhook.
func (b *bench) useGenerated(ctx context.Context) error {
	if err := steps(ctx, b.dropWebhook, b.dropPolicy, b.createGenerated); err != nil {
		return err
	}
	if err := b.waitDenied(ctx, true, byGenerated); err != nil {
		return err
	}
	return b.waitExportChecked(ctx, false)
}

// useGeneratedAndWebhook adds the webhook that leaves the object-only rules to the policies.
func (b *bench) useGeneratedAndWebhook(ctx context.Context) error {
	if err := steps(ctx, b.dropPolicy, b.createGenerated); err != nil {
		return err
	}
	if err := b.cluster.RegisterWebhook(webhookName, b.skipping.Port, b.ca.CertPEM); err != nil {
		return err
	}
	if err := b.waitDenied(ctx, true, byGenerated); err != nil {
		return err
	}
	return b.waitExportChecked(ctx, true)
}

// waitExportChecked waits until an export to a peer without a mesh gateway, which only the
// webhook refuses (a state rule), is refused or allowed as want says.
func (b *bench) waitExportChecked(ctx context.Context, want bool) error {
	es := &v1alpha1.ExportedServices{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"},
		Spec: v1alpha1.ExportedServicesSpec{Services: []v1alpha1.ExportedService{{Name: "api",
			Consumers: []v1alpha1.ServiceConsumer{{Peer: "dc2"}}}}}}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		err := b.cluster.Client.Create(ctx, es.DeepCopy(), client.DryRunAll)
		if (err != nil) == want && (err == nil || strings.Contains(err.Error(), "(export-needs-mesh-gateway)")) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the webhook did not switch (want the export refused=%v)", want)
}

func (b *bench) useWebhook(ctx context.Context) error {
	if err := steps(ctx, b.dropPolicy, b.dropGenerated); err != nil {
		return err
	}
	if err := b.cluster.RegisterWebhook(webhookName, b.guard.Port, b.ca.CertPEM); err != nil {
		return err
	}
	return b.waitDenied(ctx, true, byWebhook)
}

// usePolicy installs the CEL equivalent of gateway-mode-none-peer-upstream.
func (b *bench) usePolicy(ctx context.Context) error {
	if err := steps(ctx, b.dropWebhook, b.dropGenerated); err != nil {
		return err
	}
	fail := admissionregistrationv1.Fail
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: policyName},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{v1alpha1.Group}, APIVersions: []string{"v1alpha1"},
						Resources: []string{"servicedefaults"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: `!has(object.spec.upstreamConfig) || !has(object.spec.upstreamConfig.overrides) || ` +
					`object.spec.upstreamConfig.overrides.all(o, !has(o.peer) || o.peer == '' || ` +
					`!has(o.meshGateway) || !has(o.meshGateway.mode) || o.meshGateway.mode != 'none')`,
				Message: "an upstream override with a peer must not use meshGateway.mode none",
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policyName},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: policyName,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}},
	}
	if err := b.cluster.Client.Create(ctx, policy); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := b.cluster.Client.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return b.waitDenied(ctx, true, policyName)
}

// createMany creates n valid objects one after another and returns each create's latency.
func (b *bench) createMany(ctx context.Context, prefix string, n int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		obj := serviceDefaults(fmt.Sprintf("%s-%d", prefix, i), "remote")
		start := time.Now()
		if err := b.cluster.Client.Create(ctx, obj); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

func (b *bench) deleteAll(ctx context.Context) error {
	return b.cluster.Client.DeleteAllOf(ctx, &v1alpha1.ServiceDefaults{}, client.InNamespace("default"))
}

// memoryAtScale fills the cluster (8 writers) and reports the webhook's heap and RSS once its
// state index holds every object.
func (b *bench) memoryAtScale(ctx context.Context, sds, peers int) (string, error) {
	baseRSS := float64(b.guard.Memory("VmRSS")) / (1 << 20)
	baseHeap := b.guard.MetricValue("go_memstats_heap_alloc_bytes")
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(8)
	create := func(obj client.Object) { g.Go(func() error { return b.cluster.Client.Create(ctx, obj) }) }
	for i := 0; i < peers; i++ {
		d := &v1alpha1.PeeringDialer{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("dc-%d", i), Namespace: "default"}}
		d.Spec.Peer = &v1alpha1.Peer{Secret: &v1alpha1.Secret{Name: "token", Key: "data", Backend: "kubernetes"}}
		create(d)
	}
	for i := 0; i < sds; i++ {
		create(serviceDefaults(fmt.Sprintf("scale-%d", i), "remote"))
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	// ServiceDefaults are not cached (no state rule reads them); every create went through
	// the webhook, and the dialers are.
	if err := b.guard.WaitForState(wctx, kinds.PeeringDialer, peers); err != nil {
		return "", err
	}
	filled := time.Since(start)
	time.Sleep(2 * time.Second)
	heap := b.guard.MetricValue("go_memstats_heap_alloc_bytes")
	nowRSS := float64(b.guard.Memory("VmRSS")) / (1 << 20)
	return fmt.Sprintf("Memory of `serve` after %d ServiceDefaults and %d PeeringDialers were created (filled in %s by 8 writers through the webhook): "+
		"heap %.1f MiB (%.1f MiB empty, growth %.1f MiB), RSS %.1f MiB (%.1f MiB empty, growth %.1f MiB), peak RSS %.1f MiB.\n",
		sds, peers, filled.Round(time.Second), heap/(1<<20), baseHeap/(1<<20), (heap-baseHeap)/(1<<20),
		nowRSS, baseRSS, nowRSS-baseRSS, float64(b.guard.Memory("VmHWM"))/(1<<20)), nil
}
