package manifest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// ClusterFileName marks a folder as one cluster: the manifests below it form that cluster's
// state, validated with the settings in the file over the command-line flags. Without any
// such file, every manifest given is one cluster.
const ClusterFileName = ".consul-peering-guard"

// ClusterSettings is the content of a cluster file: the cluster's name and peers, and the
// engine configuration, whose keys are decoded over the flags' (a key the file does not
// set keeps the flag's value; rules add to the flags' --rule settings).
type ClusterSettings struct {
	// Name is how the acceptors and dialers of other clusters call this one; `check` pairs
	// clusters by it.
	Name string `json:"name,omitempty"`
	// Peers maps a local peer name (an acceptor's or dialer's name) to the name of the cluster
	// it reaches, where the two differ.
	Peers       map[string]string `json:"peers,omitempty"`
	Description string            `json:"description,omitempty"`
	// MeshGatewayInstalled says the mesh gateway runs although no manifest holds it (the
	// Consul Helm chart installs it with meshGateway.enabled).
	MeshGatewayInstalled *bool `json:"meshGatewayInstalled,omitempty"`
	validators.Config
}

// Cluster is the manifests that form one cluster.
type Cluster struct {
	// Dir is the folder holding the cluster file, "" for manifests outside any such folder.
	Dir      string
	Settings ClusterSettings
	Set      Set
}

// Stdin is the path that stands for standard input (`validate -f -`), so that rendered
// manifests can be piped in: helm template ... | consul-peering-guard validate -f -
const Stdin = "-"

// LoadClusters reads the given files and folders (and stdin for "-") and the output of the
// given kustomizations, all within opts.MaxInputBytes, and groups their objects into clusters. What comes from stdin belongs
// to the cluster of the manifests outside any cluster folder; so does a kustomization's output,
// unless its folder holds a cluster file.
func LoadClusters(paths, kustomizations []string, stdin io.Reader, opts Options) ([]*Cluster, error) {
	var named []string
	readStdin := false
	for _, p := range paths {
		if p == Stdin {
			readStdin = true
			continue
		}
		named = append(named, p)
	}
	files, skipped, err := Files(named)
	if err != nil {
		return nil, err
	}
	in := newInput(opts)
	byDir := map[string]*Cluster{}
	var order []string
	cluster := func(dir string) (*Cluster, error) {
		if c := byDir[dir]; c != nil {
			return c, nil
		}
		c := &Cluster{Dir: dir, Settings: ClusterSettings{Config: opts.Base.Clone()}}
		if dir != "" {
			if c.Settings, err = ReadClusterSettings(filepath.Join(dir, ClusterFileName), opts.Base); err != nil {
				return nil, err
			}
		}
		byDir[dir] = c
		order = append(order, dir)
		return c, nil
	}
	if readStdin {
		c, _ := cluster("")
		if err := in.read(stdin, "<stdin>", &c.Set); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		c, err := cluster(clusterDirOf(f, named))
		if err != nil {
			return nil, err
		}
		if err := in.readFile(f, &c.Set); err != nil {
			return nil, err
		}
	}
	for _, s := range skipped {
		c, err := cluster(clusterDirOf(s.Source.File, named))
		if err != nil {
			return nil, err
		}
		c.Set.Skipped = append(c.Set.Skipped, s)
	}
	for _, dir := range kustomizations {
		clusterDir := ""
		if _, err := os.Stat(filepath.Join(dir, ClusterFileName)); err == nil {
			clusterDir = filepath.Clean(dir)
		}
		c, err := cluster(clusterDir)
		if err != nil {
			return nil, err
		}
		if err := in.readKustomization(dir, &c.Set); err != nil {
			return nil, err
		}
	}
	sort.Strings(order)
	out := make([]*Cluster, len(order))
	for i, d := range order {
		out[i] = byDir[d]
	}
	return out, nil
}

// ReadClusterSettings reads a cluster file strictly, so a typo in a key is reported, over
// the base configuration (the flags').
func ReadClusterSettings(path string, base validators.Config) (ClusterSettings, error) {
	s := ClusterSettings{Config: base.Clone()}
	raw, err := os.ReadFile(path)
	if err != nil {
		return s, &Error{Source: Source{File: path}, Err: err}
	}
	if err := yaml.UnmarshalStrict(raw, &s); err != nil {
		return s, &Error{Source: Source{File: path}, Err: fmt.Errorf("cluster file: %w", err)}
	}
	return s, nil
}

// clusterDirOf finds the nearest folder holding a cluster file, from the file's folder up to
// the command-line path it was found under.
func clusterDirOf(file string, roots []string) string {
	root := ""
	for _, r := range roots {
		if within(r, file) {
			root = filepath.Clean(r)
			break
		}
	}
	if info, err := os.Stat(root); err == nil && !info.IsDir() {
		root = filepath.Dir(root)
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, ClusterFileName)); err == nil {
			return dir
		}
		if dir == root || dir == "." || dir == string(filepath.Separator) || dir == filepath.Dir(dir) {
			return ""
		}
	}
}
