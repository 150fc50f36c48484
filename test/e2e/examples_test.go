package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// flagsFor turns a folder's cluster file into serve flags.
func flagsFor(s manifest.ClusterSettings) []string {
	var args []string
	if s.PartitionsEnabled != nil && *s.PartitionsEnabled {
		args = append(args, "--partitions-enabled")
	}
	if s.Partition != nil {
		args = append(args, "--partition="+*s.Partition)
	}
	if s.NamespacesEnabled != nil && *s.NamespacesEnabled {
		args = append(args, "--namespaces-enabled")
	}
	if s.ConsulVersion != nil {
		args = append(args, "--consul-version="+*s.ConsulVersion)
	}
	names := make([]string, 0, len(s.Rules))
	for n := range s.Rules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		args = append(args, "--rule="+n+"="+s.Rules[n])
	}
	return args
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

// applyFolder applies a folder's manifests in file order the way a platform engineer would,
// first with --dry-run=server and then for real, waiting after each accepted object until
// the webhook's state index has it. It returns every refusal's and warning's output.
func applyFolder(t *testing.T, dir string) (refusals []string, warnings []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s", dir)
	}
	sort.Strings(files)
	ctx, cancel := framework.Context(2 * time.Minute)
	defer cancel()
	counts := map[validators.Kind]int{}
	ready := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var h header
		if err := yaml.Unmarshal(raw, &h); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		kind := validators.Kind(h.Kind)
		if _, ours := validators.NewObject(kind); !ours || h.APIVersion != "consul.hashicorp.com/v1alpha1" {
			if r := cluster.Kubectl("apply", "-f", f); r.Code != 0 {
				t.Fatalf("%s: %s", f, r.Stderr)
			}
			if h.Kind == "Deployment" && gateways.Matches(labels.Set(h.Metadata.Labels)) {
				if err := cluster.MarkDeploymentReady(ctx, h.Metadata.Namespace, h.Metadata.Name, 1); err != nil {
					t.Fatal(err)
				}
				ready++
				if err := guard.WaitForGateways(ctx, ready); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		dry := cluster.Kubectl("apply", "--dry-run=server", "-f", f)
		real := cluster.Kubectl("apply", "-f", f)
		if (dry.Code == 0) != (real.Code == 0) || causesOf(dry.Stderr) != causesOf(real.Stderr) {
			t.Errorf("%s: --dry-run=server and the real apply disagree:\ndry: %s\nreal: %s", f, dry.Stderr, real.Stderr)
		}
		if strings.Contains(real.Stderr, "Warning:") {
			warnings = append(warnings, real.Stderr)
		}
		if real.Code != 0 {
			refusals = append(refusals, real.Stderr)
			continue
		}
		counts[kind]++
		if err := guard.WaitForState(ctx, kind, counts[kind]); err != nil {
			t.Fatalf("%s: webhook did not see the object: %v", f, err)
		}
	}
	return refusals, warnings
}

// causesOf reduces kubectl's error output to the part that names fields and rules, so a
// dry run and a real apply can be compared.
func causesOf(stderr string) string {
	if i := strings.Index(stderr, "is invalid: "); i >= 0 {
		return stderr[i:]
	}
	return ""
}

func TestValidSetupAppliesCleanly(t *testing.T) {
	dir := filepath.Join(cluster.Root, "examples", "valid")
	settings, err := manifest.ReadClusterSettings(filepath.Join(dir, manifest.ClusterFileName))
	if err != nil {
		t.Fatal(err)
	}
	useGuard(t, flagsFor(settings)...)
	reset(t)
	refusals, warnings := applyFolder(t, dir)
	if len(refusals) > 0 || len(warnings) > 0 {
		t.Fatalf("the valid setup was refused or warned about:\n%s\n%s", strings.Join(refusals, "\n"), strings.Join(warnings, "\n"))
	}
}

// Each mistake folder is refused by kubectl with the field path and rule name its cluster
// file declares, and --dry-run=server is refused the same way.
func TestMistakesAreRefusedWithFieldAndRule(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(cluster.Root, "examples", "mistakes", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatal("no mistake folders")
	}
	families := map[string]bool{}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			settings, err := manifest.ReadClusterSettings(filepath.Join(dir, manifest.ClusterFileName))
			if err != nil {
				t.Fatal(err)
			}
			useGuard(t, flagsFor(settings)...)
			reset(t)
			refusals, _ := applyFolder(t, dir)
			all := strings.Join(refusals, "\n")
			for _, e := range settings.Expect {
				if !strings.Contains(all, e.Field+": ") || !strings.Contains(all, "("+e.Rule+")") {
					t.Errorf("kubectl did not refuse with %s at %s; refusals:\n%s", e.Rule, e.Field, all)
				}
				if r := validators.RuleByName(e.Rule); r != nil {
					families[r.Family] = true
				}
			}
		})
	}
	for _, r := range validators.Catalogue() {
		if !families[r.Family] {
			t.Errorf("rule family %s has no mistake folder refused through kubectl", r.Family)
		}
	}
}
