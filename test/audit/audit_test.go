package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/openreports"
	"github.com/consul-peering-guard/consul-peering-guard/internal/server"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// serviceDefaults has n overrides to peers no PeeringAcceptor or PeeringDialer names: n
// upstream-peer-known warnings.
func serviceDefaults(ns, name string, n int) *v1alpha1.ServiceDefaults {
	return serviceDefaultsWithLocal(ns, name, n, 0)
}

// serviceDefaultsWithLocal has n overrides to unknown peers and local more to local
// services, which break no rule.
func serviceDefaultsWithLocal(ns, name string, n, local int) *v1alpha1.ServiceDefaults {
	sd := &v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	sd.Spec.UpstreamConfig = &v1alpha1.Upstreams{}
	for i := range n {
		sd.Spec.UpstreamConfig.Overrides = append(sd.Spec.UpstreamConfig.Overrides,
			&v1alpha1.Upstream{Name: fmt.Sprintf("api-%d", i), Peer: fmt.Sprintf("dc-%d", i)})
	}
	for i := range local {
		sd.Spec.UpstreamConfig.Overrides = append(sd.Spec.UpstreamConfig.Overrides,
			&v1alpha1.Upstream{Name: fmt.Sprintf("local-service-number-%d", i)})
	}
	return sd
}

const warnings = `consul_peering_guard_audit_violations{action="warn",rule="upstream-peer-known"}`

// startServe starts `serve` with extra flags and waits until it is ready.
func startServe(t *testing.T, bin, certs string, extra ...string) *framework.Webhook {
	t.Helper()
	w, err := framework.StartWebhook(bin, cluster.Kubeconfig, certs, append([]string{"--log-format=text"}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WaitReady(2 * time.Minute); err != nil {
		_ = w.Stop()
		t.Fatalf("%v\n%s", err, w.Logs())
	}
	return w
}

// waitFor polls cond every 200ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}

func binaryAndCerts(t *testing.T) (string, string) {
	t.Helper()
	bin, err := framework.BuildBinary(cluster.Root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := framework.NewCA("audit-ca")
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(t.TempDir(), "certs")
	if _, err := ca.WriteServing(certs); err != nil {
		t.Fatal(err)
	}
	return bin, certs
}

// Issue 23, item 1: a workload that a state rule finds after it was admitted (here an
// upstream to a peer no PeeringAcceptor or PeeringDialer names) is reported by the periodic
// audit, never by refusing its rollout: an Event regarding the Deployment and a result in
// its namespace's Report whose subject is the apps/v1 Deployment. The ReplicaSet its
// controller made carries the same pod template and is never judged. It runs first: the
// audit writes an Event per object with findings, and the objects the later tests store
// would queue its Event behind thousands of theirs.
func TestAuditReportsWorkloadsItNeverRefuses(t *testing.T) {
	bin, certs := binaryAndCerts(t) // before the deadline: the first build of the package may be long
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const ns, upstreams = "workloads", "api.svc.dc9.peer:9090"
	c := reportClient(t)
	if err := eventsv1.AddToScheme(c.Scheme()); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
			validators.ConnectInjectAnnotation: "true", validators.UpstreamsAnnotation: upstreams}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
	}
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}
	if err := c.Create(ctx, deploy); err != nil {
		t.Fatal(err)
	}
	// No controller runs here to collect them: the other audits count warnings of this rule.
	t.Cleanup(func() { _ = c.Delete(context.Background(), deploy) })
	controller := true
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-5d8f7c",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: deploy.Name, UID: deploy.UID, Controller: &controller}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}
	if err := c.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), rs) })

	w := startServe(t, bin, certs, "--audit-interval=1s", "--reports", "--audit-lease-namespace="+ns)
	defer func() { _ = w.Stop() }()

	var report orv1alpha1.Report
	if !waitFor(time.Minute, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: openreports.Name}, &report) == nil && len(report.Results) > 0
	}) {
		t.Fatalf("no Report with a result in %s within a minute:\n%s", ns, w.Logs())
	}
	if len(report.Results) != 1 {
		t.Fatalf("Report results %+v, want one, for the Deployment", report.Results)
	}
	res := report.Results[0]
	want := corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: deploy.Name, UID: deploy.UID}
	if res.Policy != "upstream-peer-known" || res.Result != "warn" || len(res.Subjects) != 1 || res.Subjects[0] != want {
		t.Errorf("result %s %s on %+v, want upstream-peer-known warn on %+v", res.Policy, res.Result, res.Subjects, want)
	}
	if field := res.Properties[openreports.FieldProperty]; field != "spec.template.metadata.annotations["+validators.UpstreamsAnnotation+"]" {
		t.Errorf("result field %q, want the Deployment's pod template annotation", field)
	}

	regarding := func() map[string]bool {
		var events eventsv1.EventList
		out := map[string]bool{}
		if err := c.List(ctx, &events, client.InNamespace(ns)); err == nil {
			for _, e := range events.Items {
				if e.Reason == server.EventReason {
					out[e.Regarding.APIVersion+" "+e.Regarding.Kind+"/"+e.Regarding.Name] = true
				}
			}
		}
		return out
	}
	if !waitFor(time.Minute, func() bool { return regarding()["apps/v1 Deployment/"+deploy.Name] }) {
		t.Fatalf("no %s Event regarding apps/v1 Deployment %s within a minute: %v", server.EventReason, deploy.Name, regarding())
	}
	// Several more audits (one a second): still nothing regards the ReplicaSet.
	time.Sleep(3 * time.Second)
	for r := range regarding() {
		if r != "apps/v1 Deployment/"+deploy.Name {
			t.Errorf("an Event regards %s; only the Deployment people wrote is judged", r)
		}
	}
}

