package validators_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

const defaultsPath = "spec.upstreamConfig.defaults"

func TestUpstreamRules(t *testing.T) {
	runRuleCases(t, []ruleCase{
		// upstream-name-required
		{name: "named overrides", rule: "upstream-name-required", obj: sd("web", up("api", ""), up("api", "dc2"))},
		{name: "no upstreamConfig", rule: "upstream-name-required", obj: sd("web")},
		{name: "override without name", rule: "upstream-name-required",
			obj:  sd("web", up("api", ""), &v1alpha1.Upstream{Peer: "dc2"}),
			want: []hit{deny(override1 + ".name")}},
		{name: "nil override", rule: "upstream-name-required",
			obj:  sd("web", nil),
			want: []hit{deny(override0 + ".name")}},
		{name: "nil overrides among named ones", rule: "upstream-name-required",
			obj:  sd("web", up("api", ""), nil, up("db", ""), nil),
			want: []hit{deny(override1 + ".name"), deny("spec.upstreamConfig.overrides[3].name")}},

		// upstream-defaults-no-destination
		{name: "defaults tune connections", rule: "upstream-defaults-no-destination",
			obj: sdDefaults(&v1alpha1.Upstream{Protocol: "http", ConnectTimeoutMs: 500, MeshGateway: v1alpha1.MeshGateway{Mode: "remote"}})},
		{name: "defaults name and peer", rule: "upstream-defaults-no-destination",
			obj:  sdDefaults(&v1alpha1.Upstream{Name: "api", Peer: "dc2"}),
			want: []hit{deny(defaultsPath + ".name"), deny(defaultsPath + ".peer")}},
		{name: "defaults namespace and partition", rule: "upstream-defaults-no-destination",
			obj:  sdDefaults(&v1alpha1.Upstream{Namespace: "billing", Partition: "ap2"}, up("api", "")),
			want: []hit{deny(defaultsPath + ".namespace"), deny(defaultsPath + ".partition")}},

		// upstream-peer-partition-exclusive
		{name: "peer only and partition only", rule: "upstream-peer-partition-exclusive",
			obj: sd("web", up("api", "dc2"), &v1alpha1.Upstream{Name: "api", Partition: "ap2"})},
		{name: "peer and partition", rule: "upstream-peer-partition-exclusive",
			obj:  sd("web", up("db", ""), &v1alpha1.Upstream{Name: "api", Peer: "dc2", Partition: "ap2"}),
			want: []hit{deny(override1 + ".partition")}},

		// upstream-namespace-needs-namespaces
		{name: "no namespace", rule: "upstream-namespace-needs-namespaces", obj: sd("web", up("api", "dc2"))},
		{name: "namespace with namespaces on", rule: "upstream-namespace-needs-namespaces",
			cfg: namespaces(), obj: sd("web", &v1alpha1.Upstream{Name: "api", Namespace: "billing"})},
		{name: "namespace with namespaces off", rule: "upstream-namespace-needs-namespaces",
			obj:  sd("web", up("db", ""), &v1alpha1.Upstream{Name: "api", Namespace: "billing"}),
			want: []hit{deny(override1 + ".namespace")}},
		{name: "namespace default with namespaces off", rule: "upstream-namespace-needs-namespaces",
			obj:  sd("web", &v1alpha1.Upstream{Name: "api", Namespace: "default", Peer: "dc2"}),
			want: []hit{deny(override0 + ".namespace")}},
		{name: "nil override with namespaces off", rule: "upstream-namespace-needs-namespaces",
			obj: sd("web", nil)},

		// upstream-partition-needs-partitions
		{name: "no partition", rule: "upstream-partition-needs-partitions", obj: sd("web", up("api", "dc2"))},
		{name: "partition with partitions on", rule: "upstream-partition-needs-partitions",
			cfg: partitions("ap1"), obj: sd("web", &v1alpha1.Upstream{Name: "api", Partition: "ap2"})},
		{name: "partition with partitions off", rule: "upstream-partition-needs-partitions",
			obj:  sd("web", up("db", ""), &v1alpha1.Upstream{Name: "api", Partition: "default"}),
			want: []hit{deny(override1 + ".partition")}},

		// upstream-namespace-default-redundant
		{name: "peer upstream in a named namespace", rule: "upstream-namespace-default-redundant",
			cfg: namespaces(), obj: sd("web", &v1alpha1.Upstream{Name: "api", Namespace: "billing", Peer: "dc2"})},
		{name: "local upstream in default", rule: "upstream-namespace-default-redundant",
			cfg: namespaces(), obj: sd("web", &v1alpha1.Upstream{Name: "api", Namespace: "default"})},
		{name: "peer upstream in default", rule: "upstream-namespace-default-redundant",
			cfg:  namespaces(),
			obj:  sd("web", &v1alpha1.Upstream{Name: "api", Namespace: "default", Peer: "dc2"}),
			want: []hit{warn(override0 + ".namespace")}},

		// upstream-no-wildcard
		{name: "named upstream", rule: "upstream-no-wildcard",
			cfg: namespaces(), obj: sd("web", &v1alpha1.Upstream{Name: "api", Namespace: "billing"})},
		{name: "wildcard name", rule: "upstream-no-wildcard",
			obj:  sd("web", up("*", "")),
			want: []hit{deny(override0 + ".name")}},
		{name: "wildcard name and namespace", rule: "upstream-no-wildcard",
			cfg:  namespaces(),
			obj:  sd("web", up("api", ""), &v1alpha1.Upstream{Name: "*", Namespace: "*", Peer: "dc2"}),
			want: []hit{deny(override1 + ".name"), deny(override1 + ".namespace")}},

		// upstream-duplicate
		{name: "same name, different peers", rule: "upstream-duplicate",
			obj: sd("web", up("api", ""), up("api", "dc2"), up("api", "dc3"))},
		{name: "same name, different namespaces", rule: "upstream-duplicate", cfg: namespaces(),
			obj: sd("web", &v1alpha1.Upstream{Name: "api", Namespace: "a"}, &v1alpha1.Upstream{Name: "api", Namespace: "b"})},
		{name: "nameless and nil overrides are not duplicates", rule: "upstream-duplicate",
			obj: sd("web", nil, nil, &v1alpha1.Upstream{Peer: "dc2"}, &v1alpha1.Upstream{Peer: "dc2"})},
		{name: "identical overrides", rule: "upstream-duplicate",
			obj:  sd("web", up("api", "dc2"), up("api", "dc2")),
			want: []hit{deny(override1)}},
		{name: "namespace default equals no namespace", rule: "upstream-duplicate", cfg: namespaces(),
			obj:  sd("web", up("api", "dc2"), up("db", ""), &v1alpha1.Upstream{Name: "api", Namespace: "default", Peer: "dc2"}),
			want: []hit{deny(override2)}},
		{name: "partition default equals no partition", rule: "upstream-duplicate",
			obj:  sd("web", up("api", ""), &v1alpha1.Upstream{Name: "api", Partition: "default"}),
			want: []hit{deny(override1)}},
		{name: "three copies", rule: "upstream-duplicate",
			obj:  sd("web", up("api", ""), nil, up("api", ""), up("api", "")),
			want: []hit{deny(override2), deny("spec.upstreamConfig.overrides[3]")}},

		// upstream-peer-name-syntax
		{name: "valid peer names", rule: "upstream-peer-name-syntax",
			obj: sd("web", up("api", "dc-2"), up("db", "0"), up("api", ""))},
		{name: "upper case peers", rule: "upstream-peer-name-syntax",
			obj: sd("web", up("api", "DC2"), up("db", "peerName"))},
		{name: "dash, underscore, dot and wildcard peers", rule: "upstream-peer-name-syntax",
			obj: sd("web", up("a", "-dc2"), up("b", "dc2-"), up("c", "dc_2"), up("d", "dc2.example"), up("e", "*")),
			want: []hit{deny(override0 + ".peer"), deny(override1 + ".peer"), deny(override2 + ".peer"),
				deny("spec.upstreamConfig.overrides[3].peer"), deny("spec.upstreamConfig.overrides[4].peer")}},

		// upstream-peer-known
		{name: "acceptor of that name", rule: "upstream-peer-known",
			state: []runtime.Object{acceptor("dc2", k8sSecret())}, obj: sd("web", up("api", "dc2"))},
		{name: "dialer of that name in another namespace", rule: "upstream-peer-known",
			state: []runtime.Object{inNamespace("peering", dialer("dc2", k8sSecret()))}, obj: sd("web", up("api", "dc2"))},
		{name: "local upstream", rule: "upstream-peer-known", obj: sd("web", up("api", ""))},
		{name: "invalid peer name is the syntax rule's", rule: "upstream-peer-known", obj: sd("web", up("api", "dc2.west"))},
		{name: "acceptor named in another case", rule: "upstream-peer-known",
			state: []runtime.Object{acceptor("dc2", k8sSecret())}, obj: sd("web", up("api", "DC2"))},
		{name: "unknown peer", rule: "upstream-peer-known",
			state: []runtime.Object{acceptor("dc3", k8sSecret())},
			obj:   sd("web", up("api", "dc3"), up("api", "dc2")),
			want:  []hit{warn(override1 + ".peer")}},
		{name: "peer deleted", rule: "upstream-peer-known",
			state: []runtime.Object{acceptor("dc2", k8sSecret())},
			setup: func(x *state.Index) { x.Delete(acceptor("dc2", nil)) },
			obj:   sd("web", up("api", "dc2")),
			want:  []hit{warn(override0 + ".peer")}},
		{name: "set to deny", rule: "upstream-peer-known",
			cfg:  withActions(validators.Config{}, "upstream-peer-known", "deny"),
			obj:  sd("web", up("api", "dc2")),
			want: []hit{deny(override0 + ".peer")}},
	})
}
