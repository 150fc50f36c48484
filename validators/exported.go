package validators

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

func checkExportedServicesNotEmpty(in *ObjectInput) field.ErrorList {
	es, ok := in.Object.(*v1alpha1.ExportedServices)
	if !ok {
		return nil
	}
	if len(es.Spec.Services) == 0 {
		return field.ErrorList{field.Required(servicesPath, "list at least one service with its consumers")}
	}
	var errs field.ErrorList
	for i, svc := range es.Spec.Services {
		if len(svc.Consumers) == 0 {
			errs = append(errs, field.Required(servicesPath.Index(i).Child("consumers"), "list the peers or partitions that may use it"))
		}
	}
	return errs
}

func checkExportedServiceNameRequired(in *ObjectInput) field.ErrorList {
	es, ok := in.Object.(*v1alpha1.ExportedServices)
	if !ok {
		return nil
	}
	var errs field.ErrorList
	for i, svc := range es.Spec.Services {
		if svc.Name == "" {
			errs = append(errs, field.Required(servicesPath.Index(i).Child("name"), "name the service to export, or * for all"))
		} else if svc.Namespace == wildcard && svc.Name != wildcard {
			errs = append(errs, field.Invalid(servicesPath.Index(i).Child("namespace"), svc.Namespace, "namespace * needs name *; name the namespace"))
		}
	}
	return errs
}

func checkConsumerExactlyOne(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	eachConsumer(in, func(p elem, _ *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
		n := nonEmpty(c.Peer) + nonEmpty(c.Partition) + nonEmpty(c.SamenessGroup)
		switch {
		case n == 0:
			errs = append(errs, field.Required(p.path(), "set one of peer, partition or samenessGroup"))
		case n > 1:
			errs = append(errs, field.Invalid(p.path(), *c, "set only one of peer, partition or samenessGroup"))
		}
	})
	return errs
}

func checkConsumerNoWildcard(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	eachConsumer(in, func(p elem, _ *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
		if c.Peer == wildcard {
			errs = append(errs, field.Invalid(p.child("peer"), c.Peer, "name each peer; Consul has no wildcard peer"))
		}
		if c.Partition == wildcard {
			errs = append(errs, field.Invalid(p.child("partition"), c.Partition, "name each partition; Consul has no wildcard partition"))
		}
		if c.SamenessGroup == wildcard {
			errs = append(errs, field.Invalid(p.child("samenessGroup"), c.SamenessGroup, "name each sameness group; Consul has no wildcard sameness group"))
		}
	})
	return errs
}

// checkConsumerNeedsEnterprise refuses partition consumers without admin partitions, as
// consul-k8s does, and sameness-group consumers only on a cluster configured as CE: sameness
// groups are an Enterprise feature that does not need admin partitions.
func checkConsumerNeedsEnterprise(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	eachConsumer(in, func(p elem, _ *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
		if c.Partition != "" && !in.Config.PartitionsEnabled {
			errs = append(errs, field.Forbidden(p.child("partition"), "admin partitions are off; export to a peer instead"))
		}
		if c.SamenessGroup != "" && in.Config.Edition == EditionCE {
			errs = append(errs, field.Forbidden(p.child("samenessGroup"), "sameness groups need Consul Enterprise, the edition is ce; export to each peer instead"))
		}
	})
	return errs
}

// checkExportedServiceNamespaceNeedsNamespaces refuses a service namespace while Consul
// namespaces are off, as consul-k8s's own webhook does.
func checkExportedServiceNamespaceNeedsNamespaces(in *ObjectInput) field.ErrorList {
	es, ok := in.Object.(*v1alpha1.ExportedServices)
	if !ok || in.Config.NamespacesEnabled {
		return nil
	}
	var errs field.ErrorList
	for i, svc := range es.Spec.Services {
		if svc.Namespace != "" {
			errs = append(errs, field.Forbidden(servicesPath.Index(i).Child("namespace"), "Consul namespaces are off; remove it or enable namespaces"))
		}
	}
	return errs
}

func checkConsumerPeerNameSyntax(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	eachConsumer(in, func(p elem, _ *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
		if c.Peer != "" && c.Peer != wildcard && !ValidPeerName(c.Peer) {
			errs = append(errs, field.Invalid(p.child("peer"), c.Peer, peerNameHint))
		}
	})
	return errs
}

func checkConsumerPeerKnown(in *Input) field.ErrorList {
	var errs field.ErrorList
	eachConsumer(in.ObjectInput, func(p elem, _ *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
		if ValidPeerName(c.Peer) && !in.State.HasPeer(c.Peer) {
			errs = append(errs, withDetail(field.NotFound(p.child("peer"), c.Peer), unknownPeer))
		}
	})
	return errs
}

func checkExportConsulService(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	eachConsumer(in, func(p elem, svc *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
		if svc.Name == "consul" && (c.Peer != "" || c.SamenessGroup != "") {
			errs = append(errs, field.Invalid(p.path(), *c, "Consul never exports the consul service to peers; remove it"))
		}
	})
	return errs
}

func nonEmpty(s string) int {
	if s == "" {
		return 0
	}
	return 1
}
