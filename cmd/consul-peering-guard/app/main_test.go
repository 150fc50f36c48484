package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

const examples = "../../../examples"

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(args, &stdout, &stderr, testBuild)
	return code, stdout.String(), stderr.String()
}

func validateJSON(t *testing.T, args ...string) (int, printer.Report) {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"validate", "-o", "json"}, args...)...)
	var rep printer.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not the JSON report: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	return code, rep
}

type finding struct{ rule, field, action string }

func findings(rep printer.Report) map[finding]bool {
	got := map[finding]bool{}
	for _, r := range rep.Results {
		for _, v := range r.Violations {
			got[finding{v.Rule, v.Field, v.Action}] = true
		}
	}
	return got
}

// Every example folder declares in its example file the denials it must produce.
func TestExampleFoldersProduceTheirDeclaredDenials(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(examples, "mistakes", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no mistake folders: %v", err)
	}
	covered := map[string]bool{}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			example, err := framework.ReadExample(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(example.Expect) == 0 {
				t.Fatal("a mistake folder must declare the denials it produces")
			}
			code, rep := validateJSON(t, "-f", dir)
			if code != exitDenied {
				t.Errorf("exit code %d, want %d", code, exitDenied)
			}
			// The mistake is the only finding: no other denial, no warning.
			want := map[finding]bool{}
			for _, e := range example.Expect {
				covered[e.Rule+" "+e.Field] = true
				want[finding{e.Rule, e.Field, string(validators.Deny)}] = true
			}
			if got := findings(rep); !maps.Equal(got, want) {
				t.Errorf("findings %v, want exactly %v", got, want)
			}
		})
	}
	if len(covered) < len(dirs) {
		t.Errorf("only %d distinct rule and field pairs across %d mistake folders", len(covered), len(dirs))
	}
}

// The documented peering setups (examples/setups) are what Consul accepts: no denial and no
// warning, each folder with its own installation settings.
func TestDocumentedSetupsHaveNoFindings(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(examples, "setups", "*"))
	if err != nil || len(dirs) < 6 {
		t.Fatalf("want the documented setups, found %d: %v", len(dirs), err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			code, rep := validateJSON(t, "-f", dir)
			if code != exitAllowed {
				t.Errorf("exit code %d, want 0", code)
			}
			if len(rep.Results) < 2 {
				t.Fatalf("only %d Consul objects read", len(rep.Results))
			}
			if got := findings(rep); len(got) != 0 {
				t.Errorf("findings on a valid setup: %v", got)
			}
			// A setup of two clusters is also clean through check, pair rules included.
			if pair, _ := filepath.Glob(filepath.Join(dir, "*", manifest.ClusterFileName)); len(pair) >= 2 {
				code, rep := checkJSON(t, "-f", dir)
				if got := findings(rep); code != exitAllowed || len(got) != 0 {
					t.Errorf("check: exit code %d, findings %v; want 0 and none", code, got)
				}
			}
		})
	}
}

func TestValidExampleHasNoFindings(t *testing.T) {
	code, rep := validateJSON(t, "-f", filepath.Join(examples, "valid"))
	if code != exitAllowed {
		t.Errorf("exit code %d, want 0", code)
	}
	if len(rep.Results) < 6 {
		t.Fatalf("expected the six kinds of the valid setup, got %d results", len(rep.Results))
	}
	for _, r := range rep.Results {
		if !r.Allowed || len(r.Violations) != 0 {
			t.Errorf("%s %s/%s: %+v", r.Kind, r.Namespace, r.Name, r.Violations)
		}
	}
}

