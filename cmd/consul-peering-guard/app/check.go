package app

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/internal/pairing"
	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func newCheckCommand() *cobra.Command {
	var (
		ef         engineFlags
		inf        inputFlags
		files      []string
		contexts   []string
		settings   []string
		kubeconfig string
		output     string
		strict     bool
		// gatewayInstalled is validate's --mesh-gateway-installed, for the offline clusters.
		gatewayInstalled bool
	)
	cmd := &cobra.Command{
		Use:   "check (-f DIR -f DIR... | --context NAME --context NAME...)",
		Short: "Check both sides of every peering between clusters (exit 0 allowed, 1 denied, 2 bad input)",
		Long: `Check reads two or more clusters and pairs them: a PeeringAcceptor or PeeringDialer named X
on cluster A reaches the cluster named X (or the one A's cluster file maps X to under peers:),
and the peer calls A by the name of its own acceptor or dialer for A. It then checks what
neither cluster can check alone (peering-pair, import-not-exported, import-no-gateway,
export-unused) and every cluster's own rules, as validate does.

Offline, each -f folder (or each folder below it) holding a ` + manifest.ClusterFileName + ` file
with name: is one cluster. Live, each --context is one cluster of the kubeconfig, named after
the context, or CONTEXT=NAME to name it, or by the name: of its --cluster-file CONTEXT=FILE,
whose settings (peers, rules, partitions, namespaces, ...) apply to that context over the
flags; an acceptor and a dialer whose token Secrets hold the same token are paired whatever
their names (tokens are compared as digests, never shown).

-o dot prints the clusters, peerings and exported and imported services as a Graphviz graph,
broken edges dashed and named by rule: check -o dot -f a -f b | dot -Tsvg > peering.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (len(files) == 0) == (len(contexts) == 0) {
				return &exitError{code: exitUsage, err: fmt.Errorf("either -f DIR (offline) or --context NAME (live) is required, not both")}
			}
			if output != "text" && output != "json" && output != "dot" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--output %q: want text, json or dot", output)}
			}
			base, sel, err := ef.offline()
			if err != nil {
				return err
			}
			var (
				clusters []*pairing.Cluster
				fileOf   = map[string]map[kinds.ObjectRef]string{}
				rep      printer.Report
			)
			if len(files) > 0 {
				var opts manifest.Options
				if opts, err = inf.options(sel, base); err != nil {
					return err
				}
				clusters, err = offlineClusters(cmd, opts, files, strict, gatewayInstalled, &rep)
			} else {
				clusters, err = liveClusters(cmd, base, sel, kubeconfig, contexts, settings)
			}
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if len(clusters) < 2 {
				return &exitError{code: exitUsage, err: fmt.Errorf("check needs two or more clusters, got %d", len(clusters))}
			}
			views := make([]*validators.ClusterView, len(clusters))
			for i, c := range clusters {
				views[i] = validators.NewClusterView(c.Source())
				findings, err := snapshot.Check(c.Engine, c.Items, c.Gateways)
				if err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				byRef := map[kinds.ObjectRef]string{}
				for j := range findings {
					rep.AddIn(c.Name, findings[j].Ref, findings[j].File, &findings[j].Result)
					byRef[findings[j].Ref] = findings[j].File
				}
				fileOf[c.Name] = byRef
			}
			pairs := validators.CheckPairs(views)
			for _, v := range pairs {
				rep.AddPair(v, fileOf[v.Cluster][v.Object])
			}
			if output == "dot" {
				if err := printer.WriteDot(cmd.OutOrStdout(), views, pairs); err != nil {
					return &exitError{code: exitUsage, err: err}
				}
				if rep.Denied() {
					return &exitError{code: exitDenied, err: fmt.Errorf("denied")}
				}
				return nil
			}
			return writeReport(cmd, &rep, output)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&files, "filename", "f", nil, "cluster folder (its "+manifest.ClusterFileName+" names the cluster), or a folder of them (repeatable)")
	fs.StringArrayVar(&contexts, "context", nil, "kubeconfig context of a live cluster, CONTEXT or CONTEXT=CLUSTER-NAME (repeatable)")
	fs.StringArrayVar(&settings, "cluster-file", nil, "CONTEXT=FILE: a "+manifest.ClusterFileName+" file for a live context (its name, peers, rules and installation over the flags; repeatable)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file for --context (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVarP(&output, "output", "o", "text", "output format: text, json or dot (Graphviz)")
	fs.BoolVar(&strict, "strict", false, "deny fields the consul-k8s schema does not define (unknown-field), instead of warning")
	fs.BoolVar(&gatewayInstalled, "mesh-gateway-installed", false, "offline: count a ready mesh gateway in every cluster that no manifest holds (the Consul Helm chart runs it); a cluster file's meshGatewayInstalled overrides it, as in validate")
	ef.add(fs)
	inf.add(fs)
	return cmd
}

// offlineClusters loads the cluster folders; every one must be named and names are unique.
func offlineClusters(cmd *cobra.Command, opts manifest.Options, paths []string, strict, gatewayInstalled bool, rep *printer.Report) ([]*pairing.Cluster, error) {
	loaded, err := manifest.LoadClusters(paths, nil, cmd.InOrStdin(), opts)
	if err != nil {
		return nil, err
	}
	unknownFields := validators.Warn
	if strict {
		unknownFields = validators.Deny
	}
	seen := map[string]string{}
	var out []*pairing.Cluster
	for _, c := range loaded {
		for _, s := range c.Set.Skipped {
			rep.AddSkipped(s.Source.File, s.Source.Document, s.Reason)
		}
		if c.Dir == "" {
			if len(c.Set.Objects) == 0 {
				continue // only files that are no Kubernetes objects (a values.yaml, a README), listed as skipped
			}
			return nil, fmt.Errorf("manifests outside any cluster folder (%s): check reads folders whose %s names the cluster", printer.Count(len(c.Set.Objects), "object"), manifest.ClusterFileName)
		}
		name := c.Settings.Name
		if name == "" {
			return nil, fmt.Errorf("%s: the cluster file has no name: (how the other clusters' acceptors and dialers call this one)", c.Dir)
		}
		if other, dup := seen[strings.ToLower(name)]; dup {
			return nil, fmt.Errorf("%s and %s are both named %q", other, c.Dir, name)
		}
		seen[strings.ToLower(name)] = c.Dir
		// Judged exactly as validate judges this folder: the same builder, settings and flags.
		prepared, err := snapshot.PrepareCluster(c, unknownFields, gatewayInstalled)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Dir, err)
		}
		pc := &pairing.Cluster{Name: name, Cluster: *prepared, Peers: c.Settings.Peers}
		out = append(out, pc)
	}
	return out, nil
}

// liveClusters reads each context's cluster as audit does, plus the peering token digests.
func liveClusters(cmd *cobra.Command, base validators.Config, sel labels.Selector, kubeconfig string, contexts, settingFiles []string) ([]*pairing.Cluster, error) {
	settings := map[string]manifest.ClusterSettings{}
	for _, arg := range settingFiles {
		context, file, ok := strings.Cut(arg, "=")
		if !ok || context == "" || file == "" {
			return nil, fmt.Errorf("--cluster-file %q: want CONTEXT=FILE", arg)
		}
		s, err := manifest.ReadClusterSettings(file, base)
		if err != nil {
			return nil, err
		}
		settings[context] = s
	}
	for context := range settings {
		if !slices.ContainsFunc(contexts, func(arg string) bool { return strings.SplitN(arg, "=", 2)[0] == context }) {
			return nil, fmt.Errorf("--cluster-file %s=...: no --context %s", context, context)
		}
	}
	seen := map[string]bool{}
	var out []*pairing.Cluster
	for _, arg := range contexts {
		context, name, named := strings.Cut(arg, "=")
		s, hasFile := settings[context]
		switch {
		case named:
		case s.Name != "":
			name = s.Name
		default:
			name = context
		}
		if context == "" || name == "" {
			return nil, fmt.Errorf("--context %q: want CONTEXT or CONTEXT=CLUSTER-NAME", arg)
		}
		if seen[strings.ToLower(name)] {
			return nil, fmt.Errorf("--context %q: two clusters named %q", arg, name)
		}
		seen[strings.ToLower(name)] = true
		cfg := base
		if hasFile {
			cfg = s.Config
		}
		engine, err := validators.NewEngine(cfg)
		if err != nil {
			return nil, fmt.Errorf("context %s: %w", context, err)
		}
		rc, err := contextConfig(kubeconfig, context)
		if err != nil {
			return nil, err
		}
		c, err := client.New(rc, client.Options{Scheme: kinds.NewScheme()})
		if err != nil {
			return nil, fmt.Errorf("context %s: %w", context, err)
		}
		items, gateways, tokens, err := pairing.Collect(cmd.Context(), c, sel)
		if err != nil {
			return nil, fmt.Errorf("context %s: %w", context, err)
		}
		out = append(out, &pairing.Cluster{Name: name, Cluster: snapshot.Cluster{Engine: engine, Items: items, Gateways: gateways},
			Tokens: tokens, Peers: s.Peers})
	}
	return out, nil
}

func contextConfig(kubeconfig, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("--context %s: %w", context, err)
	}
	return cfg, nil
}
