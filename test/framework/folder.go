package framework

import (
	"bytes"
	"context"
	_ "embed"
	"encoding"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Step is one file of a folder applied with kubectl.
type Step struct {
	File string
	// Kind is the object's kind; Consul is true for the kinds the webhook validates: the
	// Consul kinds, and workloads whose pods carry the upstreams annotation.
	Kind   string
	Consul bool
	// DryRun is the --dry-run=server apply, run first for Consul kinds.
	DryRun Result
	Apply  Result
	// GatewayReady is set when the file was a mesh gateway Deployment marked ready.
	GatewayReady bool
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
}

// ServeFlags turns a folder's cluster file into the serve flags of the same installation:
// every field of its configuration that is set, by the field's flag tag.
func ServeFlags(s manifest.ClusterSettings) []string {
	var args []string
	v := reflect.ValueOf(s.Config)
	for i := range v.NumField() {
		name, field := v.Type().Field(i).Tag.Get("flag"), v.Field(i)
		if name == "" || field.IsZero() {
			continue
		}
		switch value := field.Interface().(type) {
		case bool:
			args = append(args, "--"+name)
		case validators.Edition:
			args = append(args, "--"+name+"="+string(value))
		case string:
			args = append(args, "--"+name+"="+value)
		case validators.RuleActions:
			for _, setting := range strings.Split(value.String(), ",") {
				args = append(args, "--"+name+"="+setting)
			}
		case encoding.TextMarshaler:
			text, err := value.MarshalText()
			if err != nil {
				panic(err) // a value decoded from text writes itself back
			}
			args = append(args, "--"+name+"="+string(text))
		default:
			panic(fmt.Sprintf("ServeFlags: no flag for the %s field %s", field.Type(), v.Type().Field(i).Name))
		}
	}
	return args
}

// ApplyFolder applies a folder's manifests in file order as a platform engineer would: Consul
// kinds first with --dry-run=server and then for real, a mesh gateway Deployment marked ready
// through its status. After each accepted object it waits until the webhook's state index
// has it, so the next file is judged against it. step is called after each file.
func (c *Cluster) ApplyFolder(ctx context.Context, w *Webhook, dir string, gateways labels.Selector, step func(Step)) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no manifests in %s", dir)
	}
	sort.Strings(files)
	counts := map[kinds.Kind]int{}
	ready := 0
	// The Consul Helm chart runs the mesh gateway of a cluster whose file says so; the
	// folder holds no manifest of it, so it is started here as the chart would.
	if settings, err := manifest.ReadClusterSettings(filepath.Join(dir, manifest.ClusterFileName), validators.Config{}); err != nil {
		return err
	} else if settings.MeshGatewayInstalled != nil && *settings.MeshGatewayInstalled {
		if r := c.Apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: consul}\n---\n" + ChartGateway); r.Code != 0 {
			return fmt.Errorf("the mesh gateway of the Consul chart: %s", r.Stderr)
		}
		if err := c.MarkDeploymentReady(ctx, "consul", "consul-mesh-gateway", 1); err != nil {
			return err
		}
		ready++
		if err := w.WaitForGateways(ctx, ready); err != nil {
			return err
		}
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var h header
		if err := yaml.Unmarshal(raw, &h); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		s := Step{File: f, Kind: h.Kind}
		kind := kinds.Kind(h.Kind)
		_, ours := kinds.New(kind)
		gateway := h.Kind == "Deployment" && gateways.Matches(labels.Set(h.Metadata.Labels))
		s.Consul = ours && (strings.HasPrefix(h.APIVersion, "consul.hashicorp.com/") ||
			!gateway && slices.Contains(kinds.Workloads, kind) && bytes.Contains(raw, []byte(validators.UpstreamsAnnotation)))
		if !s.Consul {
			s.Apply = c.Kubectl("apply", "-f", f)
			if s.Apply.Code != 0 {
				return fmt.Errorf("%s: %s", f, s.Apply.Stderr)
			}
			if gateway {
				if err := c.MarkDeploymentReady(ctx, h.Metadata.Namespace, h.Metadata.Name, 1); err != nil {
					return err
				}
				ready++
				if err := w.WaitForGateways(ctx, ready); err != nil {
					return err
				}
				s.GatewayReady = true
			}
			step(s)
			continue
		}
		s.DryRun = c.Kubectl("apply", "--dry-run=server", "-f", f)
		s.Apply = c.Kubectl("apply", "-f", f)
		// Only the kinds the state rules read are indexed; the others have nothing to wait for.
		if s.Apply.Code == 0 && slices.Contains(kinds.Watched, kind) {
			counts[kind]++
			if err := w.WaitForState(ctx, kind, counts[kind]); err != nil {
				return fmt.Errorf("%s: the webhook did not see the object: %w", f, err)
			}
		}
		step(s)
	}
	return nil
}

// ChartGateway is the mesh gateway Deployment the Consul Helm chart makes in namespace consul
// with meshGateway.enabled, as far as the webhook reads it: what a cluster file's
// meshGatewayInstalled stands for. make playground applies the same file.
//
//go:embed chart-mesh-gateway.yaml
var ChartGateway string
