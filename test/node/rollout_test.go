package node

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// TestRolloutNeverFreezesOnTheNode: with the real controllers, scheduler and kubelet, a
// Deployment admitted while the mesh gateway ran (a peer upstream in mesh_gateway_mode=local,
// connect-inject "true") rolls out after the gateway is scaled to zero: kubectl rollout
// restart is accepted, and the new ReplicaSet and its running pods are created.
func TestRolloutNeverFreezesOnTheNode(t *testing.T) {
	c := installChart(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		c.n.Kubectl("delete", "deployment", "frontend", "consul-mesh-gateway", "-n", "default", "--ignore-not-found", "--timeout=90s")
		c.n.Kubectl("delete", "peeringdialer", "cluster-02", "-n", "default", "--ignore-not-found", "--timeout=90s")
	})
	mustApply(t, c, `apiVersion: consul.hashicorp.com/v1alpha1
kind: PeeringDialer
metadata: {name: cluster-02, namespace: default}
spec: {peer: {secret: {name: cluster-02-token, key: data, backend: kubernetes}}}
`)
	c.waitEveryPod(t, "the PeeringDialer", func(m string) bool {
		return metricSum(m, `consul_peering_guard_state_objects{kind="PeeringDialer"}`) == 1
	})
	mustApply(t, c, `apiVersion: apps/v1
kind: Deployment
metadata: {name: consul-mesh-gateway, namespace: default, labels: {component: mesh-gateway, app: consul-mesh-gateway}}
spec:
  replicas: 1
  selector: {matchLabels: {app: consul-mesh-gateway}}
  template:
    metadata: {labels: {app: consul-mesh-gateway}}
    spec: {containers: [{name: mesh-gateway, image: `+pauseRef+`, imagePullPolicy: Never}]}
`)
	c.waitEveryPod(t, "the mesh gateway ready (its pod started by the kubelet)", func(m string) bool {
		return metricSum(m, "consul_peering_guard_mesh_gateways_ready") == 1
	})
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
    spec: {containers: [{name: frontend, image: ` + pauseRef + `, imagePullPolicy: Never}]}
`
	if r := mustApply(t, c, frontend); strings.Contains(r.Stderr, "Warning:") {
		t.Fatalf("admitted with a warning while the gateway runs: %s", r.Stderr)
	}
	first := waitReplicaSets(ctx, t, c, 1)

	if r := c.n.Kubectl("scale", "deployment", "consul-mesh-gateway", "-n", "default", "--replicas=0"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	c.waitEveryPod(t, "no ready mesh gateway", func(m string) bool {
		return metricSum(m, "consul_peering_guard_mesh_gateways_ready") == 0
	})
	copyOf := strings.Replace(frontend, "name: frontend, namespace", "name: frontend-copy, namespace", 1)
	if r := c.kubectlStdin(t, []byte(copyOf), "apply", "--dry-run=server", "-f", "-"); r.Code == 0 || !strings.Contains(r.Stderr, "(gateway-mode-local-needs-gateway)") {
		t.Fatalf("a new workload like it was not refused by gateway-mode-local-needs-gateway: %s", r.Stderr)
	}

	r := c.n.Kubectl("rollout", "restart", "deployment/frontend", "-n", "default")
	if r.Code != 0 {
		t.Fatalf("rollout restart refused: %s", r.Stderr)
	}
	if !strings.Contains(r.Stderr, "(gateway-mode-local-needs-gateway)") {
		t.Errorf("rollout restart printed no warning of the finding: %s", r.Stderr)
	}
	now := waitReplicaSets(ctx, t, c, 2)
	var fresh *appsv1.ReplicaSet
	for i := range now {
		if now[i].Name != first[0].Name {
			fresh = &now[i]
		}
	}
	if _, ok := fresh.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]; !ok {
		t.Errorf("new ReplicaSet %s is not the restarted template", fresh.Name)
	}
	if r := c.n.Kubectl("rollout", "status", "deployment/frontend", "-n", "default", "--timeout=120s"); r.Code != 0 {
		t.Fatalf("the rollout did not complete: %s%s\n%s", r.Stdout, r.Stderr, c.n.Logs())
	}
	var pods corev1.PodList
	if err := c.n.Client.List(ctx, &pods, client.InNamespace("default"), client.MatchingLabels{"pod-template-hash": fresh.Labels["pod-template-hash"]}); err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	if running == 0 {
		t.Fatalf("no pod of the new ReplicaSet %s runs", fresh.Name)
	}
	t.Logf("new ReplicaSet %s and %d running pod(s) made by the real controllers and kubelet with the gateway at zero", fresh.Name, running)
}

// mustApply applies a manifest on the node with kubectl and fails the test when refused.
func mustApply(t *testing.T, c *chart, manifest string) framework.Result {
	t.Helper()
	r := c.kubectlStdin(t, []byte(manifest), "apply", "-f", "-")
	if r.Code != 0 {
		t.Fatalf("kubectl apply: %s", r.Stderr)
	}
	return r
}

// waitReplicaSets waits until the frontend Deployment owns want ReplicaSets.
func waitReplicaSets(ctx context.Context, t *testing.T, c *chart, want int) []appsv1.ReplicaSet {
	t.Helper()
	for {
		var list appsv1.ReplicaSetList
		if err := c.n.Client.List(ctx, &list, client.InNamespace("default"), client.MatchingLabels{"app": "frontend"}); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == want {
			return list.Items
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the Deployment controller made %d ReplicaSets, want %d (the rollout froze)", len(list.Items), want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
