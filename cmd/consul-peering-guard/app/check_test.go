package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func checkJSON(t *testing.T, args ...string) (int, printer.Report) {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"check", "-o", "json"}, args...)...)
	var rep printer.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not the JSON report: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	return code, rep
}

// clusterFinding is a finding as check reports it: on which cluster, by which rule, where.
type clusterFinding struct{ cluster, rule, field string }

func TestCheckPeeringExamplePasses(t *testing.T) {
	code, rep := checkJSON(t, "-f", filepath.Join(examples, "peering", "cluster-01"), "-f", filepath.Join(examples, "peering", "cluster-02"))
	if code != exitAllowed {
		t.Errorf("exit code %d, want 0", code)
	}
	clusters := map[string]int{}
	for _, r := range rep.Results {
		clusters[r.Cluster]++
		if len(r.Violations) > 0 {
			t.Errorf("[%s] %s %s/%s: %+v", r.Cluster, r.Kind, r.Namespace, r.Name, r.Violations)
		}
	}
	if clusters["cluster-01"] == 0 || clusters["cluster-02"] == 0 || len(clusters) != 2 {
		t.Errorf("results per cluster %v, want cluster-01 and cluster-02", clusters)
	}
	// A folder of cluster folders is the same check.
	if code, again := checkJSON(t, "-f", filepath.Join(examples, "peering")); code != exitAllowed || len(again.Results) != len(rep.Results) {
		t.Errorf("check -f examples/peering: exit %d, %d results, want 0 and %d", code, len(again.Results), len(rep.Results))
	}
}

// Each folder of examples/peering-mistakes is named after a both-sides rule; its cluster
// files list what check must find there (expect), and nothing else is denied.
func TestCheckPeeringMistakes(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(examples, "peering-mistakes", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no peering mistake folders: %v", err)
	}
	covered := map[string]bool{}
	for _, dir := range dirs {
		rule := filepath.Base(dir)
		t.Run(rule, func(t *testing.T) {
			if r := validators.RuleByName(rule); r == nil || !r.ReadsPair() {
				t.Fatalf("folder %s is not named after a both-sides rule", dir)
			}
			want := map[clusterFinding]bool{}
			cfs, _ := filepath.Glob(filepath.Join(dir, "*", manifest.ClusterFileName))
			wantDeny := false
			for _, cf := range cfs {
				s, err := manifest.ReadClusterSettings(cf, validators.Config{})
				if err != nil {
					t.Fatal(err)
				}
				example, err := framework.ReadExample(filepath.Dir(cf))
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range example.Expect {
					want[clusterFinding{s.Name, e.Rule, e.Field}] = true
					wantDeny = wantDeny || validators.RuleByName(e.Rule).DefaultAction == validators.Deny
				}
			}
			code, rep := checkJSON(t, "-f", dir)
			got := map[clusterFinding]bool{}
			for _, r := range rep.Results {
				for _, v := range r.Violations {
					f := clusterFinding{r.Cluster, v.Rule, v.Field}
					got[f] = true
					if v.Action == string(validators.Deny) && !want[f] {
						t.Errorf("undeclared denial %+v: %s", f, v.Message)
					}
					if r := validators.RuleByName(v.Rule); r != nil && r.ReadsPair() {
						covered[v.Rule] = true
						if v.PeerCluster == "" || v.PeerCluster == r.Name || !strings.Contains(v.Message, `"`+v.PeerCluster+`"`) {
							t.Errorf("%s finding does not name the peer cluster %q: %s", v.Rule, v.PeerCluster, v.Message)
						}
					}
				}
			}
			ruleSeen := false
			for f := range want {
				if !got[f] {
					t.Errorf("expected finding %+v missing; got %v", f, got)
				}
				ruleSeen = ruleSeen || f.rule == rule
			}
			if !ruleSeen {
				t.Errorf("the example files of %s expect no %s finding", dir, rule)
			}
			if wantCode := map[bool]int{true: exitDenied, false: exitAllowed}[wantDeny]; code != wantCode {
				t.Errorf("exit code %d, want %d", code, wantCode)
			}
		})
	}
	for _, r := range validators.Catalogue() {
		if r.ReadsPair() && !covered[r.Name] {
			t.Errorf("no peering mistake folder shows %s", r.Name)
		}
	}
}

