package e2e

import (
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// unregisterWebhook deletes the webhook configuration and waits until the API server stops
// calling the webhook, so objects can be written as they were before it was installed.
func unregisterWebhook(t *testing.T) {
	t.Helper()
	ctx := ctxFor(t)
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	vwc.Name = webhookConfigName
	if err := cluster.Client.Delete(ctx, vwc); err != nil {
		t.Fatal(err)
	}
	probe := proxyDefaults("remote", "")
	probe = strings.Replace(probe, "name: global", "name: unregister-probe", 1)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cluster.Apply(probe, "--dry-run=server").Code == 0 {
			return
		}
	}
	t.Fatal("the API server still calls the webhook 30s after its configuration was deleted")
}

func reregisterWebhook(t *testing.T) {
	t.Helper()
	if err := cluster.RegisterWebhook(webhookConfigName, guard.Port, ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitForWebhook(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
}

// Objects written before the webhook was installed stay editable: a label, an annotation and
// consul-k8s's finalizer go through with the old violation as a warning on kubectl's stderr,
// while a change that adds a new violation is still refused.
func TestOldObjectsStayEditable(t *testing.T) {
	useGuard(t)
	reset(t)
	ctx := ctxFor(t)
	unregisterWebhook(t)
	mustApply(t, `apiVersion: consul.hashicorp.com/v1alpha1
kind: Mesh
metadata: {name: cluster, namespace: default}
spec: {transparentProxy: {meshDestinationsOnly: true}}
`)
	mustApply(t, strings.Replace(strings.Replace(exportToDC2, "%s", "", 1), "name: default,", "name: ap1,", 1))
	reregisterWebhook(t)
	t.Cleanup(func() {
		_ = cluster.Kubectl("patch", "exportedservices", "ap1", "-n", "default", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
	})
	if err := guard.WaitForState(ctx, kinds.ExportedServices, 1); err != nil {
		t.Fatal(err)
	}

	warned(t, cluster.Kubectl("label", "mesh", "cluster", "-n", "default", "team=platform"), "metadata.name", "mesh-name")
	warned(t, cluster.Kubectl("annotate", "exportedservices", "ap1", "-n", "default", "argocd.argoproj.io/tracking-id=consul:app"),
		"metadata.name", "partition-placement")
	r := cluster.Kubectl("patch", "exportedservices", "ap1", "-n", "default", "--type=merge",
		"-p", `{"metadata":{"finalizers":["finalizers.consul.hashicorp.com"]}}`)
	warned(t, r, "metadata.name", "partition-placement")
	warned(t, r, "spec.services[0].consumers[0].peer", "export-needs-mesh-gateway")

	// A new violation is refused; the old ones do not make it through either way.
	refused(t, cluster.Kubectl("patch", "exportedservices", "ap1", "-n", "default", "--type=json",
		"-p", `[{"op":"add","path":"/spec/services/0/consumers/-","value":{"peer":"*"}}]`),
		"spec.services[0].consumers[1].peer", "consumer-no-wildcard")
}

// GitOps tools and restores apply everything at once: the gateway Deployment, the peer and
// the export in one kubectl apply. The gateway exists but is not ready yet, so the export is
// accepted with a warning; without the gateway it is refused.
func TestOneApplyOfGatewayPeerAndExports(t *testing.T) {
	useGuard(t)
	reset(t)
	acceptor := strings.Replace(dialerDC2, "kind: PeeringDialer", "kind: PeeringAcceptor", 1)
	export := strings.Replace(exportToDC2, "%s", "", 1)

	refused(t, cluster.Apply(acceptor+"---\n"+export, "--dry-run=server"), "spec.services[0].consumers[0].peer", "export-needs-mesh-gateway")

	r := cluster.Apply(gatewayDeployment + "---\n" + acceptor + "---\n" + export)
	warned(t, r, "spec.services[0].consumers[0].peer", "export-needs-mesh-gateway")
	if !strings.Contains(r.Stderr, "not ready yet") {
		t.Errorf("the warning does not say the gateway is not ready yet:\n%s", r.Stderr)
	}
}

// The documented peering setups (examples/setups) are accepted by kubectl without a denial or
// a warning, each with the webhook configured as its cluster file says.
func TestDocumentedSetupsApplyCleanly(t *testing.T) {
	eachExampleFolder(t, "setups", func(t *testing.T, dir string, _ framework.Example) {
		refusals, warnings := applyFolder(t, dir)
		if len(refusals) > 0 || len(warnings) > 0 {
			t.Fatalf("refused or warned about:\n%s\n%s", strings.Join(refusals, "\n"), strings.Join(warnings, "\n"))
		}
	})
}

// A ServiceResolver failing over to a peer this cluster does not know is accepted with a
// warning (the peering may come later in the sync); a peer that is not a peer name is refused.
func TestServiceResolverPeers(t *testing.T) {
	useGuard(t)
	reset(t)
	resolver := func(peer string) string {
		return `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceResolver
metadata: {name: backend, namespace: default}
spec: {failover: {"*": {targets: [{peer: ` + peer + `}]}}}
`
	}
	warned(t, cluster.Apply(resolver("cluster-09"), "--dry-run=server"), "spec.failover[*].targets[0].peer", "peer-reference-known")
	refused(t, cluster.Apply(resolver("cluster_09"), "--dry-run=server"), "spec.failover[*].targets[0].peer", "peer-reference-syntax")
	mustApply(t, strings.Replace(dialerDC2, "name: dc2,", "name: cluster-09,", 1))
	if err := guard.WaitForState(ctxFor(t), kinds.PeeringDialer, 1); err != nil {
		t.Fatal(err)
	}
	if r := mustApply(t, resolver("Cluster-09")); strings.Contains(r.Stderr, "Warning:") {
		t.Errorf("a known peer warned: %s", r.Stderr)
	}
}

// Workloads whose pods carry the upstreams annotation are judged like a ServiceDefaults
// override; the rest of the pod writes never reach the webhook (the entries' match
// conditions), and a pod with injection turned off is not judged.
func TestWorkloadUpstreamAnnotations(t *testing.T) {
	useGuard(t)
	reset(t)
	ctx := ctxFor(t)
	t.Cleanup(func() {
		_ = cluster.Kubectl("delete", "deployment,replicaset,cronjob,pod", "-l", "e2e=upstreams", "-n", "default", "--wait=false")
	})
	// asWritten is a Deployment with exactly these pod annotations; deployment adds
	// connect-inject "true" where they do not say, as a pod consul-k8s injects does.
	asWritten := func(name, annotations string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ` + name + `, namespace: default, labels: {e2e: upstreams}}
spec:
  selector: {matchLabels: {app: ` + name + `}}
  template:
    metadata:
      labels: {app: ` + name + `}
      annotations: {` + annotations + `}
    spec: {containers: [{name: app, image: nginx:1.27, ports: [{name: http, containerPort: 8080}]}]}
`
	}
	deployment := func(name, annotations string) string {
		if !strings.Contains(annotations, "connect-inject") {
			annotations = `consul.hashicorp.com/connect-inject: "true", ` + annotations
		}
		return asWritten(name, annotations)
	}
	pod := func(name, upstreams string) string {
		return `apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: default
  labels: {e2e: upstreams}
  annotations: {consul.hashicorp.com/connect-inject: "true", consul.hashicorp.com/connect-service-upstreams: "` + upstreams + `"}
spec: {automountServiceAccountToken: false, containers: [{name: app, image: nginx:1.27}]}
`
	}
	if r := cluster.Kubectl("create", "serviceaccount", "default", "-n", "default"); r.Code != 0 && !strings.Contains(r.Stderr, "AlreadyExists") {
		t.Fatal(r.Stderr)
	}

	// Unannotated writes are never sent.
	before := guard.Reviews("Deployment") + guard.Reviews("Pod")
	mustApply(t, asWritten("plain", `team: web`))
	mustApply(t, strings.Replace(pod("plain-pod", "x"), `annotations: {consul.hashicorp.com/connect-inject: "true", consul.hashicorp.com/connect-service-upstreams: "x"}`, `annotations: {team: web}`, 1))
	if after := guard.Reviews("Deployment") + guard.Reviews("Pod"); after != before {
		t.Errorf("unannotated Deployment and Pod reached the webhook: reviews %v -> %v", before, after)
	}

	mustApply(t, strings.Replace(dialerDC2, "name: dc2,", "name: cluster-02,", 1))
	if err := guard.WaitForState(ctx, kinds.PeeringDialer, 1); err != nil {
		t.Fatal(err)
	}
	const tmpl = "spec.template.metadata.annotations[consul.hashicorp.com/connect-service-upstreams]"
	if r := mustApply(t, deployment("frontend", `consul.hashicorp.com/connect-service-upstreams: "backend.svc.cluster-02.peer:http, billing:9091"`)); strings.Contains(r.Stderr, "Warning:") {
		t.Errorf("a valid annotation warned: %s", r.Stderr)
	}
	refused(t, cluster.Apply(deployment("broken", `consul.hashicorp.com/connect-service-upstreams: "backend.cluster-02.peer:9090"`)),
		tmpl, "upstream-annotation-unlabeled-peer")
	refused(t, cluster.Apply(deployment("none-mode", `consul.hashicorp.com/connect-service-upstreams: "backend.svc.cluster-02.peer:9090:mesh_gateway_mode=none"`)),
		tmpl, "gateway-mode-none-peer-upstream")
	mustApply(t, deployment("not-injected", `consul.hashicorp.com/connect-inject: "false", consul.hashicorp.com/connect-service-upstreams: "backend.cluster-02.peer"`))
	// Without connect-inject "true" the Consul chart (connectInject.default false) injects nothing.
	mustApply(t, asWritten("never-injected", `consul.hashicorp.com/connect-service-upstreams: "backend.cluster-02.peer"`))
	// What a controller made is never judged: a ReplicaSet of a Deployment whose broken
	// annotation was accepted before goes through the API server untouched.
	mustApply(t, `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: made-by-a-controller
  namespace: default
  labels: {e2e: upstreams}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: frontend, uid: 6a1c0a4e-0000-4000-8000-000000000001, controller: true}]
spec:
  replicas: 0
  selector: {matchLabels: {app: made-by-a-controller}}
  template:
    metadata:
      labels: {app: made-by-a-controller}
      annotations: {consul.hashicorp.com/connect-inject: "true", consul.hashicorp.com/connect-service-upstreams: "backend.cluster-02.peer"}
    spec: {containers: [{name: app, image: nginx:1.27}]}
`)
	warned(t, cluster.Apply(deployment("unknown-peer", `consul.hashicorp.com/connect-service-upstreams: "backend.svc.cluster-09.peer:9090"`)),
		"spec.template.metadata.annotations[…upstreams]", "upstream-peer-known")
	refused(t, cluster.Apply(pod("bare", "backend.svc.cluster-02.peer")),
		"metadata.annotations[consul.hashicorp.com/connect-service-upstreams]", "upstream-annotation-syntax")
	refused(t, cluster.Apply(`apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: default, labels: {e2e: upstreams}}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          annotations: {consul.hashicorp.com/connect-inject: "true", consul.hashicorp.com/connect-service-upstreams: "billing.svc.cluster-02.peer:9090:dc=dc2"}
        spec: {restartPolicy: Never, containers: [{name: report, image: busybox:1.37}]}
`), "spec.jobTemplate.spec.template.metadata.annotations[consul.hashicorp.com/connect-service-upstreams]", "upstream-peer-datacenter-exclusive")
}
