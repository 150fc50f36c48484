// Package vap proves the generated ValidatingAdmissionPolicies by difference: every table
// case of every rule they enforce goes through the policies on a real kube-apiserver (no
// webhook registered) and must get the verdict the engine gives it.
package vap

import (
	"fmt"
	"os"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

var cluster *framework.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if cluster, err = framework.StartCluster(); err != nil {
		fmt.Fprintln(os.Stderr, "vap:", err)
		return 1
	}
	defer func() { _ = cluster.Stop() }()
	return m.Run()
}

// rename gives set's settings object, policies and bindings names ending in suffix, so that
// several sets live side by side in one cluster, each binding reading its own settings.
func rename(set policies.Set, suffix string) policies.Set {
	set.Settings.Name += suffix
	for _, p := range set.Policies {
		p.Policy.Name += suffix
		if p.Binding != nil {
			p.Binding.Name, p.Binding.Spec.PolicyName = p.Policy.Name, p.Policy.Name
			p.Binding.Spec.ParamRef.Name = set.Settings.Name
		}
	}
	return set
}
