package validators_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func resolver(redirectPeer string, failover map[string][]string) *v1alpha1.ServiceResolver {
	r := &v1alpha1.ServiceResolver{ObjectMeta: objMeta("backend")}
	if redirectPeer != "" {
		r.Spec.Redirect = &v1alpha1.ServiceResolverRedirect{Service: "backend", Peer: redirectPeer}
	}
	if failover != nil {
		r.Spec.Failover = map[string]v1alpha1.ServiceResolverFailover{}
		for subset, peers := range failover {
			var f v1alpha1.ServiceResolverFailover
			for _, p := range peers {
				f.Targets = append(f.Targets, v1alpha1.ServiceResolverFailoverTarget{Service: "backend", Peer: p})
			}
			r.Spec.Failover[subset] = f
		}
	}
	return r
}

func intentions(sourcePeers ...string) *v1alpha1.ServiceIntentions {
	si := &v1alpha1.ServiceIntentions{ObjectMeta: objMeta("backend"),
		Spec: v1alpha1.ServiceIntentionsSpec{Destination: v1alpha1.IntentionDestination{Name: "backend"}}}
	for _, p := range sourcePeers {
		si.Spec.Sources = append(si.Spec.Sources, &v1alpha1.SourceIntention{Name: "frontend", Peer: p, Action: "allow"})
	}
	return si
}

func samenessGroup(members ...v1alpha1.SamenessGroupMember) *v1alpha1.SamenessGroup {
	return &v1alpha1.SamenessGroup{ObjectMeta: objMeta("shared"), Spec: v1alpha1.SamenessGroupSpec{Members: members}}
}

func TestPeerReferenceRules(t *testing.T) {
	known := []runtime.Object{acceptor("dc2", k8sSecret()), dialer("dc3", k8sSecret())}
	ce := validators.Config{Edition: validators.EditionCE}
	runRuleCases(t, []ruleCase{
		// peer-reference-syntax
		{name: "valid redirect and failover peers", rule: "peer-reference-syntax",
			obj: resolver("DC2", map[string][]string{"*": {"dc3", ""}})},
		{name: "intention sources without peers", rule: "peer-reference-syntax", obj: intentions("", "")},
		{name: "invalid redirect peer", rule: "peer-reference-syntax",
			obj: resolver("dc_2", nil), want: []hit{deny("spec.redirect.peer")}},
		{name: "invalid failover targets, subsets in order", rule: "peer-reference-syntax",
			obj:  resolver("", map[string][]string{"v2": {"dc2", "dc.3"}, "v1": {"-dc4"}}),
			want: []hit{deny("spec.failover[v1].targets[0].peer"), deny("spec.failover[v2].targets[1].peer")}},
		{name: "invalid intention source peer", rule: "peer-reference-syntax",
			obj: intentions("dc2", "*"), want: []hit{deny("spec.sources[1].peer")}},
		{name: "invalid sameness group member", rule: "peer-reference-syntax",
			obj:  samenessGroup(v1alpha1.SamenessGroupMember{Partition: "ap1"}, v1alpha1.SamenessGroupMember{Peer: "dc2.west"}),
			want: []hit{deny("spec.members[1].peer")}},

		// peer-reference-known
		{name: "known peers in any case", rule: "peer-reference-known", state: known,
			obj: resolver("DC2", map[string][]string{"*": {"dc3"}})},
		{name: "invalid name is the syntax rule's", rule: "peer-reference-known", obj: intentions("dc_2")},
		{name: "unknown failover peer", rule: "peer-reference-known", state: known,
			obj: resolver("dc2", map[string][]string{"*": {"dc3", "dc9"}}), want: []hit{warn("spec.failover[*].targets[1].peer")}},
		{name: "unknown intention source peer", rule: "peer-reference-known", state: known,
			obj: intentions("dc9"), want: []hit{warn("spec.sources[0].peer")}},
		{name: "unknown sameness group member", rule: "peer-reference-known",
			obj: samenessGroup(v1alpha1.SamenessGroupMember{Peer: "dc2"}), want: []hit{warn("spec.members[0].peer")}},

		// sameness-group-needs-enterprise
		{name: "edition unknown", rule: "sameness-group-needs-enterprise", obj: samenessGroup()},
		{name: "Enterprise", rule: "sameness-group-needs-enterprise",
			cfg: validators.Config{Edition: validators.EditionEnterprise}, obj: samenessGroup()},
		{name: "another kind on CE", rule: "sameness-group-needs-enterprise", cfg: ce, obj: resolver("dc2", nil)},
		{name: "CE", rule: "sameness-group-needs-enterprise", cfg: ce, obj: samenessGroup(),
			want: []hit{deny("metadata.name")}},
		{name: "kept on CE while labelled", rule: "sameness-group-needs-enterprise", cfg: ce,
			old: samenessGroup(), obj: labelled(samenessGroup()), want: []hit{warn("metadata.name")}},
	})
}

func TestSamenessGroupKnown(t *testing.T) {
	group := []runtime.Object{samenessGroup(v1alpha1.SamenessGroupMember{Peer: "dc2"})}
	failoverTo := func(g string) *v1alpha1.ServiceResolver {
		r := resolver("", nil)
		r.Spec.Failover = map[string]v1alpha1.ServiceResolverFailover{"*": {SamenessGroup: g}}
		return r
	}
	fromGroup := func(g string) *v1alpha1.ServiceIntentions {
		si := intentions()
		si.Spec.Sources = append(si.Spec.Sources, &v1alpha1.SourceIntention{Name: "frontend", SamenessGroup: g, Action: "allow"})
		return si
	}
	runRuleCases(t, []ruleCase{
		{name: "consumer of a known group", rule: "sameness-group-known", state: group, obj: es("default", svc("api", toSameness("shared")))},
		{name: "intention from a known group", rule: "sameness-group-known", state: group, obj: fromGroup("shared")},
		{name: "failover to a known group", rule: "sameness-group-known", state: group, obj: failoverTo("shared")},
		{name: "on CE no group can exist: consumer-needs-enterprise's", rule: "sameness-group-known",
			cfg: validators.Config{Edition: validators.EditionCE}, obj: es("default", svc("api", toSameness("shared")))},
		{name: "wildcard is another rule's", rule: "sameness-group-known", obj: es("default", svc("api", toSameness("*")))},
		{name: "consumer of an unknown group", rule: "sameness-group-known", state: group,
			obj: es("default", svc("api", toPeer("dc2"), toSameness("shraed"))), want: []hit{warn(consumer01 + ".samenessGroup")}},
		{name: "intention from an unknown group", rule: "sameness-group-known", obj: fromGroup("shared"),
			want: []hit{warn("spec.sources[0].samenessGroup")}},
		{name: "failover to an unknown group", rule: "sameness-group-known", obj: failoverTo("shared"),
			want: []hit{warn("spec.failover[*].samenessGroup")}},
		{name: "the group deleted again", rule: "sameness-group-known", state: group,
			setup: deleting(samenessGroup()), obj: failoverTo("shared"), want: []hit{warn("spec.failover[*].samenessGroup")}},
	})
}
