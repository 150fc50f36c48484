package validators

import (
	"cmp"
	"fmt"
	"iter"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

const wildcard = "*"

const msgUpstreamNameRequired = "name the upstream service this override configures"

func checkUpstreamNameRequired(in *ObjectInput) field.ErrorList {
	sd, ok := in.Object.(*v1alpha1.ServiceDefaults)
	if !ok {
		return nil
	}
	var errs field.ErrorList
	for i, u := range overridesOf(sd) {
		if u == nil || u.Name == "" {
			errs = append(errs, field.Required(overridesPath.Index(i).Child("name"), msgUpstreamNameRequired))
		}
	}
	return errs
}

func celUpstreamNameRequired(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".name", func(x string) string { return str(x, "name") + " == ''" }, nil,
		constDetail(msgUpstreamNameRequired)))
}

const msgDefaultsNoDestination = "defaults apply to every upstream; move it to an override"

func checkUpstreamDefaultsNoDestination(in *ObjectInput) field.ErrorList {
	sd, ok := in.Object.(*v1alpha1.ServiceDefaults)
	if !ok {
		return nil
	}
	d := defaultsOf(sd)
	if d == nil {
		return nil
	}
	var errs field.ErrorList
	for _, f := range []struct{ name, value string }{
		{"name", d.Name}, {"namespace", d.Namespace}, {"partition", d.Partition}, {"peer", d.Peer},
	} {
		if f.value != "" {
			errs = append(errs, field.Forbidden(defaultsPath.Child(f.name), msgDefaultsNoDestination))
		}
	}
	return errs
}

func celUpstreamDefaultsNoDestination(g *celGen, _ kinds.Kind) {
	for _, f := range []string{"name", "namespace", "partition", "peer"} {
		g.scalar(defaultsPath.Child(f).String(),
			func(r string) string { return str(r, "spec", "upstreamConfig", "defaults", f) + " != ''" }, nil,
			lit(msgDefaultsNoDestination))
	}
}

const msgPeerPartitionExclusive = "an upstream is in a peer or in a partition; remove one"

func checkUpstreamPeerPartitionExclusive(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	for u := range in.eachUpstream() {
		if u.peer != "" && u.partition != "" {
			errs = append(errs, field.Forbidden(in.upstreamPath(u, "partition"), msgPeerPartitionExclusive))
		}
	}
	return errs
}

func celUpstreamPeerPartitionExclusive(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".partition", func(x string) string { return str(x, "peer") + " != '' && " + str(x, "partition") + " != ''" }, nil,
		constDetail(msgPeerPartitionExclusive)))
}

// checkUpstreamNamespaceNeedsNamespaces also refuses a dotted unlabeled annotation entry
// while namespaces and partitions are off: consul-k8s reads it as one service name.
func checkUpstreamNamespaceNeedsNamespaces(in *ObjectInput) field.ErrorList {
	if in.Config.NamespacesEnabled {
		return nil
	}
	var errs field.ErrorList
	for u := range in.eachUpstream() {
		switch {
		case u.entry != nil && !in.Config.PartitionsEnabled && dottedName(u.entry):
			errs = append(errs, in.entryError(u.entry, field.ErrorTypeForbidden,
				fmt.Sprintf("%s: namespaces are off, so this is service %s", u.entry.Quoted(), quoteShort(u.service))))
		// With partitions on and namespaces off, an entry's six-label peer form still needs a
		// namespace label, so default is never reported there.
		case u.namespace != "" && (u.entry == nil || u.namespace != DefaultPartition):
			errs = append(errs, in.upstreamError(u, field.ErrorTypeForbidden, "",
				msgNamespacesOff,
				"Consul namespaces are off; drop namespace "+quoteShort(u.namespace), "namespace"))
		}
	}
	return errs
}

func celUpstreamNamespaceNeedsNamespaces(g *celGen, _ kinds.Kind) {
	g.only(celOff(ParamNamespacesEnabled), func() {
		g.list(overrideSite(".namespace", func(x string) string { return str(x, "namespace") + " != ''" }, nil,
			constDetail(msgNamespacesOff)))
	})
}

const msgPartitionsOffUpstream = "admin partitions are off; remove it or enable partitions"

func checkUpstreamPartitionNeedsPartitions(in *ObjectInput) field.ErrorList {
	if in.Config.PartitionsEnabled {
		return nil
	}
	var errs field.ErrorList
	for u := range in.eachUpstream() {
		if u.partition != "" {
			errs = append(errs, in.upstreamError(u, field.ErrorTypeForbidden, "",
				msgPartitionsOffUpstream,
				"admin partitions are off; drop partition "+quoteShort(u.partition), "partition"))
		}
	}
	return errs
}

func celUpstreamPartitionNeedsPartitions(g *celGen, _ kinds.Kind) {
	g.only(celOff(ParamPartitionsEnabled), func() {
		g.list(overrideSite(".partition", func(x string) string { return str(x, "partition") + " != ''" }, nil,
			constDetail(msgPartitionsOffUpstream)))
	})
}

const msgNamespaceDefaultRedundant = "default is implied for peers; omit it"

