package main

import (
	"strings"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func TestVAPPrintsThePoliciesOfTheInstallation(t *testing.T) {
	code, out, stderr := runCLI(t, "vap", "--partitions-enabled", "--partition", "ap1", "--namespaces-enabled",
		"--consul-edition", "enterprise", "--consul-version", "1.14", "--rule", "mesh-name=off", "--rule", "consumer-no-wildcard=warn")
	if code != exitAllowed {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	v, err := validators.ParseConsulVersion("1.14")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := policies.Generate(validators.Config{PartitionsEnabled: true, Partition: "ap1", NamespacesEnabled: true,
		Edition: validators.EditionEnterprise, ConsulVersion: v,
		Actions: map[string]validators.Action{"mesh-name": validators.Off, "consumer-no-wildcard": validators.Warn}})
	if err != nil {
		t.Fatal(err)
	}
	want, err := policies.Render(ps)
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("vap printed something else than the policies of its flags:\n%s", out)
	}
	if strings.Contains(out, "consul-peering-guard.mesh-name") {
		t.Error("a rule set to off was rendered")
	}
	if !strings.Contains(out, "ap1") {
		t.Error("the partition is not baked into partition-placement")
	}
}

func TestVAPRefusesBadFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown rule":   {"vap", "--rule", "no-such-rule=deny"},
		"partition only": {"vap", "--partition", "ap1"},
		"bad edition":    {"vap", "--consul-edition", "oss"},
		"a file":         {"vap", "-f", examples},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, _ := runCLI(t, args...); code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}
