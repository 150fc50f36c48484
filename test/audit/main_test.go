// Package audit runs the periodic audit of `serve` against a real kube-apiserver with many
// stored objects: its memory against the number of objects, the Lease that lets one replica
// audit, Reports that stay storable however many findings a namespace has, and workloads a
// state rule now finds reported (an Event, a Report result), never refused.
package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

var cluster *framework.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := framework.Root()
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		return 1
	}
	if cluster, err = framework.StartCluster(filepath.Join(root, "test", "thirdparty-crds")); err != nil {
		fmt.Fprintln(os.Stderr, "audit:", err)
		return 1
	}
	defer func() { _ = cluster.Stop() }()
	return m.Run()
}
