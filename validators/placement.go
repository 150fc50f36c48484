package validators

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

var peerThroughPath = specPath.Child("peering", "peerThroughMeshGateways")

// checkExportNeedsMeshGateway reports every peer and sameness-group consumer, so that an
// update adding one more export while the gateway is missing counts as new. A sameness
// group whose members are all partitions of this Consul needs no gateway (one is only
// recommended between partitions): a warning. One with a peer, or not written yet, denies.
func checkExportNeedsMeshGateway(in *Input) field.ErrorList {
	gw := in.State.MeshGateway()
	if gw == GatewayReady {
		return nil
	}
	detail := in.gatewayDetail(gw, "exporting to peers needs one")
	var errs, partitionsOnly field.ErrorList // partitionsOnly are in errs too, in order
	eachConsumer(in.ObjectInput, func(p elem, _ *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
		switch {
		case c.Peer != "":
			errs = append(errs, field.Invalid(p.child("peer"), c.Peer, detail))
		case c.SamenessGroup != "":
			if found, hasPeer := in.State.SamenessGroup(c.SamenessGroup); found && !hasPeer {
				fe := field.Invalid(p.child("samenessGroup"), c.SamenessGroup,
					in.gatewayDetail(gw, "the group has only partitions, a gateway is recommended between them"))
				errs, partitionsOnly = append(errs, fe), append(partitionsOnly, fe)
				return
			}
			errs = append(errs, field.Invalid(p.child("samenessGroup"), c.SamenessGroup, detail))
		}
	})
	in.warnOnly(partitionsOnly)
	return in.unlessGatewayComing(gw, errs)
}

const msgPartitionPlacement = "must be this cluster's admin partition %q, where its services and mesh gateway run"

func checkPartitionPlacement(in *ObjectInput) field.ErrorList {
	name := metaOf(in.Object).GetName()
	want := in.Config.LocalPartition()
	if name == want {
		return nil
	}
	return field.ErrorList{field.Invalid(namePath, name,
		fmt.Sprintf(msgPartitionPlacement, want))}
}

func celPartitionPlacement(g *celGen, _ kinds.Kind) {
	want := param(ParamPartition)
	g.nameOnCreate(func(n string) string { return n + " == " + want }, celFormat(msgPartitionPlacement, want))
}

func peerThroughMeshGateways(in *ObjectInput) bool {
	m, ok := in.Object.(*v1alpha1.Mesh)
	return ok && m.Spec.Peering != nil && m.Spec.Peering.PeerThroughMeshGateways
}

const msgPeerThroughDefaultPartition = "Consul reads it only in the default partition, this cluster is %q; set it there"

func checkPeerThroughGatewaysDefaultPartition(in *ObjectInput) field.ErrorList {
	if !peerThroughMeshGateways(in) || in.Config.LocalPartition() == DefaultPartition {
		return nil
	}
	return field.ErrorList{field.Forbidden(peerThroughPath,
		fmt.Sprintf(msgPeerThroughDefaultPartition, in.Config.LocalPartition()))}
}

func celPeerThroughGatewaysDefaultPartition(g *celGen, _ kinds.Kind) {
	g.only(param(ParamPartition)+" != "+lit(DefaultPartition), func() {
		g.scalar(peerThroughPath.String(), func(r string) string { return at(r, "false", "spec", "peering", "peerThroughMeshGateways") }, nil,
			celFormat(msgPeerThroughDefaultPartition, param(ParamPartition)))
	})
}

func checkPeerThroughGatewaysNeedsGateway(in *Input) field.ErrorList {
	if !peerThroughMeshGateways(in.ObjectInput) || in.Config.LocalPartition() != DefaultPartition {
		return nil
	}
	gw := in.State.MeshGateway()
	if gw == GatewayReady {
		return nil
	}
	return in.unlessGatewayComing(gw, field.ErrorList{field.Invalid(peerThroughPath, true,
		in.gatewayDetail(gw, "peering tokens cannot be generated without one"))})
}
