package printer

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// WriteDot draws the clusters of a check as a Graphviz digraph: one box per cluster with its
// mesh gateway, its exported services and the ServiceDefaults that import from peers;
// peerings between the gateways, exports to the peer that consumes them, imports to the
// service they name. An edge a pair rule found broken is red and dashed (orange for a
// warning) and names the rule.
func WriteDot(w io.Writer, views []*validators.ClusterView, findings []validators.PairViolation) error {
	d := dot{broken: map[string][]validators.PairViolation{}}
	for _, f := range findings {
		k := findingKey(f.Cluster, f.Object, f.Error.Field)
		d.broken[k] = append(d.broken[k], f)
	}
	d.line("digraph peering {")
	d.line(`  rankdir=LR; graph [fontname="Helvetica"]; node [fontname="Helvetica"]; edge [fontname="Helvetica", fontsize=10];`)
	inputs := validators.PairInputs(views)
	services := map[string]bool{}
	for _, v := range views {
		for _, e := range v.Exports {
			services[serviceNode(v.Name, e.Partition, e.Namespace, e.Service)] = true
		}
	}
	// Services imported but not exported are drawn dotted inside the cluster that lacks them.
	missing := map[string][]validators.Import{}
	for _, in := range inputs {
		for _, im := range in.ImportsFromRemote() {
			if n := importTarget(in, im); !services[n] {
				services[n] = true
				missing[in.Remote.Name] = append(missing[in.Remote.Name], im)
			}
		}
	}
	drawn := map[string]bool{}
	for i, v := range views {
		d.line("  subgraph cluster_%d {", i)
		d.line("    label=%s; style=rounded;", quote(v.Name))
		gw := "mesh gateway"
		attrs := "shape=box3d"
		if v.Gateway != validators.GatewayReady {
			gw = "mesh gateway " + v.Gateway.String()
			attrs += ", color=red, fontcolor=red"
		}
		d.line("    %s [label=%s, %s];", quote(gatewayNode(v.Name)), quote(v.Name+"\n"+gw), attrs)
		for _, e := range v.Exports {
			n := serviceNode(v.Name, e.Partition, e.Namespace, e.Service)
			if !drawn[n] {
				drawn[n] = true
				d.line("    %s [label=%s, shape=ellipse];", quote(n), quote(serviceLabel(e.Service, e.Namespace)))
			}
		}
		for _, im := range missing[v.Name] {
			n := serviceNode(v.Name, partitionOf(im, v), im.Namespace, im.Service)
			if !drawn[n] {
				drawn[n] = true
				d.line("    %s [label=%s, shape=ellipse, style=dotted, color=red];", quote(n),
					quote(serviceLabel(im.Service, im.Namespace)+"\nnot exported"))
			}
		}
		seen := map[string]bool{}
		for _, im := range v.Imports {
			n := importerNode(v.Name, im.Object)
			if !seen[n] {
				seen[n] = true
				d.line("    %s [label=%s, shape=note];", quote(n), quote(im.Object.Name+"\n("+string(im.Object.Kind)+")"))
			}
		}
		d.line("  }")
	}
	for _, in := range inputs {
		d.peerings(in)
		d.exports(in)
		d.imports(in)
	}
	d.line("}")
	_, err := io.WriteString(w, d.b.String())
	return err
}

type dot struct {
	b      strings.Builder
	broken map[string][]validators.PairViolation
}

func (d *dot) line(format string, args ...any) {
	fmt.Fprintf(&d.b, format+"\n", args...)
}

// edge draws one edge, styled by the findings at the given places.
func (d *dot) edge(from, to, label string, keys ...string) {
	var rules []string
	deny := false
	for _, k := range keys {
		for _, f := range d.broken[k] {
			rules = append(rules, f.Rule)
			deny = deny || f.Action == validators.Deny
		}
	}
	slices.Sort(rules)
	rules = slices.Compact(rules)
	attrs := ""
	switch {
	case deny:
		attrs = ", color=red, fontcolor=red, style=dashed"
	case len(rules) > 0:
		attrs = ", color=orange, fontcolor=orange, style=dashed"
	}
	if len(rules) > 0 {
		label += "\nbroken: " + strings.Join(rules, ", ")
	}
	d.line("  %s -> %s [label=%s%s];", quote(from), quote(to), quote(label), attrs)
}

