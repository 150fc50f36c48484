package validators

import (
	"fmt"
	"strconv"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// The first Consul versions that understand each peering feature.
var (
	peerConsumersSince     = version.MajorMinor(1, 13)
	peeringGASince         = version.MajorMinor(1, 14)
	upstreamPeerSince      = version.MajorMinor(1, 15)
	samenessConsumersSince = version.MajorMinor(1, 16)
)

const (
	msgConsulVersion = "%s needs Consul %s+, configured version is %s"
	// The features of consul-version, named in msgConsulVersion.
	featureClusterPeering    = "cluster peering"
	featureUpstreamPeer      = "upstreamConfig.overrides[].peer"
	featurePeerConsumers     = "peer consumers"
	featureSamenessConsumers = "samenessGroup consumers"
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

// celBefore is the condition that a Consul version is configured and is older than since.
// The parameter holds it as ParseConsulVersion prints it (or as the chart's value without
// its v and +suffix): major and minor are its first two numbers.
func celBefore(since *version.Version) string {
	part := func(i int) string {
		return "int(" + param(ParamConsulVersion) + ".split('.')[" + strconv.Itoa(i) + "])"
	}
	major, minor := strconv.Itoa(int(since.Major())), strconv.Itoa(int(since.Minor()))
	return param(ParamConsulVersion) + " != '' && (" + part(0) + " < " + major + " || (" + part(0) + " == " + major +
		" && " + part(1) + " < " + minor + "))"
}

func celConsulVersion(g *celGen, k kinds.Kind) {
	detail := func(since *version.Version, feature string) string {
		return celFormat(msgConsulVersion, lit(feature), lit(since.String()), param(ParamConsulVersion))
	}
	switch k {
	case kinds.PeeringAcceptor, kinds.PeeringDialer:
		g.only(celBefore(peeringGASince), func() {
			g.nameOnCreate(func(string) string { return "false" }, detail(peeringGASince, featureClusterPeering))
		})
	case kinds.ServiceDefaults:
		g.only(celBefore(upstreamPeerSince), func() {
			g.list(overrideSite(".peer", func(x string) string { return str(x, "peer") + " != ''" }, nil,
				func(string) string { return detail(upstreamPeerSince, featureUpstreamPeer) }))
		})
	case kinds.ExportedServices:
		g.only(celBefore(peerConsumersSince), func() {
			g.nested(consumerSite(".peer", func(_, c string) string { return str(c, "peer") + " != ''" }, nil,
				func(string, string) string { return detail(peerConsumersSince, featurePeerConsumers) }))
		})
		g.only(celBefore(samenessConsumersSince), func() {
			g.nested(consumerSite(".samenessGroup", func(_, c string) string { return str(c, "samenessGroup") + " != ''" }, nil,
				func(string, string) string { return detail(samenessConsumersSince, featureSamenessConsumers) }))
		})
	}
}
