package reliability

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

const dialerCRD = "peeringdialers.consul.hashicorp.com"

// kubectl runs bin/kubectl as the admin and fails the test when it fails.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	r := cluster.Kubectl(args...)
	if r.Code != 0 {
		t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r.Stderr)
	}
	return r.Stdout
}

// installDialerCRD installs the PeeringDialer CRD and waits until it is served.
func installDialerCRD(t *testing.T) {
	t.Helper()
	kubectl(t, "apply", "-f", filepath.Join(cluster.Root, "test", "crds", "consul.hashicorp.com_peeringdialers.yaml"))
	kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/"+dialerCRD)
}

// waitFor polls cond every 100ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}

func kindWatched(w *framework.Webhook, kind string) float64 {
	return w.MetricValue(fmt.Sprintf(`consul_peering_guard_kind_watched{kind="%s"}`, kind))
}

// A CRD missing when serve starts is not a crash: the other kinds are watched and judged,
// readiness is true, the kind is reported unwatched, and once its CRD is installed the kind
// is watched and its state rules work without a restart.
func TestMissingCRDIsWatchedOnceInstalled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := cluster.Client.DeleteAllOf(ctx, &v1alpha1.PeeringDialer{}, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "delete", "crd", dialerCRD, "--wait=true", "--timeout=60s")
	t.Cleanup(func() { installDialerCRD(t) })
	// The CRD object is gone before discovery forgets its resource.
	waitFor(t, 30*time.Second, "peeringdialers gone from discovery", func() bool {
		r := cluster.Kubectl("api-resources", "--api-group=consul.hashicorp.com", "-o", "name")
		return r.Code == 0 && !strings.Contains(r.Stdout, "peeringdialers")
	})

	w, _ := startGuard(t, "--kind-recheck-interval=1s")
	if v := kindWatched(w, string(kinds.PeeringDialer)); v != 0 {
		t.Errorf("kind_watched{PeeringDialer} = %v without its CRD, want 0", v)
	}
	for _, k := range []string{string(kinds.Mesh), string(kinds.ProxyDefaults),
		string(kinds.ExportedServices), string(kinds.PeeringAcceptor), state.DeploymentKind} {
		if v := kindWatched(w, k); v != 1 {
			t.Errorf("kind_watched{%s} = %v, want 1", k, v)
		}
	}
	if v := w.MetricValue("consul_peering_guard_cache_synced"); v != 1 {
		t.Errorf("cache_synced = %v, want 1 with the other kinds synced", v)
	}
	// The other kinds are judged.
	c := framework.TLSClient(ca.CertPEM, false)
	for _, s := range framework.Samples(1)[:4] {
		code, resp, err := framework.PostReview(c, base(w), s.Kind, framework.ReviewBody(s.Kind, "CREATE", s.Object, ""))
		if err != nil || code != http.StatusOK || resp == nil || resp.Allowed != s.Allowed {
			t.Fatalf("%s review without the PeeringDialer CRD: HTTP %d %v %+v, want allowed=%v", s.Kind, code, err, resp, s.Allowed)
		}
	}

	installDialerCRD(t)
	waitFor(t, 30*time.Second, "kind_watched{PeeringDialer} = 1 after the CRD was installed", func() bool {
		return kindWatched(w, string(kinds.PeeringDialer)) == 1
	})
	if err := w.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Exited():
		t.Fatalf("serve exited: %v\n%s", w.ExitErr(), w.Logs())
	default:
	}
	// The new kind feeds the state rules: a second dialer named like an existing one is refused.
	dialer := &v1alpha1.PeeringDialer{ObjectMeta: metav1.ObjectMeta{Name: "dc9", Namespace: "default"},
		Spec: v1alpha1.PeeringSpec{Peer: &v1alpha1.Peer{Secret: &v1alpha1.Secret{Name: "dc9-token", Key: "data", Backend: "kubernetes"}}}}
	if err := cluster.Client.Create(ctx, dialer); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), dialer) })
	if err := w.WaitForState(ctx, kinds.PeeringDialer, 1); err != nil {
		t.Fatal(err)
	}
	twin := `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"PeeringDialer","metadata":{"name":"dc9","namespace":"team-b"},` +
		`"spec":{"peer":{"secret":{"name":"dc9-token","key":"data","backend":"kubernetes"}}}}`
	code, resp, err := framework.PostReview(c, base(w), kinds.PeeringDialer, framework.ReviewBody(kinds.PeeringDialer, "CREATE", twin, ""))
	if err != nil || code != http.StatusOK || resp == nil || resp.Allowed {
		t.Fatalf("a second dialer dc9: HTTP %d %v %+v, want denied", code, err, resp)
	}
	if !deniedBy(resp.Result, "metadata.name", "peer-name-unique") {
		t.Fatalf("a second dialer dc9 was not refused by peer-name-unique at metadata.name: %+v", resp.Result)
	}
}

// deniedBy reports whether a 422 carries a cause at field from rule.
func deniedBy(s *metav1.Status, field, rule string) bool {
	if s == nil || s.Code != http.StatusUnprocessableEntity || s.Details == nil {
		return false
	}
	for _, c := range s.Details.Causes {
		if c.Field == field && strings.HasSuffix(c.Message, "("+rule+")") {
			return true
		}
	}
	return false
}

