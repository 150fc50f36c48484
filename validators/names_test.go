package validators_test

import (
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// longName is a valid-looking name of n characters.
func longName(n int) string { return strings.Repeat("a", n) }

func TestSingletonAndNameRules(t *testing.T) {
	runRuleCases(t, []ruleCase{
		// proxy-defaults-name
		{name: "global", rule: "proxy-defaults-name", obj: pd("global", "")},
		{name: "not global", rule: "proxy-defaults-name", obj: pd("default", ""),
			want: []hit{deny("metadata.name")}},

		// mesh-name
		{name: "mesh", rule: "mesh-name", obj: mesh("mesh", false)},
		{name: "not mesh", rule: "mesh-name", obj: mesh("cluster-mesh", false),
			want: []hit{deny("metadata.name")}},

		// singleton
		{name: "first proxy-defaults", rule: "singleton", obj: pd("global", "")},
		{name: "re-applying the same proxy-defaults", rule: "singleton",
			state: []runtime.Object{pd("global", "remote")}, obj: pd("global", "local")},
		{name: "mesh beside a proxy-defaults", rule: "singleton",
			state: []runtime.Object{pd("global", "")}, obj: mesh("mesh", false)},
		{name: "updating while a second exists", rule: "singleton",
			state: []runtime.Object{pd("global", ""), inNamespace("other", pd("global", ""))},
			old:   pd("global", ""), obj: pd("global", "remote")},
		{name: "second proxy-defaults in another namespace", rule: "singleton",
			state: []runtime.Object{inNamespace("other", pd("global", ""))}, obj: pd("global", ""),
			want: []hit{deny("metadata.name")}},
		{name: "second mesh", rule: "singleton",
			state: []runtime.Object{inNamespace("other", mesh("mesh", false))}, obj: mesh("mesh", false),
			want: []hit{deny("metadata.name")}},
		{name: "second proxy-defaults deleted again", rule: "singleton",
			state: []runtime.Object{inNamespace("other", pd("global", ""))},
			setup: deleting(inNamespace("other", pd("global", ""))),
			obj:   pd("global", "")},
	})
}

var peerNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

func TestValidPeerName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"", false},
		{"a", true},
		{"0", true},
		{"-", false},
		{"a-", false},
		{"-a", false},
		{"a-b", true},
		{"a--b", true},
		{"dc2", true},
		{"dc-2-west", true},
		{"DC2", true},
		{"dC2", true},
		{"peerName", true},
		{"dc_2", false},
		{"dc.2", false},
		{"dc 2", false},
		{"*", false},
		{"dc2\n", false},
		{"dç2", false},
		{longName(62), true},
		{longName(63), true},
		{longName(64), false},
		{"a" + strings.Repeat("-", 61) + "b", true},
		{"a" + strings.Repeat("-", 62) + "b", false},
	} {
		if got := validators.ValidPeerName(tc.name); got != tc.want {
			t.Errorf("ValidPeerName(%q) = %v, want %v", tc.name, got, tc.want)
		}
		if re := peerNameRE.MatchString(tc.name); re != tc.want {
			t.Errorf("spec regexp disagrees with the table on %q: %v", tc.name, re)
		}
	}
}
