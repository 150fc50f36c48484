package validators

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// checkPeeringPair: every acceptor of Local for Remote meets a dialer of Remote for Local and
// the other way round; two acceptors or two dialers never make a peering.
func checkPeeringPair(in *PairInput) []PairHit {
	var hits []PairHit
	for _, p := range in.LocalPeers {
		want := kinds.PeeringDialer
		if p.Ref.Kind == kinds.PeeringDialer {
			want = kinds.PeeringAcceptor
		}
		counterpart := in.RemotePeers
		for _, q := range in.RemotePeers {
			if p.Token != "" && q.Token == p.Token {
				counterpart = []PeerObject{q}
				break
			}
		}
		var msg string
		switch {
		case len(counterpart) == 0:
			msg = fmt.Sprintf("cluster %q has %s %q for cluster %q, but %q has no %s for %q: create one there named %q (or map its name to %q in peers:)",
				in.Local.Name, p.Ref.Kind, p.Ref.Name, in.Remote.Name, in.Remote.Name, want, in.Local.Name, in.Local.Name, in.Local.Name)
			if want == kinds.PeeringDialer {
				msg += ", with the token this acceptor writes to its Secret"
			}
		case !hasKind(counterpart, want):
			verb := "accept"
			if p.Ref.Kind == kinds.PeeringDialer {
				verb = "dial"
			}
			msg = fmt.Sprintf("cluster %q and cluster %q both %s (%s %q here, %s %q there): one side must be the PeeringAcceptor, the other the PeeringDialer",
				in.Local.Name, in.Remote.Name, verb, p.Ref.Kind, p.Ref.Name, counterpart[0].Ref.Kind, counterpart[0].Ref.Name)
		default:
			continue
		}
		hits = append(hits, PairHit{Object: p.Ref, Error: field.Invalid(namePath, p.Ref.Name, msg)})
	}
	return hits
}

func hasKind(objs []PeerObject, k kinds.Kind) bool {
	for _, o := range objs {
		if o.Ref.Kind == k {
			return true
		}
	}
	return false
}

// checkImportNotExported: every service Local imports from Remote is exported by Remote to
// Local, from the same namespace and partition. A sameness-group export may hold Local: its
// members are not known without the SamenessGroup object, so it never leads to a denial.
func checkImportNotExported(in *PairInput) []PairHit {
	var hits []PairHit
	partition := in.Remote.Config.LocalPartition()
	for _, im := range in.ImportsFromRemote() {
		covered := false
		for _, e := range in.Remote.Exports {
			if ok, _ := e.Covers(im, partition, in.RemoteNames); ok {
				covered = true
				break
			}
		}
		if covered {
			continue
		}
		msg := fmt.Sprintf("cluster %q imports %s from peer %q (cluster %q), which %q does not export to %q%s: export it there in ExportedServices %q with consumer peer %q",
			in.Local.Name, describeService(im.Service, im.Namespace), im.Peer, in.Remote.Name, in.Remote.Name, in.Local.Name,
			exportHint(in, im, partition), cmp.Or(im.Partition, partition), in.RemoteNames[0])
		hits = append(hits, PairHit{Object: im.Object, Error: field.Invalid(im.Field, im.Peer, msg)})
	}
	return hits
}