func checkUpstreamNamespaceDefaultRedundant(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	for u := range in.eachUpstream() {
		if u.peer != "" && u.namespace == "default" {
			errs = append(errs, field.Invalid(in.upstreamPath(u, "namespace"), u.namespace, msgNamespaceDefaultRedundant))
		}
	}
	return errs
}

func celUpstreamNamespaceDefaultRedundant(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".namespace", func(x string) string { return str(x, "peer") + " != '' && " + str(x, "namespace") + " == 'default'" }, nil,
		constDetail(msgNamespaceDefaultRedundant)))
}

const (
	msgWildcardUpstreamName      = "overrides name one service; use defaults for all"
	msgWildcardUpstreamNamespace = "overrides name one namespace"
)

// checkUpstreamNoWildcard checks an override's name and namespace, as the specification
// says, and an annotation entry's service.
func checkUpstreamNoWildcard(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	for u := range in.eachUpstream() {
		if u.service == wildcard {
			errs = append(errs, in.upstreamError(u, field.ErrorTypeInvalid, u.service,
				msgWildcardUpstreamName, "Consul refuses a * upstream; name one service", "name"))
		}
		if u.entry == nil && u.namespace == wildcard {
			errs = append(errs, field.Invalid(in.upstreamPath(u, "namespace"), u.namespace, msgWildcardUpstreamNamespace))
		}
	}
	return errs
}

func celUpstreamNoWildcard(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".name", func(x string) string { return str(x, "name") + " == '*'" }, nil,
		constDetail(msgWildcardUpstreamName)))
	g.list(overrideSite(".namespace", func(x string) string { return str(x, "namespace") + " == '*'" }, nil,
		constDetail(msgWildcardUpstreamNamespace)))
}

type upstreamID struct{ name, namespace, partition, peer string }

const webhookOnlyDuplicate = "finding duplicates compares every override with every other (Kubernetes CEL has no sets " +
	"or sorting), even in a valid object: a ServiceDefaults with 200 overrides already exceeds the API server's " +
	"per-expression cost limit, and the policy would refuse what the webhook allows"

func checkUpstreamDuplicate(in *ObjectInput) field.ErrorList {
	sd, ok := in.Object.(*v1alpha1.ServiceDefaults)
	if !ok || len(overridesOf(sd)) < 2 {
		return nil
	}
	seen := make(map[upstreamID]int, len(overridesOf(sd)))
	var errs field.ErrorList
	for i, u := range overridesOf(sd) {
		if u == nil || u.Name == "" {
			continue
		}
		id := upstreamID{name: u.Name, namespace: namespaceOrDefault(u.Namespace), peer: u.Peer}
		if u.Peer == "" {
			id.partition = cmp.Or(u.Partition, DefaultPartition)
		}
		if first, dup := seen[id]; dup {
			errs = append(errs, &field.Error{Type: field.ErrorTypeDuplicate, Field: overridesPath.Index(i).String(),
				BadValue: u.Name, Detail: fmt.Sprintf("same upstream as overrides[%d]; merge them", first)})
			continue
		}
		seen[id] = i
	}
	return errs
}

func checkUpstreamPeerNameSyntax(in *ObjectInput) field.ErrorList {
	return in.invalidPeerNames(in.eachUpstream())
}

func celUpstreamPeerNameSyntax(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".peer", func(x string) string { return str(x, "peer") + " != '' && " + celInvalidPeer(str(x, "peer")) },
		func(x string) string { return str(x, "peer") }, constDetail(peerNameHint)))
}

func checkUpstreamPeerKnown(in *Input) field.ErrorList { return in.unknownPeers(in.eachUpstream()) }

// invalidPeerNames reports the upstreams (or peer references) to a peer whose name Consul
// refuses: an empty or invalid peer of an annotation entry's .peer form too.
func (in *ObjectInput) invalidPeerNames(ups iter.Seq[*upstream]) field.ErrorList {
	var errs field.ErrorList
	for u := range ups {
		if !u.toPeer || ValidPeerName(u.peer) {
			continue
		}
		entryDetail := "empty peer before .peer; consul-k8s makes it a local upstream"
		if u.peer != "" {
			entryDetail = fmt.Sprintf("peer %s is not a DNS label (letters, digits, -)", quoteShort(u.peer))
		}
		errs = append(errs, in.upstreamError(u, field.ErrorTypeInvalid, u.peer, peerNameHint, entryDetail, "peer"))
	}
	return errs
}

// unknownPeers reports the upstreams (or peer references) to a peer that no PeeringAcceptor
// or PeeringDialer of this cluster names.
func (in *Input) unknownPeers(ups iter.Seq[*upstream]) field.ErrorList {
	var errs field.ErrorList
	for u := range ups {
		if ValidPeerName(u.peer) && !in.State.HasPeer(u.peer) {
			errs = append(errs, in.upstreamError(u, field.ErrorTypeNotFound, u.peer,
				unknownPeer, fmt.Sprintf("peer %q: %s", u.peer, unknownPeer), "peer"))
		}
	}
	return errs
}
