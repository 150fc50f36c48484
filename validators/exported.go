package validators

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

func checkExportedServicesNotEmpty(in *ObjectInput) field.ErrorList {
	es, ok := in.Object.(*v1alpha1.ExportedServices)
	if !ok {
		return nil
	}
	if len(es.Spec.Services) == 0 {
		return field.ErrorList{field.Required(servicesPath, msgNoServices)}
	}
	var errs field.ErrorList
	for i, svc := range es.Spec.Services {
		if len(svc.Consumers) == 0 {
			errs = append(errs, field.Required(servicesPath.Index(i).Child("consumers"), msgNoConsumers))
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
			errs = append(errs, field.Required(servicesPath.Index(i).Child("name"), msgServiceNameRequired))
		} else if svc.Namespace == wildcard && svc.Name != wildcard {
			errs = append(errs, field.Invalid(servicesPath.Index(i).Child("namespace"), svc.Namespace, msgNamespaceWildcardNeedsName))
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
			errs = append(errs, field.Required(p.path(), msgConsumerNone))
		case n > 1:
			errs = append(errs, field.Invalid(p.path(), *c, msgConsumerSeveral))
		}
	})
	return errs
}

func checkConsumerNoWildcard(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	eachConsumer(in, func(p elem, _ *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
		if c.Peer == wildcard {
			errs = append(errs, field.Invalid(p.child("peer"), c.Peer, fmt.Sprintf(msgConsumerWildcard, "peer", "peer")))
		}
		if c.Partition == wildcard {
			errs = append(errs, field.Invalid(p.child("partition"), c.Partition, fmt.Sprintf(msgConsumerWildcard, "partition", "partition")))
		}
		if c.SamenessGroup == wildcard {
			errs = append(errs, field.Invalid(p.child("samenessGroup"), c.SamenessGroup, fmt.Sprintf(msgConsumerWildcard, "sameness group", "sameness group")))
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
			errs = append(errs, field.Forbidden(p.child("partition"), msgPartitionsOffConsumer))
		}
		if c.SamenessGroup != "" && in.Config.Edition == EditionCE {
			errs = append(errs, field.Forbidden(p.child("samenessGroup"), msgSamenessConsumerNeedsEnterprise))
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
			errs = append(errs, field.Forbidden(servicesPath.Index(i).Child("namespace"), msgNamespacesOff))
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
			errs = append(errs, field.Invalid(p.path(), *c, msgExportConsulService))
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
