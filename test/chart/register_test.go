package chart

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/server"
)

// TestInstallThatCannotStartBlocksNothing installs the chart with an image no node can pull
// (no kubelet runs here, so no webhook pod ever starts: the case of a missing image or a
// crash loop) and failurePolicy Fail. No ValidatingWebhookConfiguration exists then, so a
// ProxyDefaults that proxy-defaults-name refuses is written unchecked. Then serve runs as the
// chart's pod would (its args, mounted ConfigMap and Secret, ServiceAccount token, reached
// through the chart's Service): it applies the configuration itself, and the same write is
// refused by the rule at metadata.name. helm uninstall deletes the ClusterRole that owns the
// configuration, and the garbage collector deletes the configuration.
func TestInstallThatCannotStartBlocksNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver, etcd, kube-controller-manager and the webhook in a network namespace")
	}
	l := newLive(t, 5*time.Minute)
	cluster, c, ctx := l.cluster, l.c, l.ctx

	ca := newCA(t, "own")
	const secret = "my-webhook-tls"
	svcName := release + "." + namespace + ".svc"
	crt, key := issue(t, ca, []string{svcName, svcName + ".cluster.local"})
	if res := cluster.Apply(fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ntype: kubernetes.io/tls\ndata: {tls.crt: %s, tls.key: %s}\n",
		namespace, secret, namespace, base64.StdEncoding.EncodeToString(crt), base64.StdEncoding.EncodeToString(key))); res.Code != 0 {
		t.Fatalf("creating the Secret: %+v", res)
	}
	r := l.install("install", release, chartDir, "--namespace", namespace,
		"--set", "image.repository=registry.invalid/no-such-image", "--set", "webhook.failurePolicy=Fail",
		"--set", "certManager.enabled=false", "--set", "tls.existingSecret="+secret,
		"--set", "tls.caBundle="+base64.StdEncoding.EncodeToString(ca.CertPEM), "--kubeconfig", cluster.Kubeconfig)
	if r.webhookConfig.Webhooks[0].FailurePolicy == nil || *r.webhookConfig.Webhooks[0].FailurePolicy != admissionregistrationv1.Fail {
		t.Fatalf("the rendered configuration is not failurePolicy Fail: %v", r.webhookConfig.Webhooks[0].FailurePolicy)
	}

	// Installed, no webhook: nothing registered, the write goes through unchecked.
	if names := webhookConfigurationNames(l); len(names) != 0 {
		t.Fatalf("helm install registered %v while no webhook serves", names)
	}
	if err := writeNotGlobal(l); err != nil {
		t.Fatalf("with the webhook not running, the ProxyDefaults write was refused: %v", err)
	}

	// serve as the pod runs it: it registers the configuration, and the rule refuses.
	began := time.Now()
	guard := l.serve(r)
	t.Logf("serve started, registered and called through the Service in %s", time.Since(began).Round(time.Millisecond))
	checkRefusedByRule(t, writeNotGlobal(l), "proxy-defaults-name", "metadata.name")
	checkRegistered(l, r)

	// Applied again by a restarted (or another) replica, the same object changes nothing.
	var before, after admissionregistrationv1.ValidatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: r.webhookConfig.Name}, &before); err != nil {
		t.Fatal(err)
	}
	guard.stop()
	guard = l.serve(r)
	if err := c.Get(ctx, client.ObjectKey{Name: r.webhookConfig.Name}, &after); err != nil {
		t.Fatal(err)
	}
	if before.Generation != after.Generation || !slices.Equal(webhookConfigurationNames(l), []string{r.webhookConfig.Name}) {
		t.Errorf("a second apply changed the configuration (generation %d, then %d) or added one: %v", before.Generation, after.Generation, webhookConfigurationNames(l))
	}

	// helm uninstall: the owner goes, the garbage collector deletes the configuration.
	l.uninstall(r)
	guard.stop()
	if err := writeNotGlobal(l); err != nil {
		t.Errorf("after helm uninstall the ProxyDefaults write is refused: %v", err)
	}
}

// writeNotGlobal creates (server-side dry run) a ProxyDefaults not named global, which the
// rule proxy-defaults-name refuses at metadata.name.
func writeNotGlobal(l *live) error {
	obj := &v1alpha1.ProxyDefaults{ObjectMeta: metav1.ObjectMeta{Name: "not-global", Namespace: "default"}}
	return l.c.Create(l.ctx, obj, client.DryRunAll)
}

// checkRefusedByRule: the API server refused with 422 Invalid, one cause at field naming rule.
func checkRefusedByRule(t *testing.T, err error, rule, field string) {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsInvalid(err) {
		t.Fatalf("want 422 Invalid from the webhook, got %v", err)
	}
	details := status.Status().Details
	if details == nil {
		t.Fatalf("the refusal names no field: %v", err)
	}
	for _, c := range details.Causes {
		if c.Field == field && strings.Contains(c.Message, "("+rule+")") {
			return
		}
	}
	t.Errorf("no cause at %s by %s in %+v", field, rule, details.Causes)
}

// checkRegistered: the applied configuration is the rendered one, owned by the chart's
// ClusterRole and managed by serve's field manager alone.
func checkRegistered(l *live, r *liveRelease) {
	t := l.t
	t.Helper()
	var got admissionregistrationv1.ValidatingWebhookConfiguration
	if err := l.c.Get(l.ctx, client.ObjectKey{Name: r.webhookConfig.Name}, &got); err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := l.c.Get(l.ctx, client.ObjectKey{Name: r.fullname}, &role); err != nil {
		t.Fatal(err)
	}
	if refs := got.OwnerReferences; len(refs) != 1 || refs[0].Kind != "ClusterRole" || refs[0].Name != role.Name || refs[0].UID != role.UID {
		t.Errorf("ownerReferences %+v, want the ClusterRole %s (%s)", refs, role.Name, role.UID)
	}
	for _, m := range got.ManagedFields {
		if m.Manager != server.FieldManager || m.Operation != metav1.ManagedFieldsOperationApply {
			t.Errorf("field manager %s (%s) also writes the configuration", m.Manager, m.Operation)
		}
	}
	if len(got.Webhooks) != len(r.webhookConfig.Webhooks) {
		t.Fatalf("%d entries applied, %d rendered", len(got.Webhooks), len(r.webhookConfig.Webhooks))
	}
	for i, w := range got.Webhooks {
		want := r.webhookConfig.Webhooks[i]
		if w.Name != want.Name || string(w.ClientConfig.CABundle) != string(want.ClientConfig.CABundle) || *w.FailurePolicy != *want.FailurePolicy {
			t.Errorf("entry %d: applied %s (failurePolicy %s), rendered %s (failurePolicy %s), or another caBundle", i, w.Name, *w.FailurePolicy, want.Name, *want.FailurePolicy)
		}
	}
}

// webhookConfigurationNames lists every ValidatingWebhookConfiguration of the cluster.
func webhookConfigurationNames(l *live) []string {
	var vwcs admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := l.c.List(l.ctx, &vwcs); err != nil {
		l.t.Fatal(err)
	}
	var names []string
	for _, v := range vwcs.Items {
		names = append(names, v.Name)
	}
	return names
}
