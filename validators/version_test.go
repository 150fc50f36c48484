package validators_test

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func TestConsulVersionRule(t *testing.T) {
	ent116 := consul("1.16")
	ent116.PartitionsEnabled = true
	ent115 := consul("1.15.4+ent")
	ent115.PartitionsEnabled = true
	runRuleCases(t, []ruleCase{
		{name: "no version configured", rule: "consul-version",
			obj: acceptor("dc2", k8sSecret())},
		{name: "no version configured, every feature", rule: "consul-version",
			cfg: partitions("default"),
			obj: es("default", svc("api", toPeer("dc2"), toSameness("group")))},

		// Peering objects need GA peering, 1.14.
		{name: "acceptor on 1.14", rule: "consul-version", cfg: consul("1.14.0"), obj: acceptor("dc2", k8sSecret())},
		{name: "dialer on 1.17.2+ent", rule: "consul-version", cfg: consul("1.17.2+ent"), obj: dialer("dc2", k8sSecret())},
		{name: "acceptor on 1.13", rule: "consul-version", cfg: consul("1.13.9"), obj: acceptor("dc2", k8sSecret()),
			want: []hit{deny("metadata.name")}},
		{name: "dialer on v1.12", rule: "consul-version", cfg: consul("v1.12"), obj: dialer("dc2", k8sSecret()),
			want: []hit{deny("metadata.name")}},

		// Upstream overrides with a peer need 1.15.
		{name: "peer upstream on 1.15", rule: "consul-version", cfg: consul("1.15"), obj: sd("web", up("api", "dc2"))},
		{name: "local upstream on 1.14", rule: "consul-version", cfg: consul("1.14"), obj: sd("web", up("api", ""), nil)},
		{name: "peer upstream on 1.14", rule: "consul-version", cfg: consul("1.14"),
			obj:  sd("web", nil, up("db", ""), up("api", "dc2")),
			want: []hit{deny(override2 + ".peer")}},

		// Peer consumers need 1.13, sameness-group consumers 1.16.
		{name: "peer consumer on 1.13", rule: "consul-version", cfg: consul("1.13"), obj: es("default", svc("api", toPeer("dc2")))},
		{name: "sameness consumer on 1.16", rule: "consul-version", cfg: ent116,
			obj: es("default", svc("api", toSameness("group")))},
		{name: "partition consumer on 1.12", rule: "consul-version", cfg: func() validators.Config {
			c := consul("1.12")
			c.PartitionsEnabled = true
			return c
		}(), obj: es("default", svc("api", toPartition("ap2")))},
		{name: "peer consumer on 1.12", rule: "consul-version", cfg: consul("1.12.3"),
			obj:  es("default", svc("api", toPeer("dc2"))),
			want: []hit{deny(consumer00 + ".peer")}},
		{name: "sameness consumer on 1.15", rule: "consul-version", cfg: ent115,
			obj:  es("default", svc("api", toPeer("dc2"), toSameness("group"))),
			want: []hit{deny(consumer01 + ".samenessGroup")}},

		// Mesh and ProxyDefaults have nothing version-gated.
		{name: "mesh on 1.10", rule: "consul-version", cfg: consul("1.10"), gateway: true, obj: mesh("mesh", true)},
		{name: "proxy-defaults on 1.10", rule: "consul-version", cfg: consul("1.10"), obj: pd("global", "remote")},
	})
}

func TestParseConsulVersion(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string // String() of the parsed version; "" when parsing fails
		atLeast string
	}{
		{in: "1.16", want: "1.16", atLeast: "1.16.0"},
		{in: "1.16.0", want: "1.16.0", atLeast: "1.16"},
		{in: "v1.15.2", want: "1.15.2", atLeast: "1.15"},
		{in: "1.17.2+ent", want: "1.17.2", atLeast: "1.17"},
		{in: "1.14.0-rc1", want: "1.14.0", atLeast: "1.14"},
		{in: ""},
		{in: "1"},
		{in: "latest"},
		{in: "+ent"},
	} {
		v, err := validators.ParseConsulVersion(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseConsulVersion(%q) = %v, want an error", tc.in, v)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseConsulVersion(%q): %v", tc.in, err)
			continue
		}
		if v.String() != tc.want {
			t.Errorf("ParseConsulVersion(%q) = %s, want %s", tc.in, v, tc.want)
		}
		if !v.AtLeast(version.MustParseGeneric(tc.atLeast)) {
			t.Errorf("ParseConsulVersion(%q) = %s, want at least %s", tc.in, v, tc.atLeast)
		}
	}
}