// The whole examples tree at once: each folder with a cluster file is its own cluster, so the
// valid setup stays clean while every mistake folder is denied.
func TestWholeExamplesTree(t *testing.T) {
	code, rep := validateJSON(t, "-f", examples)
	if code != exitDenied {
		t.Fatalf("exit code %d, want 1", code)
	}
	deniedDirs := map[string]bool{}
	for _, r := range rep.Results {
		dir := filepath.Dir(r.File)
		if strings.Contains(dir, filepath.Join("examples", "valid")) && len(r.Violations) > 0 {
			t.Errorf("valid setup has findings: %+v", r)
		}
		if !r.Allowed {
			deniedDirs[dir] = true
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(examples, "mistakes", "*"))
	for _, d := range dirs {
		if !deniedDirs[d] {
			t.Errorf("no denial from %s", d)
		}
	}
}

func TestTextOutputIsKubectlLike(t *testing.T) {
	code, out, _ := runCLI(t, "validate", "-f", filepath.Join(examples, "mistakes", "mode-none-on-peer-upstream"))
	if code != exitDenied {
		t.Fatalf("exit %d", code)
	}
	want := "DENY spec.upstreamConfig.overrides[0].meshGateway.mode:"
	if !strings.Contains(out, want) || !strings.Contains(out, "(gateway-mode-none-peer-upstream)") {
		t.Errorf("text output lacks the field path and rule:\n%s", out)
	}
}

func TestJSONOutputShape(t *testing.T) {
	_, out, _ := runCLI(t, "validate", "-o", "json", "-f", filepath.Join(examples, "mistakes", "gateway-mode-typo"))
	var doc map[string][]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range doc["results"] {
		for _, key := range []string{"kind", "namespace", "name", "file", "allowed", "violations"} {
			if _, ok := r[key]; !ok {
				t.Errorf("result lacks %q: %s", key, out)
			}
		}
		var vs []map[string]string
		if err := json.Unmarshal(r["violations"], &vs); err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if len(v) != 4 || v["rule"] == "" || v["action"] == "" || v["field"] == "" || v["message"] == "" {
				t.Errorf("violation keys: %v", v)
			}
		}
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadInputExitsTwoNamingFileAndDocument(t *testing.T) {
	dir := t.TempDir()
	good := "apiVersion: consul.hashicorp.com/v1alpha1\nkind: Mesh\nmetadata:\n  name: mesh\n"
	cases := map[string]struct {
		content string
		want    []string
	}{
		"broken YAML in document 2":    {good + "---\nkind: [unclosed\n", []string{"document 2"}},
		"wrong JSON type":              {"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ProxyDefaults\nmetadata:\n  name: global\nspec:\n  meshGateway:\n    mode: 3\n", []string{"document 1", "meshGateway.mode"}},
		"overrides not a list":         {"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceDefaults\nmetadata:\n  name: web\nspec:\n  upstreamConfig:\n    overrides: {}\n", []string{"document 1", "overrides"}},
		"Consul kind, metadata a list": {"apiVersion: consul.hashicorp.com/v1alpha1\nkind: Mesh\nmetadata: []\n", []string{"document 1", "metadata"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(name, " ", "-")+".yaml", tc.content)
			code, _, stderr := runCLI(t, "validate", "-f", p)
			if code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			for _, w := range append(tc.want, p) {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %q", stderr, w)
				}
			}
		})
	}
}