// peerings draws each peering once, from the dialer's gateway to the acceptor's; a peer
// object without its other half is drawn from its own side.
func (d *dot) peerings(in *validators.PairInput) {
	for _, p := range in.LocalPeers {
		key := findingKey(in.Local.Name, p.Ref, "metadata.name")
		switch {
		case p.Ref.Kind == kinds.PeeringAcceptor:
			label := "acceptor " + p.Ref.Name
			keys := []string{key}
			for _, q := range in.RemotePeers {
				label = "dialer " + q.Ref.Name + " -> " + label
				keys = append(keys, findingKey(in.Remote.Name, q.Ref, "metadata.name"))
			}
			d.edge(gatewayNode(in.Remote.Name), gatewayNode(in.Local.Name), "peering\n"+label, keys...)
		case !hasAcceptor(in.RemotePeers):
			d.edge(gatewayNode(in.Local.Name), gatewayNode(in.Remote.Name), "peering\ndialer "+p.Ref.Name, key)
		}
	}
}

func hasAcceptor(objs []validators.PeerObject) bool {
	for _, o := range objs {
		if o.Ref.Kind == kinds.PeeringAcceptor {
			return true
		}
	}
	return false
}

func (d *dot) exports(in *validators.PairInput) {
	for _, e := range in.ExportsToRemote() {
		d.edge(serviceNode(in.Local.Name, e.Partition, e.Namespace, e.Service), gatewayNode(in.Remote.Name),
			"exported to "+e.Peer, findingKey(in.Local.Name, e.Object, e.Field.String()))
	}
}

// importTarget is the node of the service an import names on the peer.
func importTarget(in *validators.PairInput, im validators.Import) string {
	return serviceNode(in.Remote.Name, partitionOf(im, in.Remote), im.Namespace, im.Service)
}

// partitionOf is the partition an import reaches on the exporting cluster: its own when the
// import names none.
func partitionOf(im validators.Import, exporter *validators.ClusterView) string {
	if im.Partition != "" {
		return im.Partition
	}
	return exporter.Config.LocalPartition()
}

// imports draws an edge from the importing object to the service it names on the peer.
func (d *dot) imports(in *validators.PairInput) {
	for _, im := range in.ImportsFromRemote() {
		target := importTarget(in, im)
		keys := []string{findingKey(in.Local.Name, im.Object, im.Field.String())}
		if im.ModeField != nil {
			keys = append(keys, findingKey(in.Local.Name, im.Object, im.ModeField.String()))
		}
		label := "upstream via peer " + im.Peer
		if im.Mode != "" {
			label += " (" + im.Mode + ")"
		}
		d.edge(importerNode(in.Local.Name, im.Object), target, label, keys...)
	}
}

func findingKey(cluster string, ref kinds.ObjectRef, field string) string {
	return cluster + "\x00" + ref.String() + "\x00" + field
}

func gatewayNode(cluster string) string { return cluster + "/mesh-gateway" }

func serviceNode(cluster, partition, namespace, service string) string {
	return strings.ToLower(cluster + "/" + partition + "/" + cmp.Or(namespace, "default") + "/" + service)
}

func importerNode(cluster string, ref kinds.ObjectRef) string {
	return cluster + "/" + ref.String()
}

func serviceLabel(service, namespace string) string {
	return service + "\n(namespace " + cmp.Or(namespace, "default") + ")"
}

// quote makes a DOT string: double quotes, with quotes and backslashes escaped and line
// breaks as \n, which Graphviz renders as centred new lines.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
