package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

const (
	dialerDC2 = `apiVersion: consul.hashicorp.com/v1alpha1
kind: PeeringDialer
metadata: {name: dc2, namespace: default}
spec: {peer: {secret: {name: dc2-token, key: data, backend: kubernetes}}}
`
	gatewayDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: mesh-gateway, namespace: default, labels: {app: consul, component: mesh-gateway}}
spec:
  replicas: 1
  selector: {matchLabels: {component: mesh-gateway}}
  template:
    metadata: {labels: {component: mesh-gateway}}
    spec: {containers: [{name: gw, image: hashicorp/consul-dataplane:1.6.0}]}
`
	exportToDC2 = `apiVersion: consul.hashicorp.com/v1alpha1
kind: ExportedServices
metadata: {name: default, namespace: default%s}
spec: {services: [{name: backend, consumers: [{peer: dc2}]}]}
`
)

func serviceDefaults(mode string) string {
	return `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceDefaults
metadata: {name: frontend, namespace: default}
spec:
  upstreamConfig:
    overrides:
      - {name: backend, peer: dc2, meshGateway: {mode: ` + mode + `}}
`
}

func proxyDefaults(mode, labels string) string {
	return `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata: {name: global, namespace: default` + labels + `}
spec: {meshGateway: {mode: ` + mode + `}}
`
}

func mustApply(t *testing.T, manifest string) framework.Result {
	t.Helper()
	r := cluster.Apply(manifest)
	if r.Code != 0 {
		t.Fatalf("apply refused:\n%s\n%s", manifest, r.Stderr)
	}
	return r
}

func refused(t *testing.T, r framework.Result, field, rule string) {
	t.Helper()
	if r.Code == 0 || !strings.Contains(r.Stderr, field+": ") || !strings.Contains(r.Stderr, "("+rule+")") {
		t.Fatalf("want a refusal with %s at %s, got exit %d:\n%s", rule, field, r.Code, r.Stderr)
	}
}

func warned(t *testing.T, r framework.Result, field, rule string) {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("refused, want only a warning:\n%s", r.Stderr)
	}
	for _, line := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(line, "Warning: "+field+": ") && strings.HasSuffix(line, "("+rule+")") {
			return
		}
	}
	t.Fatalf("no warning of %s at %s on stderr:\n%s", rule, field, r.Stderr)
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := framework.Context(time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func addGateway(t *testing.T, ctx context.Context) {
	t.Helper()
	mustApply(t, gatewayDeployment)
	if err := cluster.MarkDeploymentReady(ctx, "default", "mesh-gateway", 1); err != nil {
		t.Fatal(err)
	}
	if err := guard.WaitForGateways(ctx, 1); err != nil {
		t.Fatal(err)
	}
}

func removeGateway(t *testing.T, ctx context.Context) {
	t.Helper()
	if r := cluster.Kubectl("delete", "deployment", "mesh-gateway", "-n", "default"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	if err := guard.WaitForGateways(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

// Proof that the refusals come from the webhook: without the webhook configuration the CRD
// schema accepts the object; with it, the same apply is refused and the webhook counts it.
func TestOnlyTheWebhookRefusesIt(t *testing.T) {
	useGuard(t)
	reset(t)
	bad := serviceDefaults("none")
	unregisterWebhook(t)
	r := cluster.Apply(bad, "--dry-run=server")
	if r.Code != 0 {
		t.Fatalf("without the webhook the API server should accept it: %s", r.Stderr)
	}
	if err := cluster.RegisterWebhook(webhookConfigName, guard.Port, ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	counter := `consul_peering_guard_rule_violations_total{action="deny",kind="ServiceDefaults",operation="CREATE",rule="gateway-mode-none-peer-upstream"}`
	before := max(guard.MetricValue(counter), 0)
	// The API server picks the configuration up asynchronously.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if r = cluster.Apply(bad); r.Code != 0 {
			break
		}
		_ = cluster.Kubectl("delete", "servicedefaults", "frontend", "-n", "default")
		time.Sleep(200 * time.Millisecond)
	}
	refused(t, r, "spec.upstreamConfig.overrides[0].meshGateway.mode", "gateway-mode-none-peer-upstream")
	if after := guard.MetricValue(counter); after <= before {
		t.Errorf("the webhook did not count the denial: %v -> %v", before, after)
	}
}

func TestWarningsReachKubectl(t *testing.T) {
	useGuard(t)
	reset(t)
	r := mustApply(t, serviceDefaults("remote"))
	warned(t, r, "spec.upstreamConfig.overrides[0].peer", "upstream-peer-known")
}

// UPDATE: introducing a violation is refused, the fix is accepted, and a violation caused by
// unrelated state only warns so the object stays editable.
func TestUpdates(t *testing.T) {
	useGuard(t)
	reset(t)
	ctx := ctxFor(t)
	mustApply(t, dialerDC2)
	if err := guard.WaitForState(ctx, kinds.PeeringDialer, 1); err != nil {
		t.Fatal(err)
	}
	mustApply(t, serviceDefaults("remote"))
	refused(t, cluster.Apply(serviceDefaults("none")), "spec.upstreamConfig.overrides[0].meshGateway.mode", "gateway-mode-none-peer-upstream")
	refused(t, cluster.Apply(serviceDefaults("local")), "spec.upstreamConfig.overrides[0].meshGateway.mode", "gateway-mode-local-needs-gateway")
	if r := mustApply(t, serviceDefaults("remote")); strings.Contains(r.Stderr, "Warning:") {
		t.Errorf("unexpected warnings: %s", r.Stderr)
	}

	// ProxyDefaults in local mode is fine while the gateway runs...
	addGateway(t, ctx)
	mustApply(t, proxyDefaults("local", ""))
	if err := guard.WaitForState(ctx, kinds.ProxyDefaults, 1); err != nil {
		t.Fatal(err)
	}
	// ...and when the gateway goes away, an unrelated edit is allowed with a warning,
	removeGateway(t, ctx)
	warned(t, cluster.Apply(proxyDefaults("local", ", labels: {team: mesh}")), "spec.meshGateway.mode", "gateway-mode-local-needs-gateway")
	// while the update that fixes it is accepted without one.
	if r := mustApply(t, proxyDefaults("remote", ", labels: {team: mesh}")); strings.Contains(r.Stderr, "Warning:") {
		t.Errorf("fixing update warned: %s", r.Stderr)
	}
	// Introducing the violation again by update is refused.
	refused(t, cluster.Apply(proxyDefaults("local", "")), "spec.meshGateway.mode", "gateway-mode-local-needs-gateway")
}

// Cross-object rules follow objects created earlier in the same cluster and react when they
// go away: a PeeringDialer and a mesh gateway Deployment made ready through its status.
func TestStateFollowsTheCluster(t *testing.T) {
	useGuard(t)
	reset(t)
	ctx := ctxFor(t)

	export := strings.Replace(exportToDC2, "%s", "", 1)
	refused(t, cluster.Apply(export, "--dry-run=server"), "spec.services[0].consumers[0].peer", "export-needs-mesh-gateway")
	addGateway(t, ctx)
	if r := cluster.Apply(export, "--dry-run=server"); r.Code != 0 {
		t.Fatalf("with a ready gateway the export should pass: %s", r.Stderr)
	}
	removeGateway(t, ctx)
	refused(t, cluster.Apply(export, "--dry-run=server"), "spec.services[0].consumers[0].peer", "export-needs-mesh-gateway")

	// A gateway Deployment without ready replicas is not ready yet: a warning, not a denial;
	// scaled to zero it is missing again.
	mustApply(t, gatewayDeployment)
	warned(t, cluster.Apply(export, "--dry-run=server"), "spec.services[0].consumers[0].peer", "export-needs-mesh-gateway")
	mustApply(t, strings.Replace(gatewayDeployment, "replicas: 1", "replicas: 0", 1))
	if err := guard.WaitForNotReadyGateways(ctx, 0); err != nil {
		t.Fatal(err)
	}
	refused(t, cluster.Apply(export, "--dry-run=server"), "spec.services[0].consumers[0].peer", "export-needs-mesh-gateway")
	removeGatewayObject(t, ctx)

	// ProxyDefaults mode none is refused while a peer exists, accepted once it is gone.
	mustApply(t, dialerDC2)
	if err := guard.WaitForState(ctx, kinds.PeeringDialer, 1); err != nil {
		t.Fatal(err)
	}
	refused(t, cluster.Apply(proxyDefaults("none", ""), "--dry-run=server"), "spec.meshGateway.mode", "gateway-mode-none-with-peering")
	if r := cluster.Apply(serviceDefaults("remote")); r.Code != 0 || strings.Contains(r.Stderr, "Warning:") {
		t.Fatalf("known peer: exit %d %s", r.Code, r.Stderr)
	}
	if r := cluster.Kubectl("delete", "peeringdialer", "dc2", "-n", "default"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	if err := guard.WaitForState(ctx, kinds.PeeringDialer, 0); err != nil {
		t.Fatal(err)
	}
	mustApply(t, proxyDefaults("none", ""))
	warned(t, cluster.Apply(strings.Replace(serviceDefaults("remote"), "namespace: default}", "namespace: default, labels: {edited: \"yes\"}}", 1)), "spec.upstreamConfig.overrides[0].peer", "upstream-peer-known")

	// Creating a peer while ProxyDefaults says none is refused from the peering side.
	refused(t, cluster.Apply(dialerDC2), "metadata.name", "gateway-mode-none-with-peering")
}

func removeGatewayObject(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := client.IgnoreNotFound(cluster.Client.DeleteAllOf(ctx, &appsDeployment, client.InNamespace("default"), client.MatchingLabels{"component": "mesh-gateway"})); err != nil {
		t.Fatal(err)
	}
}

var appsDeployment = appsv1.Deployment{}
