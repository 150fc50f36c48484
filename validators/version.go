package validators

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// The first Consul versions that understand each peering feature.
var (
	peerConsumersSince     = version.MajorMinor(1, 13)
	peeringGASince         = version.MajorMinor(1, 14)
	upstreamPeerSince      = version.MajorMinor(1, 15)
	samenessConsumersSince = version.MajorMinor(1, 16)
)

func checkConsulVersion(in *ObjectInput) field.ErrorList {
	have := in.Config.ConsulVersion
	if have == nil {
		return nil
	}
	var errs field.ErrorList
	need := func(p *field.Path, since *version.Version, feature string) {
		if !have.AtLeast(since) {
			errs = append(errs, field.Forbidden(p, fmt.Sprintf(msgConsulVersion, feature, since, have)))
		}
	}
	switch in.Object.(type) {
	case *v1alpha1.PeeringAcceptor, *v1alpha1.PeeringDialer:
		need(namePath, peeringGASince, featureClusterPeering)
	case *v1alpha1.ServiceDefaults:
		for u := range in.eachUpstream() {
			if u.peer != "" {
				need(in.upstreamPath(u, "peer"), upstreamPeerSince, featureUpstreamPeer)
			}
		}
	case *v1alpha1.ExportedServices:
		eachConsumer(in, func(p elem, _ *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
			if c.Peer != "" {
				need(p.child("peer"), peerConsumersSince, featurePeerConsumers)
			}
			if c.SamenessGroup != "" {
				need(p.child("samenessGroup"), samenessConsumersSince, featureSamenessConsumers)
			}
		})
	}
	return errs
}