// exportHint says what Remote exports of the service instead, the commonest near misses: the
// right service from another namespace, or to another peer.
func exportHint(in *PairInput, im Import, partition string) string {
	var elsewhere, others []string
	for _, e := range in.Remote.Exports {
		if e.Service != "*" && !strings.EqualFold(e.Service, im.Service) {
			continue
		}
		probe := im
		probe.Namespace = e.Namespace
		switch {
		case !e.matchesService(probe, partition):
			continue
		case !e.matchesService(im, partition):
			elsewhere = append(elsewhere, "namespace "+namespaceOrDefault(e.Namespace))
		case e.Peer != "":
			others = append(others, e.Peer)
		}
	}
	slices.Sort(elsewhere)
	slices.Sort(others)
	elsewhere, others = slices.Compact(elsewhere), slices.Compact(others)
	var parts []string
	if len(elsewhere) > 0 {
		parts = append(parts, "it exports it from "+strings.Join(elsewhere, ", "))
	}
	if len(others) > 0 {
		parts = append(parts, "only to peers "+strings.Join(others, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func describeService(name, namespace string) string {
	return fmt.Sprintf("service %q (namespace %s)", name, namespaceOrDefault(namespace))
}

// checkImportNoGateway: traffic to a peer service leaves the exporting cluster through its
// mesh gateway, and in local mode enters the importing cluster's own gateway first.
func checkImportNoGateway(in *PairInput) []PairHit {
	var hits []PairHit
	for _, im := range in.ImportsFromRemote() {
		if g := in.Remote.Gateway; g != GatewayReady {
			msg := fmt.Sprintf("cluster %q imports %s from peer %q, but cluster %q has no ready mesh gateway (%s) to serve it: deploy one there (meshGateway.enabled in the Consul Helm chart)",
				in.Local.Name, describeService(im.Service, im.Namespace), im.Peer, in.Remote.Name, g)
			hits = append(hits, PairHit{Object: im.Object, Error: field.Invalid(im.Field, im.Peer, msg), Pending: g == GatewayNotReady})
		}
		if g := in.Local.Gateway; strings.EqualFold(im.Mode, modeLocal) && g != GatewayReady {
			at := im.ModeField
			if at == nil {
				at = im.Field
			}
			msg := fmt.Sprintf("cluster %q reaches %s of cluster %q in mesh gateway mode local, but has no ready mesh gateway of its own (%s): deploy one or use mode remote",
				in.Local.Name, describeService(im.Service, im.Namespace), in.Remote.Name, g)
			hits = append(hits, PairHit{Object: im.Object, Error: field.Invalid(at, im.Mode, msg), Pending: g == GatewayNotReady})
		}
	}
	return hits
}

// checkExportUnused: a service exported to a peer that nothing on the peer names, and that no
// intention here lets the peer reach, is either left over or imported under another name or
// namespace. With transparent proxy the peer dials S.virtual.<peer>.consul and names S
// nowhere: the intention is then the trace. The finding says what was not found and never
// advises removing the consumer, which may be the one working export.
func checkExportUnused(in *PairInput) []PairHit {
	var hits []PairHit
	imports := in.Flip().ImportsFromRemote()
	partition := in.Local.Config.LocalPartition()
	for _, e := range in.ExportsToRemote() {
		used := false
		for _, im := range imports {
			if e.matchesService(im, partition) {
				used = true
				break
			}
		}
		if used || in.intentionLetsIn(e) {
			continue
		}
		msg := fmt.Sprintf("cluster %q exports %s to peer %q (cluster %q): nothing on %q names it and no ServiceIntentions on %q allows a source from that peer; check the service name and namespace %q uses",
			in.Local.Name, describeService(e.Service, e.Namespace), e.Peer, in.Remote.Name, in.Remote.Name, in.Local.Name, in.Remote.Name)
		hits = append(hits, PairHit{Object: e.Object, Error: field.Invalid(e.Field, e.Peer, msg)})
	}
	return hits
}

// intentionLetsIn reports whether an intention of Local lets a source in Remote reach the
// exported service.
func (in *PairInput) intentionLetsIn(e Export) bool {
	for _, pi := range in.Local.PeerIntentions {
		if !containsFold(in.LocalNames, pi.Peer) {
			continue
		}
		if (pi.Service == "*" || e.Service == "*" || strings.EqualFold(pi.Service, e.Service)) &&
			(e.Namespace == "*" || pi.Namespace == "*" || strings.EqualFold(namespaceOrDefault(pi.Namespace), namespaceOrDefault(e.Namespace))) {
			return true
		}
	}
	return false
}