func TestCheckRuleActions(t *testing.T) {
	dir := filepath.Join(examples, "peering-mistakes", "import-not-exported")
	if code, _ := checkJSON(t, "-f", dir, "--rule", "import-not-exported=off"); code != exitAllowed {
		t.Errorf("import-not-exported=off: exit %d, want 0", code)
	}
	code, rep := checkJSON(t, "-f", dir, "--rule", "import-not-exported=warn", "--rule", "export-unused=off")
	if code != exitAllowed {
		t.Errorf("import-not-exported=warn: exit %d, want 0", code)
	}
	got := map[clusterFinding]string{}
	for _, r := range rep.Results {
		for _, v := range r.Violations {
			got[clusterFinding{r.Cluster, v.Rule, v.Field}] = v.Action
		}
	}
	want := map[clusterFinding]string{{"cluster-b", "import-not-exported", "spec.upstreamConfig.overrides[0].peer"}: "warn"}
	if len(got) != len(want) || got[clusterFinding{"cluster-b", "import-not-exported", "spec.upstreamConfig.overrides[0].peer"}] != "warn" {
		t.Errorf("findings %v, want %v", got, want)
	}
}

// A cluster file's rules: apply to the findings on that cluster's objects.
func TestCheckClusterFileRules(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(examples, "peering-mistakes", "export-unused")
	for _, c := range []string{"cluster-a", "cluster-b"} {
		files, _ := filepath.Glob(filepath.Join(src, c, "*.yaml"))
		files = append(files, filepath.Join(src, c, manifest.ClusterFileName))
		if err := os.MkdirAll(filepath.Join(tmp, c), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(f) == manifest.ClusterFileName && c == "cluster-a" {
				raw = append(raw, []byte("\nrules:\n  export-unused: deny\n")...)
			}
			if err := os.WriteFile(filepath.Join(tmp, c, filepath.Base(f)), raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	code, rep := checkJSON(t, "-f", tmp)
	if code != exitDenied {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, r := range rep.Results {
		for _, v := range r.Violations {
			if v.Rule == "export-unused" && (r.Cluster != "cluster-a" || v.Action != "deny" || v.Field != "spec.services[0].consumers[0].peer") {
				t.Errorf("unexpected %+v on %s", v, r.Cluster)
			}
		}
	}
}

func TestCheckTextAndDot(t *testing.T) {
	dir := filepath.Join(examples, "peering-mistakes", "import-not-exported")
	code, out, _ := runCLI(t, "check", "-f", dir)
	if code != exitDenied {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"[cluster-b] ServiceDefaults default/frontend (",
		"  DENY spec.upstreamConfig.overrides[0].peer: Invalid value: \"cluster-a\": cluster \"cluster-b\" imports service \"backend\" (namespace default) from peer \"cluster-a\"",
		"(import-not-exported)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "check", "-o", "dot", "-f", dir)
	if code != exitDenied || !strings.HasPrefix(out, "digraph peering {") || !strings.HasSuffix(out, "}\n") {
		t.Fatalf("exit %d, want 1 and a digraph:\n%s", code, out)
	}
	for _, want := range []string{
		`"cluster-b/ServiceDefaults default/frontend" -> "cluster-a/default/default/backend" [label="upstream via peer cluster-a\nbroken: import-not-exported", color=red`,
		`"cluster-a/default/default/backend" [label="backend\n(namespace default)\nnot exported", shape=ellipse, style=dotted, color=red];`,
		`"cluster-a/default/payments/backend" -> "cluster-b/mesh-gateway" [label="exported to cluster-b\nbroken: export-unused", color=orange`,
		`"cluster-b/mesh-gateway" -> "cluster-a/mesh-gateway" [label="peering\ndialer cluster-a -> acceptor cluster-b"];`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dot output lacks %s:\n%s", want, out)
		}
	}
	if _, out, _ := runCLI(t, "check", "-o", "dot", "-f", filepath.Join(examples, "peering")); strings.Contains(out, "broken") {
		t.Errorf("the passing peering draws a broken edge:\n%s", out)
	}
}

func TestCheckUsageErrors(t *testing.T) {
	peering := filepath.Join(examples, "peering")
	for name, args := range map[string][]string{
		"nothing":              {"check"},
		"files and contexts":   {"check", "-f", peering, "--context", "a"},
		"one cluster":          {"check", "-f", filepath.Join(peering, "cluster-01")},
		"cluster without name": {"check", "-f", peering, "-f", filepath.Join(examples, "setups", "acceptor-exports-to-peer")},
		"same folder twice":    {"check", "-f", filepath.Join(peering, "cluster-01"), "-f", filepath.Join(peering, "cluster-01")},
		"bad output":           {"check", "-f", peering, "-o", "yaml"},
		"unknown rule":         {"check", "-f", peering, "--rule", "peering-pairs=deny"},
		"unknown context":      {"check", "--kubeconfig", filepath.Join(t.TempDir(), "none"), "--context", "a", "--context", "b"},
		"cluster file without context": {"check", "--context", "a", "--context", "b",
			"--cluster-file", "c=" + filepath.Join(peering, "cluster-01", manifest.ClusterFileName)},
		"cluster file not CONTEXT=FILE": {"check", "--context", "a", "--context", "b", "--cluster-file", "a"},
		"cluster file missing":          {"check", "--context", "a", "--context", "b", "--cluster-file", "a=" + filepath.Join(t.TempDir(), "none")},
	} {
		t.Run(name, func(t *testing.T) {
			if code, out, errOut := runCLI(t, args...); code != exitUsage || errOut == "" {
				t.Errorf("exit %d, want 2 with an error; stdout %s stderr %s", code, out, errOut)
			}
		})
	}
}

// The graphs the README shows are what check prints for the examples (make graphs redraws them).
func TestCheckGraphsInDocsAreCurrent(t *testing.T) {
	for file, folder := range map[string]string{
		"peering.dot":                     filepath.Join(examples, "peering"),
		"peering-import-not-exported.dot": filepath.Join(examples, "peering-mistakes", "import-not-exported"),
	} {
		want, err := os.ReadFile(filepath.Join(repoRoot, "docs", "images", file))
		if err != nil {
			t.Fatal(err)
		}
		_, got, _ := runCLI(t, "check", "-o", "dot", "-f", folder)
		if got != string(want) {
			t.Errorf("docs/images/%s is stale: run make graphs\n got:\n%s", file, got)
		}
	}
}

// check judges each cluster exactly as validate judges its folder: for every folder of
// examples/ that holds two or more named clusters, the single-cluster findings check reports
// on a cluster are validate's findings on that cluster's folder, no more, no fewer.
func TestCheckJudgesEachClusterAsValidate(t *testing.T) {
	var parents []string
	err := filepath.WalkDir(examples, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		named := 0
		subs, _ := filepath.Glob(filepath.Join(path, "*", manifest.ClusterFileName))
		for _, cf := range subs {
			if s, err := manifest.ReadClusterSettings(cf, validators.Config{}); err == nil && s.Name != "" {
				named++
			}
		}
		if named >= 2 {
			parents = append(parents, path)
		}
		return nil
	})
	if err != nil || len(parents) < 5 {
		t.Fatalf("want the peering example folders, found %v: %v", parents, err)
	}
	type objectFinding struct{ kind, namespace, name, rule, field, action string }
	for _, parent := range parents {
		t.Run(strings.TrimPrefix(parent, examples+string(filepath.Separator)), func(t *testing.T) {
			_, checked := checkJSON(t, "-f", parent)
			byCluster := map[string]map[objectFinding]bool{}
			for _, r := range checked.Results {
				if byCluster[r.Cluster] == nil {
					byCluster[r.Cluster] = map[objectFinding]bool{}
				}
				for _, v := range r.Violations {
					if rule := validators.RuleByName(v.Rule); rule != nil && rule.ReadsPair() {
						continue
					}
					byCluster[r.Cluster][objectFinding{r.Kind, r.Namespace, r.Name, v.Rule, v.Field, v.Action}] = true
				}
			}
			cfs, _ := filepath.Glob(filepath.Join(parent, "*", manifest.ClusterFileName))
			for _, cf := range cfs {
				s, err := manifest.ReadClusterSettings(cf, validators.Config{})
				if err != nil || s.Name == "" {
					continue
				}
				_, validated := validateJSON(t, "-f", filepath.Dir(cf))
				want := map[objectFinding]bool{}
				for _, r := range validated.Results {
					for _, v := range r.Violations {
						want[objectFinding{r.Kind, r.Namespace, r.Name, v.Rule, v.Field, v.Action}] = true
					}
				}
				if got := byCluster[s.Name]; !mapsEqual(got, want) {
					t.Errorf("cluster %s: check found %v, validate %v", s.Name, got, want)
				}
			}
		})
	}
}

func mapsEqual[K comparable](a, b map[K]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// A Helm values.yaml or a README beside the cluster folders is skipped, as validate skips it.
func TestCheckSkipsFilesThatAreNoObjects(t *testing.T) {
	repo := t.TempDir()
	for _, c := range []string{"cluster-01", "cluster-02"} {
		if err := os.CopyFS(filepath.Join(repo, c), os.DirFS(filepath.Join(examples, "peering", c))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(repo, "values.yaml"), []byte("global:\n  peering:\n    enabled: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, rep := checkJSON(t, "-f", repo)
	if code != exitAllowed {
		t.Errorf("exit code %d, want 0", code)
	}
	found := false
	for _, s := range rep.Skipped {
		found = found || filepath.Base(s.File) == "values.yaml"
	}
	if !found {
		t.Errorf("values.yaml not listed as skipped: %+v", rep.Skipped)
	}
}

// HashiCorp's walk-through with transparent proxy: the Consul chart runs both mesh gateways
// (meshGatewayInstalled), and frontend names backend nowhere; the intention on cluster-02 is
// the trace of the import. check finds nothing, as validate finds nothing on either side.
func TestCheckTransparentProxyWalkThrough(t *testing.T) {
	code, rep := checkJSON(t, "-f", filepath.Join(examples, "setups", "transparent-proxy"))
	if code != exitAllowed {
		t.Errorf("exit code %d, want 0", code)
	}
	for _, r := range rep.Results {
		for _, v := range r.Violations {
			t.Errorf("[%s] %s %s/%s: %s %s %s", r.Cluster, r.Kind, r.Namespace, r.Name, v.Action, v.Field, v.Rule)
		}
	}
	// Without the intention the export is unused, and the finding never advises removing it.
	code, rep = checkJSON(t, "-f", filepath.Join(examples, "setups", "transparent-proxy"), "--rule", "export-unused=deny")
	if code != exitAllowed {
		t.Errorf("with the intention, export-unused=deny: exit %d, want 0", code)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(examples, "setups", "transparent-proxy"))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "cluster-02", "40-service-intentions.yaml")); err != nil {
		t.Fatal(err)
	}
	_, rep = checkJSON(t, "-f", dir)
	found := false
	for _, r := range rep.Results {
		for _, v := range r.Violations {
			if v.Rule == "export-unused" {
				found = true
				if v.Action != string(validators.Warn) || v.Field != "spec.services[0].consumers[0].peer" || strings.Contains(v.Message, "remove") {
					t.Errorf("export-unused: %+v", v)
				}
			}
		}
	}
	if !found {
		t.Error("no export-unused without the intention")
	}
}

// check takes validate's --mesh-gateway-installed.
func TestCheckMeshGatewayInstalledFlag(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(examples, "setups", "transparent-proxy"))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"cluster-01", "cluster-02"} {
		f := filepath.Join(dir, c, manifest.ClusterFileName)
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(strings.Replace(string(raw), "meshGatewayInstalled: true", "", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _ := checkJSON(t, "-f", dir); code != exitDenied {
		t.Errorf("no gateway anywhere: exit %d, want %d", code, exitDenied)
	}
	if code, _ := checkJSON(t, "-f", dir, "--mesh-gateway-installed"); code != exitAllowed {
		t.Errorf("--mesh-gateway-installed: exit %d, want 0", code)
	}
}
