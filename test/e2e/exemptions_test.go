package e2e

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// consulFinalizer is the finalizer consul-k8s's controllers put on the Consul CRDs.
const consulFinalizer = "finalizers.consul.hashicorp.com"

// misnamed breaks proxy-defaults-name (a deny rule) in namespace ns.
func misnamed(ns string) string {
	return `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata: {name: not-global, namespace: ` + ns + `}
spec: {}
`
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	if r := cluster.Kubectl("create", "namespace", name); r.Code != 0 && !strings.Contains(r.Stderr, "AlreadyExists") {
		t.Fatalf("creating namespace %s: %s", name, r.Stderr)
	}
}

// With every webhook pod gone and failurePolicy Fail in force, an object carrying
// consul-k8s's finalizer can still be deleted: the not-being-deleted match condition (the
// chart renders the same entries, test/chart checks) keeps the finalizer's removal away
// from the webhook, while any other write is still refused.
func TestFinalizerRemovedWhileTheWebhookIsDown(t *testing.T) {
	useGuard(t)
	reset(t)
	ctx := ctxFor(t)
	mustApply(t, `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata: {name: global, namespace: default, finalizers: [`+consulFinalizer+`]}
spec: {meshGateway: {mode: remote}}
`)
	key := client.ObjectKey{Namespace: "default", Name: "global"}
	t.Cleanup(func() {
		// Whatever happened, leave no object stuck behind its finalizer and a webhook running.
		_ = cluster.Kubectl("patch", "proxydefaults", "global", "-n", "default", "--type=json", `-p=[{"op":"remove","path":"/metadata/finalizers"}]`)
		if err := startGuard(guardArg); err != nil {
			t.Errorf("restarting the webhook: %v", err)
		}
	})

	if err := guard.Stop(); err != nil {
		t.Fatal(err)
	}
	// Fail is in force: an ordinary write cannot reach the webhook and is refused.
	if r := cluster.Kubectl("label", "proxydefaults", "global", "-n", "default", "team=mesh"); r.Code == 0 || !strings.Contains(r.Stderr, "failed calling webhook") {
		t.Fatalf("a label change with the webhook down: exit %d, want it refused for the webhook:\n%s", r.Code, r.Stderr)
	}
	// DELETE is not sent to the webhook; the object stays, marked for deletion, behind its finalizer.
	if r := cluster.Kubectl("delete", "proxydefaults", "global", "-n", "default", "--wait=false"); r.Code != 0 {
		t.Fatalf("delete: %s", r.Stderr)
	}
	var pd v1alpha1.ProxyDefaults
	if err := cluster.Client.Get(ctx, key, &pd); err != nil || pd.DeletionTimestamp == nil {
		t.Fatalf("want the object marked for deletion and still there: %v %+v", err, pd.ObjectMeta)
	}
	// Removing the finalizer, as consul-k8s's controller does once Consul forgot the entry.
	if r := cluster.Kubectl("patch", "proxydefaults", "global", "-n", "default", "--type=json",
		`-p=[{"op":"remove","path":"/metadata/finalizers"}]`); r.Code != 0 {
		t.Fatalf("removing the finalizer with the webhook down was refused:\n%s", r.Stderr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cluster.Client.Get(ctx, key, &v1alpha1.ProxyDefaults{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the object is still there 30s after its finalizer was removed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// --exempt-namespace: the webhook allows objects of that namespace unchecked, for users
// running the binary without the chart's namespaceSelector; other namespaces are judged.
func TestExemptNamespaceFlag(t *testing.T) {
	useGuard(t, "--exempt-namespace=restore")
	reset(t)
	createNamespace(t, "restore")
	counter := `consul_peering_guard_admission_exempted_total{kind="ProxyDefaults"}`
	before := max(guard.MetricValue(counter), 0)
	if r := cluster.Apply(misnamed("restore"), "--dry-run=server"); r.Code != 0 {
		t.Fatalf("refused in the exempt namespace:\n%s", r.Stderr)
	}
	if after := guard.MetricValue(counter); after != before+1 {
		t.Errorf("%s went %v -> %v, want one more", counter, before, after)
	}
	refused(t, cluster.Apply(misnamed("default"), "--dry-run=server"), "metadata.name", "proxy-defaults-name")
}

// webhook.exemptNamespaces of the chart: the namespaceSelector keeps the API server from
// calling the webhook at all for those namespaces, whatever the webhook's flags.
func TestExemptNamespaceSelector(t *testing.T) {
	useGuard(t)
	reset(t)
	createNamespace(t, "break-glass")
	t.Cleanup(func() {
		if err := cluster.RegisterWebhook(webhookConfigName, guard.Port, ca.CertPEM); err != nil {
			t.Errorf("restoring the webhook configuration: %v", err)
		}
	})
	if err := cluster.RegisterWebhookWith(webhookConfigName, guard.Port, ca.CertPEM, func(o *framework.WebhookConfigurationOptions) {
		o.ExemptNamespaces = []string{"break-glass"}
	}); err != nil {
		t.Fatal(err)
	}
	counter := `consul_peering_guard_admission_reviews_total{kind="ProxyDefaults",operation="CREATE",verdict="denied"}`
	// The API server picks the configuration up asynchronously.
	var r framework.Result
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r = cluster.Apply(misnamed("break-glass"), "--dry-run=server"); r.Code == 0 {
			break
		}
	}
	if r.Code != 0 {
		t.Fatalf("refused in the exempt namespace:\n%s", r.Stderr)
	}
	before := max(guard.MetricValue(counter), 0)
	if r := cluster.Apply(misnamed("break-glass"), "--dry-run=server"); r.Code != 0 {
		t.Fatalf("refused in the exempt namespace:\n%s", r.Stderr)
	}
	refused(t, cluster.Apply(misnamed("default"), "--dry-run=server"), "metadata.name", "proxy-defaults-name")
	// Only the review from default reached the webhook.
	if after := guard.MetricValue(counter); after != before+1 {
		t.Errorf("%s went %v -> %v: the exempt namespace's review reached the webhook", counter, before, after)
	}
}

// The not-being-deleted condition cannot be used to slip a write past the webhook: the API
// server clears a deletionTimestamp sent on CREATE before the webhook is asked (so the object
// is judged), and refuses one sent on UPDATE (it is immutable), so the stored object stays.
func TestDeletionTimestampCannotBypassTheWebhook(t *testing.T) {
	useGuard(t)
	reset(t)
	ctx := ctxFor(t)
	const stamp = `deletionTimestamp: "2020-01-01T00:00:00Z"`
	refused(t, cluster.Apply(`apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata: {name: not-global, namespace: default, `+stamp+`}
spec: {}
`), "metadata.name", "proxy-defaults-name")
	mustApply(t, proxyDefaults("remote", ""))
	if r := cluster.Apply(`apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata: {name: global, namespace: default, ` + stamp + `}
spec: {meshGateway: {mode: remotee}}
`); r.Code == 0 {
		t.Fatalf("an update setting deletionTimestamp was accepted:\n%s", r.Stdout)
	}
	var pd v1alpha1.ProxyDefaults
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "global"}, &pd); err != nil {
		t.Fatal(err)
	}
	if pd.DeletionTimestamp != nil || pd.Spec.MeshGateway.Mode != "remote" {
		t.Fatalf("the stored object changed: deletionTimestamp %v, mode %q", pd.DeletionTimestamp, pd.Spec.MeshGateway.Mode)
	}
}
