package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// applyFolder applies a folder through the framework and returns every refusal's and
// warning's output, checking that --dry-run=server answers as the real apply does.
func applyFolder(t *testing.T, dir string) (refusals []string, warnings []string) {
	t.Helper()
	ctx, cancel := framework.Context(2 * time.Minute)
	defer cancel()
	err := cluster.ApplyFolder(ctx, guard, dir, gateways, func(s framework.Step) {
		if !s.Consul {
			return
		}
		if (s.DryRun.Code == 0) != (s.Apply.Code == 0) || causesOf(s.DryRun.Stderr) != causesOf(s.Apply.Stderr) {
			t.Errorf("%s: --dry-run=server and the real apply disagree:\ndry: %s\nreal: %s", s.File, s.DryRun.Stderr, s.Apply.Stderr)
		}
		if strings.Contains(s.Apply.Stderr, "Warning:") {
			warnings = append(warnings, s.Apply.Stderr)
		}
		if s.Apply.Code != 0 {
			refusals = append(refusals, s.Apply.Stderr)
		}
	})
	if err != nil {
		t.Fatal(err)
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
	useGuard(t, framework.ServeFlags(settings)...)
	reset(t)
	refusals, warnings := applyFolder(t, dir)
	if len(refusals) > 0 || len(warnings) > 0 {
		t.Fatalf("the valid setup was refused or warned about:\n%s\n%s", strings.Join(refusals, "\n"), strings.Join(warnings, "\n"))
	}
}

// eachExampleFolder runs one subtest per folder of examples/<group>, on an empty cluster
// with the webhook configured as the folder's cluster file says.
func eachExampleFolder(t *testing.T, group string, test func(t *testing.T, dir string, settings manifest.ClusterSettings)) {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(cluster.Root, "examples", group, "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no folders in examples/%s", group)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			settings, err := manifest.ReadClusterSettings(filepath.Join(dir, manifest.ClusterFileName))
			if err != nil {
				t.Fatal(err)
			}
			useGuard(t, framework.ServeFlags(settings)...)
			reset(t)
			test(t, dir, settings)
		})
	}
}

// Each mistake folder is refused by kubectl with the field path and rule name its cluster
// file declares, and --dry-run=server is refused the same way.
func TestMistakesAreRefusedWithFieldAndRule(t *testing.T) {
	families := map[string]bool{}
	eachExampleFolder(t, "mistakes", func(t *testing.T, dir string, settings manifest.ClusterSettings) {
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
	for _, r := range validators.Catalogue() {
		// Pair rules never run at admission; test/multicluster applies their examples with
		// kubectl to two API servers and checks them live.
		if !r.ReadsPair() && !families[r.Family] {
			t.Errorf("rule family %s has no mistake folder refused through kubectl", r.Family)
		}
	}
}
