package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// A rollout never freezes. With the real Deployment and ReplicaSet controllers: a workload
// admitted while the mesh gateway ran keeps rolling out after the gateway is scaled to zero
// for maintenance. kubectl rollout restart is an UPDATE of the Deployment, which ratchets
// (the finding was already there: a warning), and the new ReplicaSet, made by the
// controller, is never judged: it is created, listed here through the API server.
func TestRolloutNeverFreezes(t *testing.T) {
	useGuard(t)
	reset(t)
	ctx, cancel := framework.Context(3 * time.Minute)
	t.Cleanup(cancel)
	controllers, err := cluster.StartControllers("deployment-controller", "replicaset-controller")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = controllers.Stop()
		_ = cluster.Kubectl("delete", "deployment", "frontend", "-n", "default", "--ignore-not-found")
		_ = cluster.Kubectl("delete", "replicaset,pod", "-l", "app in (frontend,consul-mesh-gateway)", "-n", "default", "--ignore-not-found")
	})

	mustApply(t, strings.Replace(dialerDC2, "name: dc2,", "name: cluster-02,", 1))
	if err := guard.WaitForState(ctx, kinds.PeeringDialer, 1); err != nil {
		t.Fatal(err)
	}
	mustApply(t, `apiVersion: apps/v1
kind: Deployment
metadata: {name: consul-mesh-gateway, namespace: default, labels: {component: mesh-gateway, app: consul-mesh-gateway}}
spec:
  replicas: 1
  selector: {matchLabels: {app: consul-mesh-gateway}}
  template:
    metadata: {labels: {app: consul-mesh-gateway}}
    spec: {containers: [{name: mesh-gateway, image: hashicorp/consul-dataplane:1.7}]}
`)
	// No kubelet runs: the gateway's pod is marked ready as a kubelet would once it runs.
	gatewayPods := labels.SelectorFromSet(labels.Set{"app": "consul-mesh-gateway"})
	if err := eventually(ctx, func() bool {
		_, err := cluster.MarkPodsReady(ctx, "default", gatewayPods)
		return err == nil
	}); err != nil {
		t.Fatalf("the ReplicaSet controller made no gateway pod: %v (log %s)", err, controllers.Log)
	}
	if err := guard.WaitForGateways(ctx, 1); err != nil {
		t.Fatalf("the gateway never became ready through the controllers: %v", err)
	}

	// Admitted while the gateway runs: a peer upstream in mode local.
	frontend := `apiVersion: apps/v1
kind: Deployment
metadata: {name: frontend, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: frontend}}
  template:
    metadata:
      labels: {app: frontend}
      annotations:
        consul.hashicorp.com/connect-inject: "true"
        consul.hashicorp.com/connect-service-upstreams: "backend.svc.cluster-02.peer:9090:mesh_gateway_mode=local"
    spec: {containers: [{name: frontend, image: nginx:1.27}]}
`
	if r := mustApply(t, frontend); strings.Contains(r.Stderr, "Warning:") {
		t.Fatalf("admitted with a warning while the gateway runs: %s", r.Stderr)
	}
	first := replicaSetsOf(ctx, t, "frontend")
	if err := eventually(ctx, func() bool { first = replicaSetsOf(ctx, t, "frontend"); return len(first) == 1 }); err != nil {
		t.Fatalf("the Deployment controller made no ReplicaSet: %v", err)
	}

	// Maintenance: the gateway scaled to zero. A new workload like it is now refused...
	if r := cluster.Kubectl("scale", "deployment", "consul-mesh-gateway", "-n", "default", "--replicas=0"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	if err := guard.WaitForGateways(ctx, 0); err != nil {
		t.Fatalf("the webhook still sees a ready gateway: %v", err)
	}
	refused(t, cluster.Apply(strings.Replace(frontend, "name: frontend, namespace", "name: frontend-copy, namespace", 1), "--dry-run=server"),
		"spec.template.metadata.annotations[consul.hashicorp.com/connect-service-upstreams]", "gateway-mode-local-needs-gateway")

	// ...but the running one rolls out: a warning on the Deployment, and a new ReplicaSet.
	r := cluster.Kubectl("rollout", "restart", "deployment/frontend", "-n", "default")
	if r.Code != 0 {
		t.Fatalf("rollout restart refused: %s", r.Stderr)
	}
	if !strings.Contains(r.Stderr, "(gateway-mode-local-needs-gateway)") {
		t.Errorf("rollout restart printed no warning of the finding: %s", r.Stderr)
	}
	var now []appsv1.ReplicaSet
	if err := eventually(ctx, func() bool { now = replicaSetsOf(ctx, t, "frontend"); return len(now) == 2 }); err != nil {
		t.Fatalf("no new ReplicaSet after rollout restart (the rollout froze): have %d; controller log %s", len(now), controllers.Log)
	}
	for _, rs := range now {
		if rs.Name == first[0].Name {
			continue
		}
		if _, ok := rs.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; !ok {
			t.Errorf("new ReplicaSet %s is not the restarted template", rs.Name)
		}
		t.Logf("new ReplicaSet %s created by the Deployment controller while the gateway is scaled to zero", rs.Name)
	}

	// The audit reports what the state rule now finds on the Deployment, and nothing on
	// the ReplicaSets the controller made.
	rep := reportOf(t, "audit", "--kubeconfig", cluster.Kubeconfig, "-o", "json")
	reported := false
	for _, r := range rep.Results {
		if r.Kind == "ReplicaSet" {
			t.Errorf("the audit judged ReplicaSet %s/%s, which a controller made", r.Namespace, r.Name)
		}
		for _, v := range r.Violations {
			if r.Kind == "Deployment" && r.Name == "frontend" && v.Rule == "gateway-mode-local-needs-gateway" &&
				v.Field == "spec.template.metadata.annotations[consul.hashicorp.com/connect-service-upstreams]" {
				reported = true
			}
		}
	}
	if !reported {
		t.Errorf("the audit did not report the frontend Deployment's gateway-mode-local-needs-gateway: %+v", rep.Results)
	}
}

// replicaSetsOf lists, through the API server, the ReplicaSets a Deployment owns.
func replicaSetsOf(ctx context.Context, t *testing.T, deployment string) []appsv1.ReplicaSet {
	t.Helper()
	var list appsv1.ReplicaSetList
	if err := cluster.Client.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{"app": deployment}); err != nil {
		t.Fatal(err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		for _, o := range rs.OwnerReferences {
			if o.Kind == "Deployment" && o.Name == deployment && o.Controller != nil && *o.Controller {
				out = append(out, rs)
			}
		}
	}
	return out
}

// eventually polls cond until it holds or ctx ends.
func eventually(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
