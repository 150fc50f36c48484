// Package reliability proves the webhook stays up and answers correctly under bad input,
// load and faults: it talks to the real `serve` binary over TLS on loopback, with the real
// API server behind it. Long runs are behind -load.count / -load.duration (make load).
package reliability

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

var (
	cluster *framework.Cluster
	binary  string
	ca      *framework.CA

	loadCount    = flag.Int("load.count", 3000, "reviews the load test sends")
	loadDuration = flag.Duration("load.duration", 60*time.Second, "upper bound of the load test")
	loadWorkers  = flag.Int("load.workers", 8, "concurrent keep-alive connections of the load test")
	loadReport   = flag.String("load.report", "", "write the load figures to this file")
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	var err error
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	if cluster, err = framework.StartCluster(); err != nil {
		return fail(err)
	}
	defer func() { _ = cluster.Stop() }()
	if binary, err = framework.BuildBinary(cluster.Root, cluster.Dir); err != nil {
		return fail(err)
	}
	if ca, err = framework.NewCA("reliability-ca"); err != nil {
		return fail(err)
	}
	if err := readyGateway(); err != nil {
		return fail(err)
	}
	return m.Run()
}

// readyGateway creates a mesh gateway Deployment with a ready replica, so that the samples'
// expected verdicts (framework.Samples) hold.
func readyGateway() error {
	ctx, cancel := framework.Context(time.Minute)
	defer cancel()
	one := int32(1)
	labels := map[string]string{"component": "mesh-gateway"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh-gateway", Namespace: "default", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels),
		},
	}
	if err := cluster.Client.Create(ctx, d); err != nil {
		return err
	}
	return cluster.MarkDeploymentReady(ctx, "default", "mesh-gateway", 1)
}

// startGuard runs a webhook with its own cert dir and waits until it is ready and sees the gateway.
func startGuard(t *testing.T, extra ...string) (*framework.Webhook, string) {
	t.Helper()
	certDir := filepath.Join(t.TempDir(), "certs")
	if _, err := ca.WriteServing(certDir); err != nil {
		t.Fatal(err)
	}
	w, err := framework.StartWebhook(binary, cluster.Kubeconfig, certDir, append([]string{"--log-format=json"}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	if err := w.WaitReady(time.Minute); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WaitForGateways(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return w, certDir
}

func base(w *framework.Webhook) string { return fmt.Sprintf("https://127.0.0.1:%d", w.Port) }
