package validators_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

const (
	consumer00    = "spec.services[0].consumers[0]"
	consumer01    = "spec.services[0].consumers[1]"
	consumer10    = "spec.services[1].consumers[0]"
	peerThroughGW = "spec.peering.peerThroughMeshGateways"
)

func TestPlacementRules(t *testing.T) {
	runRuleCases(t, []ruleCase{
		// export-needs-mesh-gateway
		{name: "peer consumer with a gateway", rule: "export-needs-mesh-gateway",
			gateway: true, obj: es("default", svc("api", toPeer("dc2")))},
		{name: "partition consumers need no gateway", rule: "export-needs-mesh-gateway",
			cfg: partitions("default"), obj: es("default", svc("api", toPartition("ap2")))},
		{name: "peer consumer without a gateway", rule: "export-needs-mesh-gateway",
			obj:  es("default", svc("api", toPeer("dc2"))),
			want: []hit{deny(consumer00 + ".peer")}},
		{name: "sameness-group consumer without a gateway, group not written yet", rule: "export-needs-mesh-gateway",
			cfg:  partitions("default"),
			obj:  es("default", svc("api", toSameness("group"))),
			want: []hit{deny(consumer00 + ".samenessGroup")}},
		{name: "sameness group with a peer member, without a gateway", rule: "export-needs-mesh-gateway",
			cfg:   partitions("default"),
			state: []runtime.Object{samenessGroup(v1alpha1.SamenessGroupMember{Partition: "ap1"}, v1alpha1.SamenessGroupMember{Peer: "dc2"})},
			obj:   es("default", svc("api", toSameness("shared"))),
			want:  []hit{deny(consumer00 + ".samenessGroup")}},
		{name: "sameness group of partitions only, without a gateway", rule: "export-needs-mesh-gateway",
			cfg:   partitions("default"),
			state: []runtime.Object{samenessGroup(v1alpha1.SamenessGroupMember{Partition: "default"}, v1alpha1.SamenessGroupMember{Partition: "ap1"})},
			obj:   es("default", svc("api", toSameness("shared"))),
			want:  []hit{warn(consumer00 + ".samenessGroup")}},
		{name: "every peer consumer is reported, partition consumers are not", rule: "export-needs-mesh-gateway",
			cfg:  partitions("default"),
			obj:  es("default", svc("api", toPartition("ap2"), toPeer("dc2")), svc("db", toPeer("dc3"))),
			want: []hit{deny(consumer01 + ".peer"), deny("spec.services[1].consumers[0].peer")}},
		{name: "gateway lost its ready replica", rule: "export-needs-mesh-gateway",
			gateway: true, setup: func(x *state.Index) { x.SetGateway(meshGateway, validators.GatewayMissing) },
			obj:  es("default", svc("api", toPeer("dc2"))),
			want: []hit{deny(consumer00 + ".peer")}},
		{name: "gateway applied in the same pass, not ready yet", rule: "export-needs-mesh-gateway",
			setup: gatewayNotReady,
			obj:   es("default", svc("api", toPeer("dc2")), svc("db", toSameness("group"))),
			want:  []hit{warn(consumer00 + ".peer"), warn("spec.services[1].consumers[0].samenessGroup")}},
		{name: "a not-ready gateway beside a ready one", rule: "export-needs-mesh-gateway",
			gateway: true, setup: gatewayNotReady, obj: es("default", svc("api", toPeer("dc2")))},
		{name: "any ready gateway workload counts", rule: "export-needs-mesh-gateway",
			setup: func(x *state.Index) {
				x.SetGateway(state.GatewayRef{Namespace: "mesh", Name: "gw"}, validators.GatewayReady)
			},
			obj: es("default", svc("api", toPeer("dc2")))},

		// partition-placement
		{name: "default without partitions", rule: "partition-placement", obj: es("default", svc("api", toPeer("dc2")))},
		{name: "another name without partitions", rule: "partition-placement",
			obj:  es("ap1", svc("api", toPeer("dc2"))),
			want: []hit{deny("metadata.name")}},
		{name: "this cluster's partition", rule: "partition-placement",
			cfg: partitions("ap1"), obj: es("ap1", svc("api", toPeer("dc2")))},
		{name: "default while this cluster is ap1", rule: "partition-placement",
			cfg:  partitions("ap1"),
			obj:  es("default", svc("api", toPeer("dc2"))),
			want: []hit{deny("metadata.name")}},
		{name: "partitions on without a partition name means default", rule: "partition-placement",
			cfg: partitions(""), obj: es("default", svc("api", toPeer("dc2")))},

		// peer-through-gateways-default-partition
		{name: "partitions off", rule: "peer-through-gateways-default-partition", obj: mesh("mesh", true)},
		{name: "default partition", rule: "peer-through-gateways-default-partition",
			cfg: partitions("default"), obj: mesh("mesh", true)},
		{name: "not set outside default", rule: "peer-through-gateways-default-partition",
			cfg: partitions("ap1"), obj: mesh("mesh", false)},
		{name: "set outside default", rule: "peer-through-gateways-default-partition",
			cfg: partitions("ap1"), obj: mesh("mesh", true),
			want: []hit{deny(peerThroughGW)}},

		// peer-through-gateways-needs-gateway
		{name: "with a gateway", rule: "peer-through-gateways-needs-gateway",
			gateway: true, obj: mesh("mesh", true)},
		{name: "not set", rule: "peer-through-gateways-needs-gateway", obj: mesh("mesh", false)},
		{name: "outside default is the other rule's", rule: "peer-through-gateways-needs-gateway",
			cfg: partitions("ap1"), obj: mesh("mesh", true)},
		{name: "gateway not ready yet", rule: "peer-through-gateways-needs-gateway",
			setup: gatewayNotReady, obj: mesh("mesh", true), want: []hit{warn(peerThroughGW)}},
		{name: "without a gateway", rule: "peer-through-gateways-needs-gateway",
			obj:  mesh("mesh", true),
			want: []hit{deny(peerThroughGW)}},
		{name: "without a gateway, partitions on", rule: "peer-through-gateways-needs-gateway",
			cfg: partitions("default"), obj: mesh("mesh", true),
			want: []hit{deny(peerThroughGW)}},
	})
}