func TestBadFlagsExitTwo(t *testing.T) {
	for name, args := range map[string][]string{
		"no files":       {"validate"},
		"unknown rule":   {"validate", "-f", examples, "--rule", "no-such-rule=deny"},
		"bad action":     {"validate", "-f", examples, "--rule", "upstream-duplicate=block"},
		"bad output":     {"validate", "-f", examples, "-o", "yaml"},
		"missing path":   {"validate", "-f", "/does/not/exist"},
		"bad selector":   {"validate", "-f", examples, "--mesh-gateway-selector", "a in ("},
		"unknown flag":   {"validate", "--nope"},
		"bad version":    {"validate", "-f", examples, "--consul-version", "one.two"},
		"partition only": {"validate", "-f", examples, "--partition", "ap1"},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, _ := runCLI(t, args...); code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}

func TestServeRefusesNegativeBounds(t *testing.T) {
	for _, flag := range []string{"--max-connections", "--max-header-bytes", "--max-in-flight", "--max-in-flight-bytes"} {
		t.Run(flag, func(t *testing.T) {
			code, _, stderr := runCLI(t, "serve", flag+"=-1")
			if code != exitUsage || !strings.Contains(stderr, flag+" -1: must not be negative") {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}

func TestRuleFlagChangesTheVerdict(t *testing.T) {
	dir := filepath.Join(examples, "mistakes", "gateway-mode-typo")
	code, rep := validateJSON(t, "-f", dir, "--rule", "gateway-mode-valid=warn")
	if code != exitAllowed {
		t.Errorf("exit %d with the rule at warn, want 0", code)
	}
	if !findings(rep)[finding{"gateway-mode-valid", "spec.meshGateway.mode", "warn"}] {
		t.Errorf("warning missing: %+v", rep)
	}
	code, rep = validateJSON(t, "-f", dir, "--rule", "gateway-mode-valid=off")
	if code != exitAllowed || len(findings(rep)) != 0 {
		t.Errorf("rule off: exit %d, findings %v", code, findings(rep))
	}
}

func TestRulesListsTheCatalogue(t *testing.T) {
	code, out, _ := runCLI(t, "rules")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, line := range lines {
		if len(line) > rulesWidth {
			t.Errorf("a line of %d columns, more than %d: %q", len(line), rulesWidth, line)
		}
	}
	// A rule's line starts with its name; its kinds continue on lines starting with spaces
	// up to the KINDS column, its description on lines starting with four spaces.
	kindsAt := strings.Index(lines[0], "KINDS")
	type listed struct{ action, policy, kinds, description string }
	got := map[string]*listed{}
	var cur *listed
	for _, line := range lines[1:] {
		switch {
		case !strings.HasPrefix(line, " "):
			f := strings.Fields(line[:kindsAt])
			if len(f) != 3 {
				t.Fatalf("rule line %q", line)
			}
			cur = &listed{action: f[1], policy: f[2], kinds: line[kindsAt:]}
			got[f[0]] = cur
		case len(line) > kindsAt && strings.TrimSpace(line[:kindsAt]) == "":
			cur.kinds += " " + line[kindsAt:]
		default:
			cur.description = strings.TrimSpace(cur.description + " " + strings.TrimPrefix(line, descriptionIndent))
		}
	}
	for _, r := range validators.Catalogue() {
		l := got[r.Name]
		if l == nil {
			t.Errorf("rules output lacks %s", r.Name)
			continue
		}
		kinds := make([]string, len(r.Kinds))
		for i, k := range r.Kinds {
			kinds[i] = string(k)
		}
		policy := map[bool]string{true: "yes", false: "-"}[policies.Enforced(r)]
		want := listed{action: string(r.DefaultAction), policy: policy, kinds: strings.Join(kinds, ", "), description: strings.Join(strings.Fields(r.Description), " ")}
		if *l != want {
			t.Errorf("%s listed as %+v, want %+v", r.Name, *l, want)
		}
	}
	if len(got) != len(validators.Catalogue()) {
		t.Errorf("%d rules listed, the catalogue has %d", len(got), len(validators.Catalogue()))
	}
}

// Offline, a mesh gateway is a matching Deployment that asks for a replica; a Service alone
// or a Deployment scaled to zero is not, as in the webhook.
func TestOfflineGatewayMeansADeploymentWithReplicas(t *testing.T) {
	export := "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ExportedServices\nmetadata: {name: default}\nspec:\n  services: [{name: api, consumers: [{peer: dc2}]}]\n---\n" +
		"apiVersion: consul.hashicorp.com/v1alpha1\nkind: PeeringAcceptor\nmetadata: {name: dc2}\nspec: {peer: {secret: {name: t, key: k, backend: kubernetes}}}\n"
	service := "apiVersion: v1\nkind: Service\nmetadata: {name: gw, labels: {component: mesh-gateway}}\nspec: {ports: [{port: 8443}]}\n"
	deployment := func(replicas string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: gw, labels: {component: mesh-gateway}}\nspec: {" + replicas + "selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}\n"
	}
	for name, tc := range map[string]struct {
		gateway string
		want    int
	}{
		"service only":            {service, exitDenied},
		"deployment at zero":      {deployment("replicas: 0, "), exitDenied},
		"deployment, default one": {deployment(""), exitAllowed},
		"deployment with two":     {deployment("replicas: 2, "), exitAllowed},
	} {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "cluster.yaml", export+"---\n"+tc.gateway)
			code, rep := validateJSON(t, "-f", p)
			if code != tc.want {
				t.Errorf("exit %d, want %d: %+v", code, tc.want, rep)
			}
		})
	}
}

// Rendered manifests can be piped in: helm template ... | consul-peering-guard validate -f -
func TestValidateReadsStdin(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(examples, "mistakes", "gateway-mode-typo", "20-proxy-defaults.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	root := NewRootCommand(&bytes.Buffer{}, &bytes.Buffer{}, Build{})
	var stdout bytes.Buffer
	root.SetOut(&stdout)
	root.SetIn(bytes.NewReader(raw))
	root.SetArgs([]string{"validate", "-o", "json", "-f", "-"})
	err = root.Execute()
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitDenied {
		t.Fatalf("want exit 1, got %v", err)
	}
	if !strings.Contains(stdout.String(), `"file": "<stdin>"`) || !strings.Contains(stdout.String(), `"rule": "gateway-mode-valid"`) {
		t.Fatalf("output: %s", stdout.String())
	}
}

// A repository of config entries whose mesh gateway the Consul Helm chart installs:
// --mesh-gateway-installed counts it, so the export is allowed.
func TestValidateMeshGatewayInstalled(t *testing.T) {
	dir := filepath.Join(examples, "mistakes", "export-without-gateway")
	if code, _ := validateJSON(t, "-f", dir); code != exitDenied {
		t.Fatalf("without the flag: exit %d, want %d", code, exitDenied)
	}
	code, rep := validateJSON(t, "--mesh-gateway-installed", "-f", dir)
	if code != exitAllowed {
		t.Fatalf("with --mesh-gateway-installed: exit %d, want 0", code)
	}
	for f := range findings(rep) {
		if f.rule == "export-needs-mesh-gateway" {
			t.Errorf("still reported: %v", f)
		}
	}
}