// TestAuditMemoryAgainstStoredObjects prints the peak memory (VmHWM) of `serve` through its
// first audit, against the number of stored ServiceDefaults (200 overrides each, one of them
// to an unknown peer): without the audit, auditing with every kind in one list
// (--audit-chunk-size=0, what the audit did before) and in pages of 100. Every audit must
// find every warning.
func TestAuditMemoryAgainstStoredObjects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	const ns, overrides, local = "audited", 1, 199
	if err := cluster.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	bin, certs := binaryAndCerts(t)
	stored := 0
	t.Logf("%-8s %-14s %-16s %-16s %s", "objects", "no audit MiB", "one list MiB", "pages of 100 MiB", "(peak RSS, VmHWM)")
	for _, n := range []int{500, 2000} {
		var g errgroup.Group
		g.SetLimit(8)
		for i := stored; i < n; i++ {
			g.Go(func() error {
				return cluster.Client.Create(ctx, serviceDefaultsWithLocal(ns, fmt.Sprintf("web-%05d", i), overrides, local))
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		stored = n
		var peaks []float64
		for _, flags := range [][]string{
			nil,
			{"--audit-interval=1h", "--audit-chunk-size=0", "--audit-leader-election=false"},
			{"--audit-interval=1h", "--audit-chunk-size=100", "--audit-leader-election=false"},
		} {
			w := startServe(t, bin, certs, flags...)
			if len(flags) > 0 && !waitFor(3*time.Minute, func() bool { return w.MetricValue(warnings) == float64(n*overrides) }) {
				t.Errorf("%v: the audit of %d objects found %v warnings, want %d", flags, n, w.MetricValue(warnings), n*overrides)
			}
			peaks = append(peaks, float64(w.Memory("VmHWM"))/(1<<20))
			if err := w.Stop(); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%-8d %-14.1f %-16.1f %-16.1f", n, peaks[0], peaks[1], peaks[2])
		// Pages hold one page, not every object: what they add to the process is a fraction
		// of what listing all of them at once adds, measured in the same run.
		if paged, whole := peaks[2]-peaks[0], peaks[1]-peaks[0]; n >= 2000 && paged*2 > whole {
			t.Errorf("%d objects: pages of 100 add %.1f MiB, one list %.1f MiB; want pages under half of it", n, paged, whole)
		}
	}
}

// TestOneReplicaAudits: two replicas with --audit-interval elect one auditor through the
// Lease consul-peering-guard-audit; only it publishes the audit's findings. When it stops,
// the other takes the Lease and audits.
func TestOneReplicaAudits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const ns = "elected"
	if err := cluster.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.Create(ctx, serviceDefaults(ns, "web", 3)); err != nil {
		t.Fatal(err)
	}
	bin, certs := binaryAndCerts(t)
	flags := []string{"--audit-interval=1s", "--audit-lease-namespace=" + ns}
	replicas := []*framework.Webhook{startServe(t, bin, certs, flags...), startServe(t, bin, certs, flags...)}
	defer func() {
		for _, w := range replicas {
			_ = w.Stop()
		}
	}()
	auditing := func() []int {
		var out []int
		for i, w := range replicas {
			if w.MetricValue(warnings) > 0 {
				out = append(out, i)
			}
		}
		return out
	}
	if !waitFor(time.Minute, func() bool { return len(auditing()) > 0 }) {
		t.Fatalf("no replica audits within a minute:\n%s\n%s", replicas[0].Logs(), replicas[1].Logs())
	}
	// Several audit intervals: still exactly one replica audits.
	time.Sleep(5 * time.Second)
	leaders := auditing()
	if len(leaders) != 1 {
		t.Fatalf("replicas %v publish the audit's findings, want exactly one", leaders)
	}
	var lease coordinationv1.Lease
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: server.AuditLeaseName}, &lease); err != nil {
		t.Fatalf("the Lease %s/%s: %v", ns, server.AuditLeaseName, err)
	}
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	t.Logf("replica %d audits; Lease holder %q", leaders[0], holder)
	if holder == "" || !strings.Contains(holder, "_") {
		t.Errorf("Lease holder %q, want a host name and a random suffix", holder)
	}

	// The auditor stops (releasing the Lease): the other replica takes over.
	leader, other := leaders[0], 1-leaders[0]
	if err := replicas[leader].Stop(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if !waitFor(time.Minute, func() bool { return replicas[other].MetricValue(warnings) > 0 }) {
		t.Fatalf("the other replica did not take over the audit within a minute:\n%s", replicas[other].Logs())
	}
	t.Logf("the other replica audited %.1fs after the auditor stopped", time.Since(start).Seconds())
}
