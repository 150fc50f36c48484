package validators

import (
	"sort"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// peerReference is a peer named by a config entry other than the ones the upstream and
// exported-services rules read: a resolver's redirect or failover target, an intention's
// source, a sameness group's member. A resolver target also names the service it wants from
// that peer (the resolver's own when it names none), which is what `check` pairs.
type peerReference struct {
	path      *field.Path
	peer      string
	service   string
	namespace string
}

// peerReferences lists, in a stable order, every non-empty peer the object names.
func peerReferences(obj any) []peerReference {
	var out []peerReference
	add := func(p *field.Path, peer, service, namespace string) {
		if peer != "" {
			out = append(out, peerReference{path: p, peer: peer, service: service, namespace: namespace})
		}
	}
	switch o := obj.(type) {
	case *v1alpha1.ServiceResolver:
		service := func(s string) string {
			if s == "" {
				return o.Name
			}
			return s
		}
		if r := o.Spec.Redirect; r != nil {
			add(specPath.Child("redirect", "peer"), r.Peer, service(r.Service), r.Namespace)
		}
		for _, k := range sortedSubsets(o) {
			for i, t := range o.Spec.Failover[k].Targets {
				add(specPath.Child("failover").Key(k).Child("targets").Index(i).Child("peer"), t.Peer, service(t.Service), t.Namespace)
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

// sortedSubsets returns the failover subsets of a resolver in a stable order.
func sortedSubsets(sr *v1alpha1.ServiceResolver) []string {
	subsets := make([]string, 0, len(sr.Spec.Failover))
	for k := range sr.Spec.Failover {
		subsets = append(subsets, k)
	}
	sort.Strings(subsets)
	return subsets
}

func checkPeerReferenceSyntax(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	for _, r := range peerReferences(in.Object) {
		if !ValidPeerName(r.peer) {
			errs = append(errs, field.Invalid(r.path, r.peer, peerNameHint))
		}
	}
	return errs
}

func checkPeerReferenceKnown(in *Input) field.ErrorList {
	var errs field.ErrorList
	for _, r := range peerReferences(in.Object) {
		if ValidPeerName(r.peer) && !in.State.HasPeer(r.peer) {
			errs = append(errs, withDetail(field.NotFound(r.path, r.peer), unknownPeer))
		}
	}
	return errs
}

// samenessGroupReferences lists, in a stable order, every sameness group the object names:
// an ExportedServices consumer, an intention's source, a resolver's redirect or failover.
func samenessGroupReferences(obj any) []peerReference {
	var out []peerReference
	add := func(group string, p func() *field.Path) {
		if group != "" { // paths are built only for what is named: lists can be long
			out = append(out, peerReference{path: p(), peer: group})
		}
	}
	switch o := obj.(type) {
	case *v1alpha1.ExportedServices:
		for i := range o.Spec.Services {
			for j, c := range o.Spec.Services[i].Consumers {
				add(c.SamenessGroup, func() *field.Path {
					return specPath.Child("services").Index(i).Child("consumers").Index(j).Child("samenessGroup")
				})
			}
		}
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
		for _, k := range sortedSubsets(o) {
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
	for _, r := range samenessGroupReferences(in.Object) {
		if r.peer == wildcard {
			continue // consumer-no-wildcard's finding
		}
		if found, _ := in.State.SamenessGroup(r.peer); !found {
			errs = append(errs, withDetail(field.NotFound(r.path, r.peer), unknownSamenessGroup))
		}
	}
	return errs
}

// unknownSamenessGroup is the message of sameness-group-known.
const unknownSamenessGroup = "no SamenessGroup has this name; Consul reads it as an empty group, write the SamenessGroup first"

// checkSamenessGroupNeedsEnterprise refuses a SamenessGroup only when the edition is known
// to be CE: sameness groups are a Consul Enterprise feature, and no rule guesses the edition.
func checkSamenessGroupNeedsEnterprise(in *ObjectInput) field.ErrorList {
	if _, ok := in.Object.(*v1alpha1.SamenessGroup); !ok || in.Config.Edition != EditionCE {
		return nil
	}
	return field.ErrorList{field.Forbidden(namePath, msgSamenessGroupNeedsEnterprise)}
}
