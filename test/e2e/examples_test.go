package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// outcome is what kubectl printed for each file of a folder: refusals and warnings by file.
type outcome struct {
	refused, warned map[string]string
}

// applyFolder applies a folder through the framework and returns every refusal's and
// warning's output, checking that --dry-run=server answers as the real apply does.
func applyFolder(t *testing.T, dir string) (refusals []string, warnings []string) {
	t.Helper()
	o := applyFolderByFile(t, dir)
	for _, s := range o.refused {
		refusals = append(refusals, s)
	}
	for _, s := range o.warned {
		warnings = append(warnings, s)
	}
	return refusals, warnings
}

func applyFolderByFile(t *testing.T, dir string) outcome {
	t.Helper()
	ctx, cancel := framework.Context(2 * time.Minute)
	defer cancel()
	o := outcome{refused: map[string]string{}, warned: map[string]string{}}
	err := cluster.ApplyFolder(ctx, guard, dir, gateways, func(s framework.Step) {
		if !s.Consul {
			return
		}
		if (s.DryRun.Code == 0) != (s.Apply.Code == 0) || causesOf(s.DryRun.Stderr) != causesOf(s.Apply.Stderr) {
			t.Errorf("%s: --dry-run=server and the real apply disagree:\ndry: %s\nreal: %s", s.File, s.DryRun.Stderr, s.Apply.Stderr)
		}
		if strings.Contains(s.Apply.Stderr, "Warning:") {
			o.warned[s.File] = s.Apply.Stderr
		}
		if s.Apply.Code != 0 {
			o.refused[s.File] = s.Apply.Stderr
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// offlineOutcome runs validate -o json on a folder with the binary the webhook runs.
func offlineOutcome(t *testing.T, dir string) printer.Report {
	t.Helper()
	return reportOf(t, "validate", "-o", "json", "-f", dir)
}

// reportOf runs the binary with args that print the JSON report (-o json) and decodes it;
// an exit code of 1 (denied) is a report like any other.
func reportOf(t *testing.T, args ...string) printer.Report {
	t.Helper()
	out, err := exec.Command(binary, args...).Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	var rep printer.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%s: %v\n%s", args[0], err, out)
	}
	return rep
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
	settings, err := manifest.ReadClusterSettings(filepath.Join(dir, manifest.ClusterFileName), validators.Config{})
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
// with the webhook configured as the folder's cluster file says, and gives test what the
// folder's example file documents.
func eachExampleFolder(t *testing.T, group string, test func(t *testing.T, dir string, example framework.Example)) {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(cluster.Root, "examples", group, "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no folders in examples/%s", group)
	}
	// A folder of two peered clusters (cluster folders below it) is applied one cluster
	// at a time: one API server is one cluster.
	var clusters []string
	for _, dir := range dirs {
		if manifests, _ := filepath.Glob(filepath.Join(dir, "*.yaml")); len(manifests) > 0 {
			clusters = append(clusters, dir)
			continue
		}
		below, _ := filepath.Glob(filepath.Join(dir, "*", manifest.ClusterFileName))
		for _, cf := range below {
			clusters = append(clusters, filepath.Dir(cf))
		}
	}
	for _, dir := range clusters {
		name, _ := filepath.Rel(filepath.Join(cluster.Root, "examples", group), dir)
		t.Run(name, func(t *testing.T) {
			settings, err := manifest.ReadClusterSettings(filepath.Join(dir, manifest.ClusterFileName), validators.Config{})
			if err != nil {
				t.Fatal(err)
			}
			example, err := framework.ReadExample(dir)
			if err != nil {
				t.Fatal(err)
			}
			useGuard(t, framework.ServeFlags(settings)...)
			reset(t)
			test(t, dir, example)
		})
	}
}

// Each mistake folder is refused by kubectl with the field path and rule name its example
// file declares, and --dry-run=server is refused the same way. The webhook's outcome, file by
// file in apply order, is the offline outcome of validate -f on the same folder: the same
// files denied for the same rules and fields, the same files warned about.
func TestMistakesAreRefusedWithFieldAndRule(t *testing.T) {
	families := map[string]bool{}
	eachExampleFolder(t, "mistakes", func(t *testing.T, dir string, example framework.Example) {
		online := applyFolderByFile(t, dir)
		var all []string
		for _, s := range online.refused {
			all = append(all, s)
		}
		for _, e := range example.Expect {
			if !strings.Contains(strings.Join(all, "\n"), e.Field+": ") || !strings.Contains(strings.Join(all, "\n"), "("+e.Rule+")") {
				t.Errorf("kubectl did not refuse with %s at %s; refusals:\n%s", e.Rule, e.Field, all)
			}
			if r := validators.RuleByName(e.Rule); r != nil {
				families[r.Family] = true
			}
		}
		offline := offlineOutcome(t, dir)
		deniedOffline, warnedOffline := map[string]bool{}, map[string]bool{}
		for _, r := range offline.Results {
			if !r.Allowed {
				deniedOffline[r.File] = true
			}
			for _, v := range r.Violations {
				switch v.Action {
				case string(validators.Deny):
					if got := online.refused[r.File]; !strings.Contains(got, v.Field+": ") || !strings.Contains(got, "("+v.Rule+")") {
						t.Errorf("%s: denied offline by %s at %s, kubectl printed: %q", r.File, v.Rule, v.Field, got)
					}
				case string(validators.Warn):
					warnedOffline[r.File] = true
				}
			}
		}
		for file := range online.refused {
			if !deniedOffline[file] {
				t.Errorf("%s: refused by the webhook, allowed offline:\n%s", file, online.refused[file])
			}
		}
		for file := range online.warned {
			if !warnedOffline[file] {
				t.Errorf("%s: warned about by the webhook, not offline:\n%s", file, online.warned[file])
			}
		}
		for file := range warnedOffline {
			if online.warned[file] == "" {
				t.Errorf("%s: warned about offline, not by the webhook", file)
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
