package app

import (
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/collect"
	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func newAuditCommand() *cobra.Command {
	var (
		ef         engineFlags
		output     string
		kubeconfig string
		kubeCtx    string
		workloads  bool
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check every object in the current cluster against today's state (exit 0 allowed, 1 denied, 2 error)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--output %q: want text or json", output)}
			}
			cfg, sel, err := ef.offline()
			if err != nil {
				return err
			}
			engine, err := validators.NewEngine(cfg)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			rc, err := restConfig(kubeconfig, kubeCtx)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			c, err := client.New(rc, client.Options{Scheme: kinds.NewScheme()})
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			items, gateways, err := collect.Objects(cmd.Context(), c, sel, workloads)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			findings, err := snapshot.Check(engine, items, gateways)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			var rep printer.Report
			addFindings(&rep, findings)
			return writeReport(cmd, &rep, output)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&output, "output", "o", "text", "output format: text or json")
	fs.StringVar(&kubeconfig, "kubeconfig", "", kubeconfigUsage)
	fs.StringVar(&kubeCtx, "context", "", "kubeconfig context to use instead of the current one")
	fs.BoolVar(&workloads, "workloads", true, "also judge the workloads people write that carry the upstreams annotation (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs), a page at a time")
	ef.add(fs)
	return cmd
}
