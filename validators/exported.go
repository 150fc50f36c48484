package validators

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

const (
	msgNoServices  = "list at least one service with its consumers"
	msgNoConsumers = "list the peers or partitions that may use it"
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

func celExportedServicesNotEmpty(g *celGen, _ kinds.Kind) {
	g.scalar(servicesPath.String(), func(r string) string { return "size(" + celServices(r) + ") == 0" }, nil,
		lit(msgNoServices))
	g.list(listSite{list: celServices, prefix: servicesPath.String(), suffix: ".consumers",
		bad: func(x string) string { return "size(" + celConsumers(x) + ") == 0" }, detail: constDetail(msgNoConsumers)})
}

const (
	msgServiceNameRequired        = "name the service to export, or * for all"
	msgNamespaceWildcardNeedsName = "namespace * needs name *; name the namespace"
)

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

func celExportedServiceNameRequired(g *celGen, _ kinds.Kind) {
	g.list(listSite{list: celServices, prefix: servicesPath.String(), suffix: ".name",
		bad: func(x string) string { return str(x, "name") + " == ''" }, detail: constDetail(msgServiceNameRequired)})
	g.list(listSite{list: celServices, prefix: servicesPath.String(), suffix: ".namespace",
		bad: func(x string) string {
			return str(x, "name") + " != '' && " + str(x, "name") + " != '*' && " + str(x, "namespace") + " == '*'"
		},
		detail: constDetail(msgNamespaceWildcardNeedsName)})
}

const (
	msgConsumerNone    = "set one of peer, partition or samenessGroup"
	msgConsumerSeveral = "set only one of peer, partition or samenessGroup"
)

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

// celConsumerFields are the fields of a consumer, in the order of its Go struct.
var celConsumerFields = []string{"partition", "peer", "samenessGroup"}

// celConsumerValue is a consumer as a list of its fields: its ratchet key as a value.
func celConsumerValue(c string) string {
	parts := make([]string, len(celConsumerFields))
	for i, f := range celConsumerFields {
		parts[i] = str(c, f)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func celConsumerSet(c string) string {
	parts := make([]string, len(celConsumerFields))
	for i, f := range celConsumerFields {
		parts[i] = "(" + str(c, f) + " != '' ? 1 : 0)"
	}
	return "(" + strings.Join(parts, " + ") + ")"
}

func celConsumerExactlyOne(g *celGen, _ kinds.Kind) {
	g.nested(consumerSite("", func(_, c string) string { return celConsumerSet(c) + " == 0" }, nil,
		constDetail2(msgConsumerNone)))
	g.nested(consumerSite("", func(_, c string) string { return celConsumerSet(c) + " > 1" },
		func(_, c string) string { return celConsumerValue(c) }, constDetail2(msgConsumerSeveral)))
}

const msgConsumerWildcard = "name each %s; Consul has no wildcard %s"

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

func celConsumerNoWildcard(g *celGen, _ kinds.Kind) {
	for _, f := range []struct{ field, what string }{
		{"peer", "peer"}, {"partition", "partition"}, {"samenessGroup", "sameness group"},
	} {
		g.nested(consumerSite("."+f.field, func(_, c string) string { return str(c, f.field) + " == '*'" }, nil,
			constDetail2(fmt.Sprintf(msgConsumerWildcard, f.what, f.what))))
	}
}

const (
	msgPartitionsOffConsumer           = "admin partitions are off; export to a peer instead"
	msgSamenessConsumerNeedsEnterprise = "sameness groups need Consul Enterprise, the edition is ce; export to each peer instead"
)

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

func celConsumerNeedsEnterprise(g *celGen, _ kinds.Kind) {
	g.only(celOff(ParamPartitionsEnabled), func() {
		g.nested(consumerSite(".partition", func(_, c string) string { return str(c, "partition") + " != ''" }, nil,
			constDetail2(msgPartitionsOffConsumer)))
	})
	g.only(celCE, func() {
		g.nested(consumerSite(".samenessGroup", func(_, c string) string { return str(c, "samenessGroup") + " != ''" }, nil,
			constDetail2(msgSamenessConsumerNeedsEnterprise)))
	})
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

func celExportedServiceNamespaceNeedsNamespaces(g *celGen, _ kinds.Kind) {
	g.only(celOff(ParamNamespacesEnabled), func() {
		g.list(listSite{list: celServices, prefix: servicesPath.String(), suffix: ".namespace",
			bad: func(x string) string { return str(x, "namespace") + " != ''" }, detail: constDetail(msgNamespacesOff)})
	})
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

func celConsumerPeerNameSyntax(g *celGen, _ kinds.Kind) {
	peer := func(_, c string) string { return str(c, "peer") }
	g.nested(consumerSite(".peer",
		func(_, c string) string {
			return str(c, "peer") + " != '' && " + str(c, "peer") + " != '*' && " + celInvalidPeer(str(c, "peer"))
		},
		peer, constDetail2(peerNameHint)))
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

const msgExportConsulService = "Consul never exports the consul service to peers; remove it"

func checkExportConsulService(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	eachConsumer(in, func(p elem, svc *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
		if svc.Name == "consul" && (c.Peer != "" || c.SamenessGroup != "") {
			errs = append(errs, field.Invalid(p.path(), *c, msgExportConsulService))
		}
	})
	return errs
}

func celExportConsulService(g *celGen, _ kinds.Kind) {
	g.nested(consumerSite("",
		func(s, c string) string {
			return str(s, "name") + " == 'consul' && (" + str(c, "peer") + " != '' || " + str(c, "samenessGroup") + " != '')"
		},
		func(_, c string) string { return celConsumerValue(c) },
		constDetail2(msgExportConsulService)))
}

func nonEmpty(s string) int {
	if s == "" {
		return 0
	}
	return 1
}
