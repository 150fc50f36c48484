package validators

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

const wildcard = "*"

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

func checkUpstreamPeerPartitionExclusive(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	eachOverride(in, func(p elem, u *v1alpha1.Upstream) {
		if u.Peer != "" && u.Partition != "" {
			errs = append(errs, field.Forbidden(p.child("partition"), msgPeerPartitionExclusive))
		}
	})
	return errs
}

func checkUpstreamNamespaceNeedsNamespaces(in *ObjectInput) field.ErrorList {
	if in.Config.NamespacesEnabled {
		return nil
	}
	var errs field.ErrorList
	eachOverride(in, func(p elem, u *v1alpha1.Upstream) {
		if u.Namespace != "" {
			errs = append(errs, field.Forbidden(p.child("namespace"), msgNamespacesOff))
		}
	})
	return errs
}

func checkUpstreamPartitionNeedsPartitions(in *ObjectInput) field.ErrorList {
	if in.Config.PartitionsEnabled {
		return nil
	}
	var errs field.ErrorList
	eachOverride(in, func(p elem, u *v1alpha1.Upstream) {
		if u.Partition != "" {
			errs = append(errs, field.Forbidden(p.child("partition"), msgPartitionsOffUpstream))
		}
	})
	return errs
}

func checkUpstreamNamespaceDefaultRedundant(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	eachOverride(in, func(p elem, u *v1alpha1.Upstream) {
		if u.Peer != "" && u.Namespace == "default" {
			errs = append(errs, field.Invalid(p.child("namespace"), u.Namespace, msgNamespaceDefaultRedundant))
		}
	})
	return errs
}

func checkUpstreamNoWildcard(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	eachOverride(in, func(p elem, u *v1alpha1.Upstream) {
		if u.Name == wildcard {
			errs = append(errs, field.Invalid(p.child("name"), u.Name, msgWildcardUpstreamName))
		}
		if u.Namespace == wildcard {
			errs = append(errs, field.Invalid(p.child("namespace"), u.Namespace, msgWildcardUpstreamNamespace))
		}
	})
	return errs
}

type upstreamID struct{ name, namespace, partition, peer string }

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

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
		id := upstreamID{name: u.Name, namespace: orDefault(u.Namespace), peer: u.Peer}
		if u.Peer == "" {
			id.partition = orDefault(u.Partition)
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
	var errs field.ErrorList
	eachOverride(in, func(p elem, u *v1alpha1.Upstream) {
		if u.Peer != "" && !ValidPeerName(u.Peer) {
			errs = append(errs, field.Invalid(p.child("peer"), u.Peer, peerNameHint))
		}
	})
	return errs
}

func checkUpstreamPeerKnown(in *Input) field.ErrorList {
	var errs field.ErrorList
	eachOverride(in.ObjectInput, func(p elem, u *v1alpha1.Upstream) {
		if ValidPeerName(u.Peer) && !in.State.HasPeer(u.Peer) {
			errs = append(errs, withDetail(field.NotFound(p.child("peer"), u.Peer), unknownPeer))
		}
	})
	return errs
}
