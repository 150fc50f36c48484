// Package vap proves the generated ValidatingAdmissionPolicies by difference: every table
// case of every rule they enforce goes through the policies on a real kube-apiserver (no
// webhook registered) and must get the verdict the engine gives it.
package vap

import (
	"fmt"
	"os"
	"testing"

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
