package framework

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// Root returns the repository root, found from the working directory upwards.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "hack", "build-tools.sh")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root not found")
		}
		dir = parent
	}
}

// Cluster is a real kube-apiserver backed by a real etcd.
type Cluster struct {
	Root       string
	Env        *envtest.Environment
	Config     *rest.Config
	Client     client.Client
	Kubeconfig string
	Dir        string
}

// StartCluster starts etcd and kube-apiserver from bin/ with the test CRDs installed plus any
// extra CRD paths (for example cert-manager's).
func StartCluster(extraCRDPaths ...string) (*Cluster, error) {
	return StartClusterWith(ClusterOptions{}, extraCRDPaths...)
}

// ClusterOptions change how kube-apiserver is started.
type ClusterOptions struct {
	// BindAddress is the address the API server serves on (default 127.0.0.1), for example
	// the host side of a NetNS, so that processes inside it reach the API server.
	BindAddress string
	// APIServerFlags are set on kube-apiserver's command line, after
	// enable-aggregator-routing=true, which every API server of the project runs with.
	APIServerFlags map[string]string
}

// StartClusterWith is StartCluster with options.
func StartClusterWith(o ClusterOptions, extraCRDPaths ...string) (*Cluster, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	binDir := filepath.Join(root, "bin")
	if assets := os.Getenv("KUBEBUILDER_ASSETS"); assets != "" {
		binDir = assets
	}
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			return nil, fmt.Errorf("%s missing from %s: run make tools", b, binDir)
		}
	}
	dir, err := os.MkdirTemp("", "cpg-e2e-")
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    binDir,
		CRDDirectoryPaths:        append([]string{filepath.Join(root, "test", "crds")}, extraCRDPaths...),
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	api := env.ControlPlane.GetAPIServer()
	if o.BindAddress != "" {
		port, err := freePortOn(o.BindAddress)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		api.Address, api.Port = o.BindAddress, strconv.Itoa(port)
	}
	// A Service-referenced webhook (the chart's) resolves to its endpoints, never through
	// the machine's DNS: no API server the project starts may call off the machine.
	api.Configure().Set("enable-aggregator-routing", "true")
	for flag, value := range o.APIServerFlags {
		api.Configure().Set(flag, value)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	c := &Cluster{Root: root, Env: env, Config: cfg, Dir: dir}
	if c.Client, err = client.New(cfg, client.Options{Scheme: kinds.NewScheme()}); err != nil {
		_ = c.Stop()
		return nil, err
	}
	if c.Kubeconfig, err = c.KubeconfigFor(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return c, nil
}

// KubeconfigFor writes a kubeconfig for a user and returns its path.
func (c *Cluster) KubeconfigFor(u envtest.User) (string, error) {
	au, err := c.Env.AddUser(u, nil)
	if err != nil {
		return "", err
	}
	raw, err := au.KubeConfig()
	if err != nil {
		return "", err
	}
	p := filepath.Join(c.Dir, u.Name+".kubeconfig")
	return p, os.WriteFile(p, raw, 0o600)
}

// Stop stops the API server and etcd and removes the temporary files.
func (c *Cluster) Stop() error {
	err := c.Env.Stop()
	_ = os.RemoveAll(c.Dir)
	return err
}

// Bin returns the path of a tool in bin/.
func (c *Cluster) Bin(name string) string { return filepath.Join(c.Root, "bin", name) }

// Context returns a context bounded by d, for API calls in tests.
func Context(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
