package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// TestInstallWhosePodsCannotStartBlocksNothing installs the chart on a node of its own with an
// image the node does not hold and may not pull (failurePolicy Fail, the chart's default): the
// pods never start, no ValidatingWebhookConfiguration exists, and a ProxyDefaults that
// proxy-defaults-name refuses is written. helm upgrade with the image of make image then
// brings the pods up; they register the configuration, and the same write is refused by the
// rule at metadata.name.
func TestInstallWhosePodsCannotStartBlocksNothing(t *testing.T) {
	root := skipWithoutNode(t)
	image := framework.ImageTarball(root)
	if image == "" {
		t.Skip("no image: make image writes bin/image/consul-peering-guard-linux-ARCH.tar")
	}
	parent, err := framework.NewNodeDir(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	n, err := framework.StartNode(root, filepath.Join(parent, "cluster"), image)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	})
	c := newChart(t, n)

	if r := n.Helm(c.helmArgs("install", "--set", "image.tag=not-on-this-node")...); r.Code != 0 {
		t.Fatalf("helm install: %s%s", r.Stdout, r.Stderr)
	}
	waitFor(t, "the pods failing to start", func() bool {
		r := n.Kubectl("--namespace", namespace, "get", "pods", "-o", "jsonpath={.items[*].status.containerStatuses[*].state.waiting.reason}")
		return strings.Count(r.Stdout, "ErrImageNeverPull") == 2
	})
	if r := n.Kubectl("get", "validatingwebhookconfigurations", "-o", "name"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "" {
		t.Fatalf("with no pod started, the configurations are %q %s", r.Stdout, r.Stderr)
	}
	mistake := `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ProxyDefaults","metadata":{"name":"edge","namespace":"default"},"spec":{}}`
	if r := c.kubectlStdin(t, []byte(mistake), "create", "-f", "-"); r.Code != 0 {
		t.Fatalf("a Consul write was refused while no webhook pod could start: %s", r.Stderr)
	}
	if r := n.Kubectl("--namespace", "default", "delete", "proxydefaults", "edge"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}

	start := time.Now()
	c.helm(t, "upgrade")
	t.Logf("helm upgrade to the image of make image, pods ready and the configuration registered: %s", time.Since(start).Round(time.Second))
	r := c.kubectlStdin(t, []byte(mistake), "create", "-f", "-")
	if r.Code == 0 || !strings.Contains(r.Stderr, "metadata.name") || !strings.Contains(r.Stderr, "(proxy-defaults-name)") {
		t.Fatalf("once the pods serve, want the write refused at metadata.name by proxy-defaults-name: exit %d %s", r.Code, r.Stderr)
	}
}

// waitFor polls cond for up to three minutes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 3 minutes", what)
		}
		time.Sleep(time.Second)
	}
}
