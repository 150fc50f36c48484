package validators_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

const (
	specMode     = "spec.meshGateway.mode"
	defaultsMode = "spec.upstreamConfig.defaults.meshGateway.mode"
	override0    = "spec.upstreamConfig.overrides[0]"
	override1    = "spec.upstreamConfig.overrides[1]"
	override2    = "spec.upstreamConfig.overrides[2]"
)

// peeringInUse are cluster states in which peering is in use, by either signal.
var (
	aPeer        = []runtime.Object{acceptor("dc2", k8sSecret())}
	aPeerExport  = []runtime.Object{es("default", svc("api", toPeer("dc2")))}
	noneDefaults = []runtime.Object{pd("global", "none")}
)

func TestGatewayModeRules(t *testing.T) {
	runRuleCases(t, []ruleCase{
		// gateway-mode-valid
		{name: "proxy-defaults remote", rule: "gateway-mode-valid", obj: pd("global", "remote")},
		{name: "every accepted mode", rule: "gateway-mode-valid",
			obj: sdMode("local", upMode("a", "", "remote"), upMode("b", "", "none"), upMode("c", "", ""))},
		{name: "proxy-defaults capitalised", rule: "gateway-mode-valid", obj: pd("global", "Remote"),
			want: []hit{deny(specMode)}},
		{name: "service-defaults spec, defaults and override", rule: "gateway-mode-valid",
			obj: func() *v1alpha1.ServiceDefaults {
				s := sdDefaults(&v1alpha1.Upstream{MeshGateway: v1alpha1.MeshGateway{Mode: "direct"}},
					upMode("a", "", "remote"), upMode("b", "dc2", "peer"))
				s.Spec.MeshGateway.Mode = "bogus"
				return s
			}(),
			want: []hit{deny(specMode), deny(defaultsMode), deny(override1 + ".meshGateway.mode")}},
		{name: "override after a nil entry keeps its index", rule: "gateway-mode-valid",
			obj:  sd("web", nil, upMode("api", "", "nearest")),
			want: []hit{deny(override1 + ".meshGateway.mode")}},

		// gateway-mode-none-peer-upstream
		{name: "peer upstream remote", rule: "gateway-mode-none-peer-upstream",
			obj: sd("web", upMode("api", "dc2", "remote"))},
		{name: "local upstream none", rule: "gateway-mode-none-peer-upstream",
			obj: sd("web", upMode("api", "", "none"))},
		{name: "spec none is another rule's", rule: "gateway-mode-none-peer-upstream",
			obj: sdMode("none", up("api", "dc2"))},
		{name: "peer upstream none", rule: "gateway-mode-none-peer-upstream",
			obj:  sd("web", up("db", ""), upMode("api", "dc2", "none")),
			want: []hit{deny(override1 + ".meshGateway.mode")}},

		// gateway-mode-none-with-peering
		{name: "proxy-defaults none without peering", rule: "gateway-mode-none-with-peering",
			obj: pd("global", "none")},
		{name: "proxy-defaults remote with peers", rule: "gateway-mode-none-with-peering",
			state: aPeer, obj: pd("global", "remote")},
		{name: "proxy-defaults none with a peer", rule: "gateway-mode-none-with-peering",
			state: aPeer, obj: pd("global", "none"),
			want: []hit{deny(specMode)}},
		{name: "proxy-defaults none with a dialer", rule: "gateway-mode-none-with-peering",
			state: []runtime.Object{dialer("dc3", k8sSecret())}, obj: pd("global", "none"),
			want: []hit{deny(specMode)}},
		{name: "service-defaults spec and defaults none with a peer export", rule: "gateway-mode-none-with-peering",
			state: aPeerExport,
			obj: func() *v1alpha1.ServiceDefaults {
				s := sdDefaults(&v1alpha1.Upstream{MeshGateway: v1alpha1.MeshGateway{Mode: "none"}})
				s.Spec.MeshGateway.Mode = "none"
				return s
			}(),
			want: []hit{deny(specMode), deny(defaultsMode)}},
		{name: "sameness-group export counts as peering", rule: "gateway-mode-none-with-peering",
			cfg:   partitions("default"),
			state: []runtime.Object{es("default", svc("api", toSameness("group")))},
			obj:   pd("global", "none"),
			want:  []hit{deny(specMode)}},
		{name: "partition-only export is not peering", rule: "gateway-mode-none-with-peering",
			cfg:   partitions("default"),
			state: []runtime.Object{es("default", svc("api", toPartition("ap2")))},
			obj:   pd("global", "none")},
		{name: "peer deleted again", rule: "gateway-mode-none-with-peering",
			state: aPeer, setup: func(x *state.Index) { x.Delete(acceptor("dc2", nil)) },
			obj: pd("global", "none")},
		{name: "override none is the peer-upstream rule's", rule: "gateway-mode-none-with-peering",
			state: aPeer, obj: sd("web", upMode("api", "", "none"))},
		{name: "acceptor while proxy-defaults remote", rule: "gateway-mode-none-with-peering",
			state: []runtime.Object{pd("global", "remote")}, obj: acceptor("dc2", k8sSecret())},
		{name: "acceptor while proxy-defaults none", rule: "gateway-mode-none-with-peering",
			state: noneDefaults, obj: acceptor("dc2", k8sSecret()),
			want: []hit{deny("metadata.name")}},
		{name: "dialer while proxy-defaults none", rule: "gateway-mode-none-with-peering",
			state: noneDefaults, obj: dialer("dc2", k8sSecret()),
			want: []hit{deny("metadata.name")}},
		{name: "acceptor while a non-global proxy-defaults says none", rule: "gateway-mode-none-with-peering",
			state: []runtime.Object{pd("other", "none")}, obj: acceptor("dc2", k8sSecret())},
		{name: "acceptor update while proxy-defaults none", rule: "gateway-mode-none-with-peering",
			state: append([]runtime.Object{acceptor("dc2", k8sSecret())}, noneDefaults...),
			old:   acceptor("dc2", k8sSecret()), obj: acceptor("dc2", k8sSecret())},

		// gateway-mode-local-needs-gateway
		{name: "proxy-defaults local with a gateway", rule: "gateway-mode-local-needs-gateway",
			gateway: true, obj: pd("global", "local")},
		{name: "proxy-defaults remote without a gateway", rule: "gateway-mode-local-needs-gateway",
			obj: pd("global", "remote")},
		{name: "proxy-defaults local without a gateway", rule: "gateway-mode-local-needs-gateway",
			state: aPeer, obj: pd("global", "local"),
			want: []hit{deny(specMode)}},
		{name: "proxy-defaults local without a gateway, no peering yet", rule: "gateway-mode-local-needs-gateway",
			obj:  pd("global", "local"),
			want: []hit{warn(specMode)}},
		{name: "proxy-defaults local without a gateway, exporting to a peer", rule: "gateway-mode-local-needs-gateway",
			state: aPeerExport, obj: pd("global", "local"),
			want: []hit{deny(specMode)}},
		{name: "gateway no longer ready", rule: "gateway-mode-local-needs-gateway",
			gateway: true, state: aPeer, setup: func(x *state.Index) { x.SetGateway(meshGateway, validators.GatewayMissing) },
			obj:  pd("global", "local"),
			want: []hit{deny(specMode)}},
		{name: "proxy-defaults local while the gateway is not ready yet", rule: "gateway-mode-local-needs-gateway",
			setup: gatewayNotReady, obj: sdMode("local", upMode("api", "dc2", "local")),
			want: []hit{warn(specMode), warn(override0 + ".meshGateway.mode")}},
		{name: "service-defaults local without a gateway", rule: "gateway-mode-local-needs-gateway",
			state: aPeer, obj: sdMode("local"),
			want: []hit{deny(specMode)}},
		{name: "peer override local without a gateway is peering in use", rule: "gateway-mode-local-needs-gateway",
			obj:  sdMode("local", upMode("api", "dc2", "local")),
			want: []hit{deny(specMode), deny(override0 + ".meshGateway.mode")}},
		{name: "local override of a local upstream", rule: "gateway-mode-local-needs-gateway",
			obj: sd("web", upMode("api", "", "local"))},
		{name: "local override of a peer upstream", rule: "gateway-mode-local-needs-gateway",
			obj:  sd("web", upMode("db", "", "local"), upMode("api", "dc2", "local")),
			want: []hit{deny(override1 + ".meshGateway.mode")}},
		{name: "local override of a peer upstream with a gateway", rule: "gateway-mode-local-needs-gateway",
			gateway: true, obj: sdMode("local", upMode("api", "dc2", "local"))},
	})
}
