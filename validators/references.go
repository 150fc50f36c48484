package validators

import (
	"cmp"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// peerReferences lists, in a stable order, every non-empty peer a config entry other than
// the ones the upstream and exported-services rules read names, as an upstream to that peer
// at its peer field: a resolver's redirect or failover target, an intention's source, a
// sameness group's member. A resolver target also names the service it wants from that peer
// (the resolver's own when it names none), which is what `check` pairs.
func peerReferences(obj any) []upstream {
	var out []upstream
	add := func(p *field.Path, peer, service, namespace string) {
		if peer != "" {
			out = append(out, upstream{target: p, peer: peer, toPeer: true, service: service, namespace: namespace})
		}
	}
	switch o := obj.(type) {
	case *v1alpha1.ServiceResolver:
		if r := o.Spec.Redirect; r != nil {
			add(specPath.Child("redirect", "peer"), r.Peer, cmp.Or(r.Service, o.Name), r.Namespace)
		}
		for _, k := range slices.Sorted(maps.Keys(o.Spec.Failover)) {
			for i, t := range o.Spec.Failover[k].Targets {
				add(specPath.Child("failover").Key(k).Child("targets").Index(i).Child("peer"), t.Peer, cmp.Or(t.Service, o.Name), t.Namespace)
			}
		}
	case *v1alpha1.ServiceIntentions:
		for i, s := range o.Spec.Sources {
			if s != nil {
				add(specPath.Child("sources").Index(i).Child("peer"), s.Peer, "", "")
			}
		}
	case *v1alpha1.SamenessGroup:
		for i, m := range o.Spec.Members {
			add(specPath.Child("members").Index(i).Child("peer"), m.Peer, "", "")
		}
	}
	return out
}

func checkPeerReferenceSyntax(in *ObjectInput) field.ErrorList {
	return in.invalidPeerNames(each(peerReferences(in.Object)))
}

func celPeerReferenceSyntax(g *celGen, k kinds.Kind) {
	peer := func(x string) string { return str(x, "peer") }
	invalid := func(x string) string { return peer(x) + " != '' && " + celInvalidPeer(peer(x)) }
	switch k {
	case kinds.ServiceResolver:
		redirect := func(r string) string { return str(r, "spec", "redirect", "peer") }
		g.scalar(specPath.Child("redirect", "peer").String(),
			func(r string) string { return redirect(r) + " != '' && " + celInvalidPeer(redirect(r)) }, redirect, lit(peerNameHint))
		// spec.failover is a map of subsets; its key stays in the ratchet's field path.
		failover := func(r string) string { return at(r, "{}", "spec", "failover") }
		targets := func(m, s string) string {
			return "(" + s + " in " + m + " && has(" + m + "[" + s + "].targets) ? " + m + "[" + s + "].targets : [])"
		}
		count := func(r, s, v string) string {
			return targets(failover(r), s) + ".filter(y, " + invalid("y") + " && " + peer("y") + " == " + v + ").size()"
		}
		isNew := func(s, t string) string {
			return invalid(t) + " && (!" + g.ratchet + " || " + count(celNew, s, peer(t)) + " > " + count(celOld, s, peer(t)) + ")"
		}
		m := failover(celNew)
		// The first subset in order, as the engine reports them: a map's iteration order
		// changes from one evaluation to the next.
		subset := m + ".filter(s, " + targets(m, "s") + ".exists(t, " + isNew("s", "t") + ")).min()"
		j := targets(m, subset) + ".map(t2, " + isNew(subset, "t2") + ").indexOf(true)"
		path := "'spec.failover[' + " + subset + " + '].targets[' + string(" + j + ") + '].peer'"
		g.add("!"+m+".exists(s, "+targets(m, "s")+".exists(t, "+isNew("s", "t")+"))", g.message(path, lit(peerNameHint)))
	case kinds.ServiceIntentions:
		g.list(listSite{list: func(r string) string { return at(r, "[]", "spec", "sources") }, prefix: "spec.sources", suffix: ".peer",
			bad: invalid, key: peer, detail: constDetail(peerNameHint)})
	case kinds.SamenessGroup:
		g.list(listSite{list: func(r string) string { return at(r, "[]", "spec", "members") }, prefix: "spec.members", suffix: ".peer",
			bad: invalid, key: peer, detail: constDetail(peerNameHint)})
	}
}

func checkPeerReferenceKnown(in *Input) field.ErrorList {
	return in.unknownPeers(each(peerReferences(in.Object)))
}

// groupReference is a sameness group a config entry names, at its field.
type groupReference struct {
	path  *field.Path
	group string
}

// samenessGroupReferences lists, in a stable order, every sameness group the object names:
// an ExportedServices consumer, an intention's source, a resolver's redirect or failover.
func samenessGroupReferences(in *ObjectInput) []groupReference {
	var out []groupReference
	add := func(group string, p func() *field.Path) {
		if group != "" { // paths are built only for what is named: lists can be long
			out = append(out, groupReference{path: p(), group: group})
		}
	}
	eachConsumer(in, func(p elem, _ *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
		add(c.SamenessGroup, func() *field.Path { return p.child("samenessGroup") })
	})
	switch o := in.Object.(type) {
	case *v1alpha1.ServiceIntentions:
		for i, src := range o.Spec.Sources {
			if src != nil {
				add(src.SamenessGroup, func() *field.Path { return specPath.Child("sources").Index(i).Child("samenessGroup") })
			}
		}
	case *v1alpha1.ServiceResolver:
		if r := o.Spec.Redirect; r != nil {
			add(r.SamenessGroup, func() *field.Path { return specPath.Child("redirect", "samenessGroup") })
		}
		for _, k := range slices.Sorted(maps.Keys(o.Spec.Failover)) {
			add(o.Spec.Failover[k].SamenessGroup, func() *field.Path { return specPath.Child("failover").Key(k).Child("samenessGroup") })
		}
	}
	return out
}

// checkSamenessGroupKnown warns about a sameness group that no SamenessGroup defines: Consul
// takes the name as an empty group, so a typo silently exports to, fails over to or allows
// nobody. Objects may arrive in any order under GitOps, hence a warning.
func checkSamenessGroupKnown(in *Input) field.ErrorList {
	if in.Config.Edition == EditionCE {
		return nil // no SamenessGroup can exist on CE: consumer-needs-enterprise says so instead
	}
	var errs field.ErrorList
	for _, r := range samenessGroupReferences(in.ObjectInput) {
		if r.group == wildcard {
			continue // consumer-no-wildcard's finding
		}
		if found, _ := in.State.SamenessGroup(r.group); !found {
			errs = append(errs, withDetail(field.NotFound(r.path, r.group), unknownSamenessGroup))
		}
	}
	return errs
}

// unknownSamenessGroup is the message of sameness-group-known.
const unknownSamenessGroup = "no SamenessGroup has this name; Consul reads it as an empty group, write the SamenessGroup first"

const msgSamenessGroupNeedsEnterprise = "sameness groups need Consul Enterprise, the edition is ce; consul-k8s cannot sync it"

// checkSamenessGroupNeedsEnterprise refuses a SamenessGroup only when the edition is known
// to be CE: sameness groups are a Consul Enterprise feature, and no rule guesses the edition.
func checkSamenessGroupNeedsEnterprise(in *ObjectInput) field.ErrorList {
	if _, ok := in.Object.(*v1alpha1.SamenessGroup); !ok || in.Config.Edition != EditionCE {
		return nil
	}
	return field.ErrorList{field.Forbidden(namePath, msgSamenessGroupNeedsEnterprise)}
}

func celSamenessGroupNeedsEnterprise(g *celGen, _ kinds.Kind) {
	g.only(celCE, func() {
		g.nameOnCreate(func(string) string { return "false" }, lit(msgSamenessGroupNeedsEnterprise))
	})
}
