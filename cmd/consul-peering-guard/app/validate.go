package app

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func newValidateCommand() *cobra.Command {
	var (
		ef             engineFlags
		inf            inputFlags
		allowRemote    bool
		files          []string
		kustomizations []string
		output         string
		strict         bool
		gateway        bool
	)
	cmd := &cobra.Command{
		Use:   "validate (-f PATH | -k DIR)...",
		Short: "Validate manifests offline, as the webhook would (exit 0 allowed, 1 denied, 2 bad input)",
		Long: `Validate reads YAML or JSON manifests (files or folders, multi-document) and checks every
object of the kinds the rules judge:

  ` + strings.Join(kinds.Names(kinds.Consul), ", ") + `,
  and ` + strings.Join(kinds.Names(kinds.Workloads), ", ") + ` carrying the upstreams annotation.

The cluster state is built from all objects given: a Deployment matching
--mesh-gateway-selector with at least one replica counts as a ready mesh gateway (a Service
alone does not), and the acceptors and dialers given are the known peers. A folder holding a ` + manifest.ClusterFileName + `
file is a cluster of its own, validated with that file's settings over the flags: partitionsEnabled,
partition, namespacesEnabled, consulVersion, edition and rules (NAME: deny|warn|off); the keys
description, fix and expect document an example folder and are not read by validate.

Keys are matched case-sensitively, as the API server does: a field the consul-k8s schema does
not define, or spells differently (Peer for peer), is reported as unknown-field, a warning, or
a denial with --strict. Files and documents that are not Kubernetes objects (kustomization
files, Helm values, CI workflows, package.json) and Helm templates are skipped and listed;
they never change the exit code; so are named pipes, and symlinks found in a folder that point
outside it (name such a file with -f to read it). -k DIR renders a kustomization as kubectl
apply -k does and validates the result; it reads local files only, and a kustomization naming
a URL or a git repository is refused (exit 2) unless --allow-remote-bases. All input together
is bounded by --max-input-bytes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 && len(kustomizations) == 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("-f PATH or -k DIR is required")}
			}
			if output != "text" && output != "json" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--output %q: want text or json", output)}
			}
			base, sel, err := ef.offline()
			if err != nil {
				return err
			}
			opts, err := inf.options(sel, base)
			if err != nil {
				return err
			}
			opts.AllowRemoteBases = allowRemote
			clusters, err := manifest.LoadClusters(files, kustomizations, cmd.InOrStdin(), opts)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			unknownFields := validators.Warn
			if strict {
				unknownFields = validators.Deny
			}
			var rep printer.Report
			for _, c := range clusters {
				prepared, err := snapshot.PrepareCluster(c, unknownFields, gateway)
				if err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", c.Dir, err)}
				}
				findings, err := prepared.Check()
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				addFindings(&rep, findings)
				for _, s := range c.Set.Skipped {
					rep.AddSkipped(s.Source.File, s.Source.Document, s.Reason)
				}
			}
			return writeReport(cmd, &rep, output)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&files, "filename", "f", nil, "manifest file or folder, - for stdin (repeatable)")
	fs.StringArrayVarP(&kustomizations, "kustomize", "k", nil, "folder of a kustomization to render and validate, as kubectl apply -k (repeatable)")
	fs.StringVarP(&output, "output", "o", "text", "output format: text or json")
	fs.BoolVar(&gateway, "mesh-gateway-installed", false, "count a ready mesh gateway that no manifest holds (the Consul Helm chart runs it with meshGateway.enabled); a cluster file's meshGatewayInstalled overrides it")
	fs.BoolVar(&allowRemote, "allow-remote-bases", false, "let -k kustomizations name URLs and git repositories, which kustomize then fetches (runs git); without it only local files are read")
	fs.BoolVar(&strict, "strict", false, "deny fields the consul-k8s schema does not define (unknown-field), instead of warning")
	ef.add(fs)
	inf.add(fs)
	return cmd
}

func addFindings(rep *printer.Report, findings []snapshot.Finding) {
	for i := range findings {
		rep.Add(findings[i].Ref, findings[i].File, &findings[i].Result)
	}
}

// writeReport prints the report and turns a denial into exit code 1.
func writeReport(cmd *cobra.Command, rep *printer.Report, output string) error {
	var err error
	if output == "json" {
		err = rep.WriteJSON(cmd.OutOrStdout())
	} else {
		err = rep.WriteText(cmd.OutOrStdout())
	}
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if rep.Denied() {
		return &exitError{code: exitDenied, err: fmt.Errorf("denied")}
	}
	return nil
}
