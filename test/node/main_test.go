// Package node runs the chart's pods from the image make image builds on a real single-node
// cluster (make cluster: hack/cluster.sh through framework.Node): the kubelet, containerd and
// runc start them with the chart's securityContext, probes, volumes, memory limit and
// Service, and kube-apiserver calls them through that Service. The tests skip, naming what
// is missing, on a machine without root, containerd, runc, the CNI plugins or the node's
// binaries (.ci/run installs them; make node-tools builds the binaries).
package node

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

var shared struct {
	once sync.Once
	node *framework.Node
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	// The API server's warnings (the webhook's warn findings) are read from kubectl; the
	// clients' copies are not logged.
	log.SetLogger(logr.Discard())
	code := m.Run()
	if shared.node != nil {
		if err := shared.node.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := framework.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// skipWithoutNode skips the test when the machine cannot run the node, naming what it lacks.
func skipWithoutNode(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real single-node cluster (make cluster)")
	}
	root := repoRoot(t)
	if missing := framework.NodeMissing(root); missing != "" {
		t.Skipf("this machine cannot run the real node: missing %s", missing)
	}
	return root
}

// sharedNode is one node for the tests of the chart, with the image of make image imported;
// TestMain takes it down.
func sharedNode(t *testing.T) *framework.Node {
	t.Helper()
	root := skipWithoutNode(t)
	image := framework.ImageTarball(root)
	if image == "" {
		t.Skip("no image: make image writes bin/image/consul-peering-guard-linux-ARCH.tar")
	}
	shared.once.Do(func() {
		shared.dir, shared.err = framework.NewNodeDir(root)
		if shared.err != nil {
			return
		}
		shared.node, shared.err = framework.StartNode(root, filepath.Join(shared.dir, "cluster"), image)
		if shared.err == nil {
			fmt.Printf("shared node Ready in %ds, RSS %d MiB\n", shared.node.UpSeconds, shared.node.RSSKiB/1024)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.node
}
