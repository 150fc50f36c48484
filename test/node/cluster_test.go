package node

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// TestClusterUpAndDown brings make cluster's node up, checks the node is Ready, runs a pod
// from the locally built pause image, takes the node down and checks nothing is left: no
// process, mount, pod network namespace, kubepods cgroup or path written outside its folder.
func TestClusterUpAndDown(t *testing.T) {
	root := skipWithoutNode(t)
	existed := framework.ExistingPaths(framework.NodeOutsidePaths)
	parent, err := framework.NewNodeDir(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	dir := filepath.Join(parent, "cluster")
	start := time.Now()
	n, err := framework.StartNode(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			if err := n.Stop(); err != nil {
				t.Error(err)
			}
		}
	})
	t.Logf("node Ready in %ds (%s with the test's own start), RSS of the cluster's processes %d MiB", n.UpSeconds, time.Since(start).Round(time.Second), n.RSSKiB/1024)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var node corev1.Node
	if err := n.Client.Get(ctx, client.ObjectKey{Name: "cpg-node"}, &node); err != nil {
		t.Fatal(err)
	}
	if !nodeReady(&node) {
		t.Fatalf("node cpg-node is not Ready: %+v", node.Status.Conditions)
	}
	// A pod the kubelet starts: its sandbox is the pause image, the only image the node has.
	pod := &corev1.Pod{}
	pod.Namespace, pod.Name = "default", "sandbox"
	pod.Spec.Containers = []corev1.Container{{Name: "pause", Image: "localhost/consul-peering-guard/pause:1", ImagePullPolicy: corev1.PullNever}}
	if err := n.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if r := n.Kubectl("wait", "--for=condition=Ready", "pod/sandbox", "--timeout=120s"); r.Code != 0 {
		t.Fatalf("the pod did not become Ready: %s%s\n%s", r.Stdout, r.Stderr, n.Logs())
	}
	if err := n.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
		t.Fatal(err)
	}
	if pod.Status.PodIP == "" {
		t.Fatal("the pod got no IP from the CNI bridge")
	}
	t.Logf("pod IP %s", pod.Status.PodIP)

	podNetNS := n.PodNetNS()
	if len(podNetNS) == 0 {
		t.Error("the node's mount namespace holds no pod network namespace")
	}
	downStart := time.Now()
	stopped = true
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("down in %s", time.Since(downStart).Round(time.Second))
	if left := framework.NodeLeftovers(n, existed, podNetNS); len(left) > 0 {
		t.Errorf("cluster down left %d things behind:", len(left))
		for _, l := range left {
			t.Error("  " + l)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the state folder %s is still there (%v)", dir, err)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
