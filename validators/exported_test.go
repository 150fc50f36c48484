package validators_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func TestExportedServicesRules(t *testing.T) {
	known := []runtime.Object{acceptor("dc2", k8sSecret())}
	runRuleCases(t, []ruleCase{
		// exported-services-singleton
		{name: "first one", rule: "exported-services-singleton", obj: es("default", svc("api", toPeer("dc2")))},
		{name: "re-applying the same object", rule: "exported-services-singleton",
			state: []runtime.Object{es("default", svc("api", toPeer("dc2")))},
			obj:   es("default", svc("api", toPeer("dc3")))},
		{name: "update while another exists", rule: "exported-services-singleton",
			state: []runtime.Object{inNamespace("other", es("default", svc("db", toPeer("dc2"))))},
			old:   es("default", svc("api", toPeer("dc2"))), obj: es("default", svc("api", toPeer("dc3")))},
		{name: "a second one in another namespace", rule: "exported-services-singleton",
			state: []runtime.Object{inNamespace("other", es("default", svc("db", toPeer("dc2"))))},
			obj:   es("default", svc("api", toPeer("dc2"))),
			want:  []hit{deny("metadata.name")}},
		{name: "a second one with another name", rule: "exported-services-singleton",
			cfg:   partitions("ap1"),
			state: []runtime.Object{es("ap1", svc("db", toPeer("dc2")))},
			obj:   es("ap2", svc("api", toPeer("dc2"))),
			want:  []hit{deny("metadata.name")}},

		// exported-services-not-empty
		{name: "services with consumers", rule: "exported-services-not-empty",
			obj: es("default", svc("api", toPeer("dc2")), svc("db", toPeer("dc3")))},
		{name: "no services", rule: "exported-services-not-empty",
			obj:  es("default"),
			want: []hit{deny("spec.services")}},
		{name: "a service without consumers", rule: "exported-services-not-empty",
			obj:  es("default", svc("api", toPeer("dc2")), svc("db"), svc("web")),
			want: []hit{deny("spec.services[1].consumers"), deny("spec.services[2].consumers")}},

		// exported-service-name-required
		{name: "named service", rule: "exported-service-name-required", obj: es("default", svc("api", toPeer("dc2")))},
		{name: "everything in every namespace", rule: "exported-service-name-required",
			obj: es("default", v1alpha1.ExportedService{Name: "*", Namespace: "*", Consumers: []v1alpha1.ServiceConsumer{toPeer("dc2")}})},
		{name: "a service without a name", rule: "exported-service-name-required",
			obj:  es("default", svc("api", toPeer("dc2")), svc("", toPeer("dc2"))),
			want: []hit{deny("spec.services[1].name")}},
		{name: "namespace * with a named service", rule: "exported-service-name-required",
			obj:  es("default", v1alpha1.ExportedService{Name: "api", Namespace: "*", Consumers: []v1alpha1.ServiceConsumer{toPeer("dc2")}}),
			want: []hit{deny("spec.services[0].namespace")}},

		// consumer-exactly-one
		{name: "one of each kind", rule: "consumer-exactly-one", cfg: partitions("default"),
			obj: es("default", svc("api", toPeer("dc2"), toPartition("ap2"), toSameness("group")))},
		{name: "empty consumer", rule: "consumer-exactly-one",
			obj:  es("default", svc("api", toPeer("dc2"), v1alpha1.ServiceConsumer{})),
			want: []hit{deny(consumer01)}},
		{name: "peer and partition", rule: "consumer-exactly-one", cfg: partitions("default"),
			obj:  es("default", svc("api", v1alpha1.ServiceConsumer{Peer: "dc2", Partition: "ap2"})),
			want: []hit{deny(consumer00)}},
		{name: "peer and sameness group", rule: "consumer-exactly-one", cfg: partitions("default"),
			obj:  es("default", svc("api", toPeer("dc3")), svc("db", v1alpha1.ServiceConsumer{Peer: "dc2", SamenessGroup: "g"})),
			want: []hit{deny(consumer10)}},

		// consumer-no-wildcard
		{name: "named consumers", rule: "consumer-no-wildcard", cfg: partitions("default"),
			obj: es("default", svc("*", toPeer("dc2"), toPartition("ap2")))},
		{name: "wildcard peer", rule: "consumer-no-wildcard",
			obj:  es("default", svc("api", toPeer("*"))),
			want: []hit{deny(consumer00 + ".peer")}},
		{name: "wildcard partition", rule: "consumer-no-wildcard", cfg: partitions("default"),
			obj:  es("default", svc("api", toPeer("dc2"), toPartition("*"))),
			want: []hit{deny(consumer01 + ".partition")}},
		{name: "wildcard sameness group", rule: "consumer-no-wildcard", cfg: partitions("default"),
			obj:  es("default", svc("api", toPeer("dc2"), toSameness("*"))),
			want: []hit{deny(consumer01 + ".samenessGroup")}},

		// consumer-needs-enterprise
		{name: "peer consumer without partitions", rule: "consumer-needs-enterprise",
			obj: es("default", svc("api", toPeer("dc2")))},
		{name: "partition and sameness consumers with partitions", rule: "consumer-needs-enterprise",
			cfg: partitions("default"), obj: es("default", svc("api", toPartition("ap2"), toSameness("group")))},
		{name: "partition consumer without partitions", rule: "consumer-needs-enterprise",
			obj:  es("default", svc("api", toPeer("dc2"), toPartition("ap2"))),
			want: []hit{deny(consumer01 + ".partition")}},
		{name: "sameness consumer on Enterprise without partitions", rule: "consumer-needs-enterprise",
			cfg: validators.Config{Edition: validators.EditionEnterprise}, obj: es("default", svc("api", toSameness("group")))},
		{name: "sameness consumer, edition unknown", rule: "consumer-needs-enterprise",
			obj: es("default", svc("api", toSameness("group")))},
		{name: "sameness consumer on CE", rule: "consumer-needs-enterprise",
			cfg:  validators.Config{Edition: validators.EditionCE},
			obj:  es("default", svc("api", toPeer("dc2"), toSameness("group"))),
			want: []hit{deny(consumer01 + ".samenessGroup")}},

		// exported-service-namespace-needs-namespaces
		{name: "no namespace, namespaces off", rule: "exported-service-namespace-needs-namespaces",
			obj: es("default", svc("api", toPeer("dc2")))},
		{name: "namespace with namespaces on", rule: "exported-service-namespace-needs-namespaces",
			cfg: namespaces(), obj: es("default", inNS("frontend", svc("api", toPeer("dc2"))))},
		{name: "namespace with namespaces off", rule: "exported-service-namespace-needs-namespaces",
			obj:  es("default", svc("db", toPeer("dc2")), inNS("default", svc("api", toPeer("dc2")))),
			want: []hit{deny("spec.services[1].namespace")}},

		// consumer-peer-name-syntax
		{name: "valid peer", rule: "consumer-peer-name-syntax", obj: es("default", svc("api", toPeer("dc-2")))},
		{name: "wildcard is the wildcard rule's", rule: "consumer-peer-name-syntax", obj: es("default", svc("api", toPeer("*")))},
		{name: "upper case peers, as consul-k8s's own tests export to", rule: "consumer-peer-name-syntax",
			obj: es("default", svc("api", toPeer("peerName"), toPeer("DC2")))},
		{name: "dotted peer", rule: "consumer-peer-name-syntax",
			obj:  es("default", svc("api", toPeer("dc2"), toPeer("dc3.west"))),
			want: []hit{deny(consumer01 + ".peer")}},
		{name: "too long peer", rule: "consumer-peer-name-syntax",
			obj:  es("default", svc("api", toPeer(longName(64)))),
			want: []hit{deny(consumer00 + ".peer")}},

		// consumer-peer-known
		{name: "known peer", rule: "consumer-peer-known", state: known, obj: es("default", svc("api", toPeer("dc2")))},
		{name: "dialer in another namespace", rule: "consumer-peer-known",
			state: []runtime.Object{inNamespace("peering", dialer("dc2", k8sSecret()))},
			obj:   es("default", svc("api", toPeer("dc2")))},
		{name: "partition consumer", rule: "consumer-peer-known", cfg: partitions("default"),
			obj: es("default", svc("api", toPartition("ap2")))},
		{name: "known peer in another case", rule: "consumer-peer-known", state: known,
			obj: es("default", svc("api", toPeer("DC2")))},
		{name: "unknown peer", rule: "consumer-peer-known", state: known,
			obj:  es("default", svc("api", toPeer("dc2"), toPeer("dc3"))),
			want: []hit{warn(consumer01 + ".peer")}},

		// export-consul-service
		{name: "another service to a peer", rule: "export-consul-service", obj: es("default", svc("api", toPeer("dc2")))},
		{name: "consul to a partition", rule: "export-consul-service", cfg: partitions("default"),
			obj: es("default", svc("consul", toPartition("ap2")))},
		{name: "consul to a peer", rule: "export-consul-service", state: known,
			obj:  es("default", svc("api", toPeer("dc2")), svc("consul", toPeer("dc2"))),
			want: []hit{warn(consumer10)}},
		{name: "consul to a sameness group", rule: "export-consul-service", cfg: partitions("default"),
			obj:  es("default", svc("consul", toPartition("ap2"), toSameness("group"))),
			want: []hit{warn(consumer01)}},
	})
}
