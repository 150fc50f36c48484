// Command demo is `make demo`: consul-peering-guard shown against a real kube-apiserver and
// etcd on this machine. The tour applies a valid peering setup and then each common mistake
// with kubectl, printing kubectl's real output and each example's fix, and stops everything
// it started when it ends or on Ctrl-C. (make playground is the real node: hack/playground.sh.)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

var gateways = labels.SelectorFromSet(labels.Set{"component": "mesh-gateway"})

func main() {
	only := flag.String("only", "", "comma-separated mistake folders to show (default: all)")
	flag.Parse()
	// The API server's admission warnings reach the client's logger; the output here is the report.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *only); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type tour struct {
	cluster *framework.Cluster
	binary  string
	ca      *framework.CA
	certDir string
	guard   *framework.Webhook
	flags   []string
}

func run(ctx context.Context, only string) (err error) {
	say("Starting a local kube-apiserver and etcd (bin/), with the consul-k8s CRDs installed")
	t := &tour{}
	if t.cluster, err = framework.StartCluster(); err != nil {
		return err
	}
	defer func() {
		say("Stopping everything the demo started")
		if t.guard != nil {
			_ = t.guard.Stop()
		}
		_ = t.cluster.Stop()
	}()
	if t.binary, err = framework.BuildBinary(t.cluster.Root, t.cluster.Dir); err != nil {
		return err
	}
	if err := t.startWebhook("demo-ca"); err != nil {
		return err
	}
	fmt.Printf("   kubectl: %s --kubeconfig %s\n", t.cluster.Bin("kubectl"), t.cluster.Kubeconfig)

	root := t.cluster.Root
	say("1. A valid peering setup (examples/valid): everything is accepted")
	fmt.Println("   The mesh gateway Deployment is marked ready through its status subresource, as the")
	fmt.Println("   deployment controller would do once its pod runs (this API server runs no controllers).")
	if err := t.folder(ctx, filepath.Join(root, "examples", "valid")); err != nil {
		return err
	}

	dirs, err := filepath.Glob(filepath.Join(root, "examples", "mistakes", "*"))
	if err != nil {
		return err
	}
	wanted := strings.Split(only, ",")
	n := 2
	for _, dir := range dirs {
		if only != "" && !slices.Contains(wanted, filepath.Base(dir)) {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		settings, err := manifest.ReadClusterSettings(filepath.Join(dir, manifest.ClusterFileName), validators.Config{})
		if err != nil {
			return err
		}
		example, err := framework.ReadExample(dir)
		if err != nil {
			return err
		}
		say(fmt.Sprintf("%d. Mistake: %s", n, filepath.Base(dir)))
		n++
		fmt.Println("   " + settings.Description)
		for _, e := range example.Expect {
			if r := validators.RuleByName(e.Rule); r != nil {
				fmt.Printf("   Rule %s (%s): docs/rules/%s.md\n", r.Name, r.DefaultAction, r.Family)
			}
		}
		if err := t.useFlags(framework.ServeFlags(settings)); err != nil {
			return err
		}
		if err := t.folder(ctx, dir); err != nil {
			return err
		}
		if example.Fix != "" {
			fmt.Println("\n   How to fix it: " + example.Fix)
		}
	}
	say("Done. Every refusal above came from the webhook through the API server; the CRD schemas accept all of these objects.")
	return nil
}

// useFlags (re)starts the webhook when the installation it mirrors changes.
func (t *tour) useFlags(flags []string) error {
	if t.guard != nil && slices.Equal(flags, t.flags) {
		return nil
	}
	if t.guard != nil {
		_ = t.guard.Stop()
	}
	fmt.Printf("   $ consul-peering-guard serve %s\n", strings.Join(flags, " "))
	w, err := framework.StartWebhook(t.binary, t.cluster.Kubeconfig, t.certDir, append([]string{"--log-format=text"}, flags...)...)
	if err != nil {
		return err
	}
	t.guard, t.flags = w, flags
	if err := w.WaitReady(time.Minute); err != nil {
		return err
	}
	if err := t.cluster.RegisterWebhook("consul-peering-guard", w.Port, t.ca.CertPEM); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return t.cluster.WaitForWebhook(ctx)
}

func (t *tour) folder(ctx context.Context, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := t.cluster.Reset(ctx, gateways); err != nil {
		return err
	}
	for _, k := range kinds.Watched {
		if err := t.guard.WaitForState(ctx, k, 0); err != nil {
			return err
		}
	}
	if err := t.guard.WaitForGateways(ctx, 0); err != nil {
		return err
	}
	return t.cluster.ApplyFolder(ctx, t.guard, dir, gateways, func(s framework.Step) {
		file, _ := filepath.Rel(t.cluster.Root, s.File)
		fmt.Printf("\n   $ kubectl apply -f %s\n", file)
		printIndented(s.Apply.Stdout)
		printIndented(s.Apply.Stderr)
		if s.GatewayReady {
			fmt.Println("   (status.readyReplicas set to 1: the webhook now counts a mesh gateway)")
		}
	})
}

func printIndented(s string) {
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if line != "" {
			fmt.Println("   " + line)
		}
	}
}

func say(s string) {
	fmt.Printf("\n==> %s\n", s)
}

// startWebhook issues the webhook's serving certificate from a new CA named caName and starts
// it with the default flags.
func (t *tour) startWebhook(caName string) error {
	var err error
	if t.ca, err = framework.NewCA(caName); err != nil {
		return err
	}
	t.certDir = filepath.Join(t.cluster.Dir, "certs")
	if _, err = t.ca.WriteServing(t.certDir); err != nil {
		return err
	}
	return t.useFlags(nil)
}
