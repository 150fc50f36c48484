// Package e2e drives the real kube-apiserver, etcd, kubectl and the consul-peering-guard
// binary: every assertion is about what kubectl prints when the API server calls the webhook
// through a ValidatingWebhookConfiguration with failurePolicy Fail.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

const webhookConfigName = "consul-peering-guard"

var (
	cluster  *framework.Cluster
	binary   string
	ca       *framework.CA
	certDir  string
	guard    *framework.Webhook
	guardArg []string
	gateways = labels.SelectorFromSet(labels.Set{"component": "mesh-gateway"})
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	var err error
	if cluster, err = framework.StartCluster(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() { _ = cluster.Stop() }()
	if binary, err = framework.BuildBinary(cluster.Root, cluster.Dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if ca, err = framework.NewCA("e2e-ca"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	certDir = filepath.Join(cluster.Dir, "certs")
	if _, err = ca.WriteServing(certDir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if err := startGuard(nil); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer func() { _ = guard.Stop() }()
	return m.Run()
}

// startGuard (re)starts the webhook with the given flags and points the webhook
// configuration at it.
func startGuard(args []string) error {
	if guard != nil {
		if err := guard.Stop(); err != nil {
			return err
		}
	}
	w, err := framework.StartWebhook(binary, cluster.Kubeconfig, certDir, append([]string{"--log-format=text"}, args...)...)
	if err != nil {
		return err
	}
	if err := w.WaitReady(60 * time.Second); err != nil {
		return err
	}
	guard, guardArg = w, args
	if err := cluster.RegisterWebhook(webhookConfigName, w.Port, ca.CertPEM); err != nil {
		return err
	}
	ctx, cancel := framework.Context(time.Minute)
	defer cancel()
	return cluster.WaitForWebhook(ctx)
}

// useGuard makes sure the running webhook has exactly these flags.
func useGuard(t *testing.T, args ...string) {
	t.Helper()
	if guard != nil && slices.Equal(args, guardArg) {
		return
	}
	if err := startGuard(args); err != nil {
		t.Fatal(err)
	}
}

// reset empties the cluster of Consul objects and gateways and waits until the webhook's
// state index agrees.
func reset(t *testing.T) {
	t.Helper()
	ctx, cancel := framework.Context(time.Minute)
	defer cancel()
	if err := cluster.Reset(ctx, gateways); err != nil {
		t.Fatal(err)
	}
	waitIndex(t, ctx)
}

func waitIndex(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := guard.WaitForGateways(ctx, 0); err != nil {
		t.Fatalf("webhook still sees gateways: %v", err)
	}
	for _, k := range kinds.Watched {
		if err := guard.WaitForState(ctx, k, 0); err != nil {
			t.Fatalf("webhook still sees %s objects: %v", k, err)
		}
	}
}
