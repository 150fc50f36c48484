package vap

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

const combinedNamespace = "combined"

// Objects of the combined setup, in its namespace.
const (
	wildcardUpstream = `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceDefaults
metadata: {name: web, namespace: combined}
spec:
  upstreamConfig:
    overrides: [{name: "*"}]
`
	undecodableProxyConfig = `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata: {name: global, namespace: combined}
spec:
  config: {local_connect_timeout_ms: "5s"}
`
	exportWithoutGateway = `apiVersion: consul.hashicorp.com/v1alpha1
kind: ExportedServices
metadata: {name: default, namespace: combined}
spec:
  services: [{name: api, consumers: [{peer: dc2}]}]
`
)

// TestPoliciesBesideTheWebhook installs the policies and the webhook started with
// --skip-object-rules, as the chart does with validatingAdmissionPolicies.enabled: an
// object-only violation is refused once, by the API server; the state rules and the
// webhook-only rules are still the webhook's; and with failurePolicy Ignore and no webhook
// pod answering, the policies still refuse what they enforce.
func TestPoliciesBesideTheWebhook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"vap.consul-peering-guard.io/combined": "true"}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: combinedNamespace, Labels: selector.MatchLabels}}
	if err := cluster.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}

	bin, err := framework.BuildBinary(cluster.Root, cluster.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := framework.NewCA("vap-ca")
	if err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(cluster.Dir, "vap-certs")
	if _, err := ca.WriteServing(certDir); err != nil {
		t.Fatal(err)
	}
	w, err := framework.StartWebhook(bin, cluster.Kubeconfig, certDir, "--log-format=text", "--skip-object-rules")
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = w.Stop()
		}
	}()
	if err := w.WaitReady(time.Minute); err != nil {
		t.Fatalf("%v\n%s", err, w.Logs())
	}
	const name = "consul-peering-guard-combined"
	if err := cluster.RegisterWebhookWith(name, w.Port, ca.CertPEM, func(o *framework.WebhookConfigurationOptions) {
		o.FailurePolicy = admissionregistrationv1.Ignore
		o.NamespaceSelector = selector
	}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cluster.UnregisterWebhook(name) }()

	set, err := policies.Generate(validators.Config{}, "default")
	if err != nil {
		t.Fatal(err)
	}
	set = rename(set, ".combined")
	for _, p := range set.Policies {
		p.Binding.Spec.MatchResources = &admissionregistrationv1.MatchResources{NamespaceSelector: selector}
	}
	for _, o := range set.Objects() {
		if err := cluster.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	// Both in effect: the policy refuses the wildcard, the webhook the export.
	eventually(t, "the policies and the webhook in effect", func() bool {
		return refusedBy(wildcardUpstream, "upstream-no-wildcard") && refusedBy(exportWithoutGateway, "export-needs-mesh-gateway")
	})

	r := cluster.Apply(wildcardUpstream, "--dry-run=server")
	if !strings.Contains(r.Stderr, "ValidatingAdmissionPolicy") || strings.Count(r.Stderr, "(upstream-no-wildcard)") != 1 {
		t.Errorf("want one refusal by the policy, got: %s", r.Stderr)
	}
	r = cluster.Apply(undecodableProxyConfig, "--dry-run=server")
	if r.Code == 0 || !strings.Contains(r.Stderr, "(proxy-config-decodes)") || strings.Contains(r.Stderr, "ValidatingAdmissionPolicy") {
		t.Errorf("want the webhook to refuse a webhook-only rule, got exit %d: %s", r.Code, r.Stderr)
	}
	r = cluster.Apply(exportWithoutGateway, "--dry-run=server")
	if strings.Contains(r.Stderr, "ValidatingAdmissionPolicy") {
		t.Errorf("a state rule came from a policy: %s", r.Stderr)
	}
	// A list longer than the policies afford skips them; the webhook judges the object with
	// the rules they enforce, once.
	huge := serviceDefaultsWith(combinedNamespace, "huge", validators.DefaultPolicyMaxListItems+1, "*")
	err = cluster.Client.Create(ctx, huge, client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), "admission webhook") || strings.Count(err.Error(), "(upstream-no-wildcard)") != 1 ||
		strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
		t.Errorf("a wildcard override in a list beyond the bound: want one refusal by the webhook, got %.500v", err)
	}

	// Every webhook pod gone, failurePolicy Ignore: the state rules are not enforced, the
	// policies still are.
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	eventually(t, "the export allowed without the webhook", func() bool {
		return cluster.Apply(exportWithoutGateway, "--dry-run=server").Code == 0
	})
	if !refusedBy(wildcardUpstream, "upstream-no-wildcard") {
		t.Error("the policy stopped refusing while the webhook is down")
	}
}

func refusedBy(manifest, rule string) bool {
	r := cluster.Apply(manifest, "--dry-run=server")
	return r.Code != 0 && strings.Contains(r.Stderr, "("+rule+")")
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
