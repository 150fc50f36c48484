package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// playground starts what the tour starts, applies the valid example setup and keeps the
// cluster and the webhook running until ctx ends (SIGTERM from make playground-stop). Into
// dir it writes the kubeconfig, bin/ with the webhook's binary and kubectl, the webhook's log
// (refreshed every second) and, last, the file "ready" holding the instructions that make
// playground prints.
func playground(ctx context.Context, dir string) (err error) {
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	binDir := filepath.Join(dir, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	t := &tour{}
	if t.cluster, err = framework.StartCluster(); err != nil {
		return err
	}
	defer func() {
		if t.guard != nil {
			_ = t.guard.Stop()
			_ = os.WriteFile(filepath.Join(dir, "webhook.log"), []byte(t.guard.Logs()), 0o644)
		}
		_ = t.cluster.Stop()
		_ = os.Remove(filepath.Join(dir, "ready"))
	}()
	if t.binary, err = framework.BuildBinary(t.cluster.Root, binDir); err != nil {
		return err
	}
	if err := os.Symlink(t.cluster.Bin("kubectl"), filepath.Join(binDir, "kubectl")); err != nil && !os.IsExist(err) {
		return err
	}
	if err := t.startWebhook("playground-ca"); err != nil {
		return err
	}
	if err := t.folder(ctx, filepath.Join(t.cluster.Root, "examples", "valid")); err != nil {
		return err
	}
	raw, err := os.ReadFile(t.cluster.Kubeconfig)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, raw, 0o600); err != nil {
		return err
	}
	instructions := fmt.Sprintf(`The playground is running: a kube-apiserver and etcd with the consul-k8s CRDs, the webhook
(consul-peering-guard serve, pid %d) registered as a ValidatingWebhookConfiguration, and
examples/valid applied. In your shell:

  export KUBECONFIG=%s
  export PATH=%s:$PATH

  kubectl get meshes,proxydefaults,exportedservices,servicedefaults,peeringacceptors,peeringdialers -A
  kubectl apply -f examples/mistakes/mesh-wrong-name/    # refused by the webhook
  consul-peering-guard audit                             # every object in the playground, checked
  consul-peering-guard validate -f examples/valid/

The webhook's log: %s
Stop everything: make playground-stop
`, t.guard.Pid(), kubeconfig, binDir, filepath.Join(dir, "webhook.log"))
	if err := os.WriteFile(filepath.Join(dir, "ready"), []byte(instructions), 0o644); err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.guard.Exited():
			return fmt.Errorf("the webhook exited: %w", t.guard.ExitErr())
		case <-tick.C:
			_ = os.WriteFile(filepath.Join(dir, "webhook.log"), []byte(t.guard.Logs()), 0o644)
		}
	}
}