// Before its state has synced the webhook refuses every review with 503 "caches not
// synced", directly and through the API server, instead of judging against an empty cluster;
// and a SIGTERM then ends the process well within the grace period.
func TestRefusesUntilSyncedAndStopsPromptly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A user who may not list PeeringDialers never syncs.
	kubeconfig, _ := userWithoutDialerReads(ctx, t, "guard-unsynced")
	certDir := filepath.Join(t.TempDir(), "certs")
	if _, err := ca.WriteServing(certDir); err != nil {
		t.Fatal(err)
	}
	const delay, timeout = time.Second, 5 * time.Second
	w, err := framework.StartWebhook(binary, kubeconfig, certDir, "--log-format=json",
		"--shutdown-delay="+delay.String(), "--shutdown-timeout="+timeout.String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	waitFor(t, 30*time.Second, "the TLS server serving while the caches have not synced", func() bool {
		_, body := w.Ready()
		return strings.Contains(body, "[+]webhook") && strings.Contains(body, "[-]caches")
	})

	// Directly: a review that would be allowed is refused, answered as a review.
	sample := framework.Samples(1)[2] // ProxyDefaults global, allowed once synced
	body := framework.ReviewBody(sample.Kind, "CREATE", sample.Object, "")
	code, resp, err := framework.PostReview(framework.TLSClient(ca.CertPEM, false), base(w), sample.Kind, body)
	if err != nil || code != http.StatusOK || resp == nil {
		t.Fatalf("review before the sync: HTTP %d %v %+v", code, err, resp)
	}
	if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusServiceUnavailable || resp.Result.Message != webhook.NotSyncedMessage {
		t.Fatalf("review before the sync: allowed=%v result %+v, want refused with 503 %q", resp.Allowed, resp.Result, webhook.NotSyncedMessage)
	}

	// Through the API server: kubectl shows why.
	vwcName := "unsynced-guard"
	if err := cluster.RegisterWebhook(vwcName, w.Port, ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.UnregisterWebhook(vwcName) })
	manifest := `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata: {name: global, namespace: default}
spec: {}
`
	waitFor(t, 30*time.Second, "kubectl apply refused with the not-synced message", func() bool {
		r := cluster.Apply(manifest, "--dry-run=server")
		return r.Code != 0 && strings.Contains(r.Stderr, webhook.NotSyncedMessage)
	})
	if err := cluster.UnregisterWebhook(vwcName); err != nil {
		t.Fatal(err)
	}

	// SIGTERM before the sync: the process exits, cleanly, within the chart's grace period
	// (delay + timeout + 10s).
	start := time.Now()
	if err := syscall.Kill(w.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	grace := delay + timeout + 10*time.Second
	select {
	case <-w.Exited():
	case <-time.After(grace):
		t.Fatalf("still running %s after SIGTERM before the sync", grace)
	}
	took := time.Since(start)
	if err := w.ExitErr(); err != nil {
		t.Errorf("exit: %v", err)
	}
	t.Logf("SIGTERM before the sync: exited after %s (shutdown delay %s, grace period %s)", took.Round(time.Millisecond), delay, grace)
}

// With --mesh-gateway-namespace the webhook lists Deployments only in that namespace: the
// chart's Role there is all it needs to become ready, and a ready gateway elsewhere does
// not count.
func TestGatewayNamespaceNeedsOnlyARole(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const gwNamespace = "consul"
	if r := cluster.Kubectl("create", "namespace", gwNamespace); r.Code != 0 && !strings.Contains(r.Stderr, "AlreadyExists") {
		t.Fatalf("creating namespace %s: %s", gwNamespace, r.Stderr)
	}
	name := "guard-gateway-namespace"
	kubeconfig, err := cluster.KubeconfigFor(envtest.User{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	user := []rbacv1.Subject{{Kind: "User", Name: name, APIGroup: "rbac.authorization.k8s.io"}}
	objs := []client.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{"consul.hashicorp.com"},
			Resources: []string{"meshes", "proxydefaults", "servicedefaults", "exportedservices", "peeringacceptors", "peeringdialers", "samenessgroups"}, Verbs: []string{"get", "list", "watch"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Subjects: user,
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: gwNamespace}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{"apps"},
			Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: gwNamespace}, Subjects: user,
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name}},
	}
	for _, obj := range objs {
		if err := cluster.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), obj) })
	}
	certDir := filepath.Join(t.TempDir(), "certs")
	if _, err := ca.WriteServing(certDir); err != nil {
		t.Fatal(err)
	}
	w, err := framework.StartWebhook(binary, kubeconfig, certDir, "--log-format=json", "--mesh-gateway-namespace="+gwNamespace)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	if err := w.WaitReady(time.Minute); err != nil {
		t.Fatal(err)
	}
	// The suite's ready gateway in default is outside the namespace.
	if v := w.MetricValue("consul_peering_guard_mesh_gateways_ready"); v != 0 {
		t.Fatalf("mesh_gateways_ready = %v, want 0: the gateway in default is outside --mesh-gateway-namespace", v)
	}
	one := int32(1)
	labels := map[string]string{"component": "mesh-gateway"}
	gw := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "mesh-gateway", Namespace: gwNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: podTemplate(labels)}}
	if err := cluster.Client.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), gw) })
	if err := cluster.MarkDeploymentReady(ctx, gwNamespace, gw.Name, 1); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := w.WaitForGateways(wctx, 1); err != nil {
		t.Fatal(err)
	}
}
