package app

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
)

const (
	consulHead   = "apiVersion: consul.hashicorp.com/v1alpha1\n"
	peerAcceptor = consulHead + "kind: PeeringAcceptor\nmetadata: {name: dc2}\nspec: {peer: {secret: {name: t, key: k, backend: kubernetes}}}\n"
	gateway      = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: gw, labels: {component: mesh-gateway}}\n" +
		"spec: {replicas: 1, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}}\n"
)

func frontend(override string) string {
	return consulHead + "kind: ServiceDefaults\nmetadata: {name: frontend}\nspec:\n  upstreamConfig:\n    overrides:\n      - " + override + "\n"
}

// Every unknown or mis-cased field is an unknown-field finding at its path: a warning, or a
// denial with --strict; all of them are reported, and the rest of the rules still run.
func TestUnknownFieldFindings(t *testing.T) {
	cases := map[string]struct {
		manifests string
		strict    bool
		want      map[finding]bool
		wantCode  int
	}{
		"mis-cased Peer is a warning": {
			manifests: peerAcceptor + "---\n" + frontend("{name: api, Peer: dc2}"),
			want:      map[finding]bool{{"unknown-field", "spec.upstreamConfig.overrides[0].Peer", "warn"}: true},
			wantCode:  exitAllowed,
		},
		"mis-cased Peer with --strict is a denial": {
			manifests: peerAcceptor + "---\n" + frontend("{name: api, Peer: dc2}"),
			strict:    true,
			want:      map[finding]bool{{"unknown-field", "spec.upstreamConfig.overrides[0].Peer", "deny"}: true},
			wantCode:  exitDenied,
		},
		"several unknown fields in several objects, all reported": {
			manifests: peerAcceptor + "---\n" + frontend("{name: api, peer: dc2, MeshGateway: {mode: remote}, timeout: 5s}") + "---\n" +
				consulHead + "kind: Mesh\nmetadata: {name: mesh}\nspec:\n  peering: {PeerThroughMeshGateways: true}\n",
			want: map[finding]bool{
				{"unknown-field", "spec.upstreamConfig.overrides[0].MeshGateway", "warn"}: true,
				{"unknown-field", "spec.upstreamConfig.overrides[0].timeout", "warn"}:     true,
				{"unknown-field", "spec.peering.PeerThroughMeshGateways", "warn"}:         true,
			},
			wantCode: exitAllowed,
		},
		// Read case-insensitively, MeshGateway: {mode: none} would be a peer upstream in mode
		// none; the API server stores no mode, so only the unknown field is reported.
		"the mis-cased field is not judged as if spelled right": {
			manifests: peerAcceptor + "---\n" + frontend("{name: api, peer: dc2, MeshGateway: {mode: none}}"),
			want:      map[finding]bool{{"unknown-field", "spec.upstreamConfig.overrides[0].MeshGateway", "warn"}: true},
			wantCode:  exitAllowed,
		},
		"other rules still run beside it": {
			manifests: peerAcceptor + "---\n" + frontend("{name: api, peer: dc2, meshGateway: {mode: none}, Namespace: ns}"),
			strict:    true,
			want: map[finding]bool{
				{"unknown-field", "spec.upstreamConfig.overrides[0].Namespace", "deny"}:                          true,
				{"gateway-mode-none-peer-upstream", "spec.upstreamConfig.overrides[0].meshGateway.mode", "deny"}: true,
			},
			wantCode: exitDenied,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, t.TempDir(), "manifests.yaml", tc.manifests)
			args := []string{"-f", p}
			if tc.strict {
				args = append(args, "--strict")
			}
			code, rep := validateJSON(t, args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			if got := findings(rep); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("findings\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// The hint names the field a key differs from only in case, in JSON and in text.
func TestUnknownFieldHint(t *testing.T) {
	p := writeFile(t, t.TempDir(), "sd.yaml", frontend("{name: api, Peer: dc2}"))
	_, rep := validateJSON(t, "-f", p)
	if len(rep.Results) != 1 || len(rep.Results[0].Violations) == 0 {
		t.Fatalf("no finding: %+v", rep)
	}
	v := rep.Results[0].Violations[0]
	if v.Rule != "unknown-field" || !strings.Contains(v.Message, "did you mean `peer`?") {
		t.Errorf("finding without the hint: %+v", v)
	}
	code, out, _ := runCLI(t, "validate", "-f", p)
	if code != exitAllowed || !strings.Contains(out, "  WARN spec.upstreamConfig.overrides[0].Peer: ") || !strings.Contains(out, "did you mean `peer`?") {
		t.Errorf("exit %d, text output:\n%s", code, out)
	}
}

// A GitOps repository: Consul objects beside a kustomization without apiVersion/kind, Helm
// values, a chart's Chart.yaml and template, a CI workflow and a package.json. The exit code
// comes from the Consul objects alone, and everything skipped is listed.
func TestRepositoryTree(t *testing.T) {
	others := map[string]string{
		"clusters/prod/kustomization.yaml":   "resources:\n  - ../../consul\n",
		"charts/app/Chart.yaml":              "apiVersion: v2\nname: app\nversion: 0.1.0\n",
		"charts/app/values.yaml":             "replicaCount: 2\npeer: dc9\n",
		"charts/app/templates/upstream.yaml": frontend("{name: api, peer: \"{{ .Values.peer }}\", meshGateway: {mode: none}}"),
		".github/workflows/ci.yaml":          "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make test IMAGE=${{ github.sha }}\n",
		"package.json":                       `{"name": "site", "private": true, "scripts": {"build": "vite build"}}`,
		"consul/config-map.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unrelated}\ndata: {a: b}\n",
	}
	wantSkipped := []printer.Skip{
		{File: ".github/workflows/ci.yaml", Document: 1},
		{File: "charts/app/Chart.yaml", Document: 1},
		{File: "charts/app/templates/upstream.yaml"},
		{File: "charts/app/values.yaml", Document: 1},
		{File: "clusters/prod/kustomization.yaml", Document: 1},
		{File: "package.json", Document: 1},
	}
	cases := map[string]struct {
		consul   string
		wantCode int
		want     map[finding]bool
	}{
		"valid Consul objects: exit 0": {
			consul:   gateway + "---\n" + peerAcceptor + "---\n" + frontend("{name: api, peer: dc2, meshGateway: {mode: remote}}"),
			wantCode: exitAllowed,
			want:     map[finding]bool{},
		},
		"a denied Consul object: exit 1": {
			consul:   gateway + "---\n" + peerAcceptor + "---\n" + frontend("{name: api, peer: dc2, meshGateway: {mode: none}}"),
			wantCode: exitDenied,
			want:     map[finding]bool{{"gateway-mode-none-peer-upstream", "spec.upstreamConfig.overrides[0].meshGateway.mode", "deny"}: true},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			for rel, content := range others {
				mkdirWrite(t, root, rel, content)
			}
			mkdirWrite(t, root, "consul/objects.yaml", tc.consul)
			code, rep := validateJSON(t, "-f", root)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			if got := findings(rep); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("findings\n got %v\nwant %v", got, tc.want)
			}
			if len(rep.Results) != 2 {
				t.Errorf("want the acceptor and the ServiceDefaults validated, got %+v", rep.Results)
			}
			var skipped []printer.Skip
			for _, s := range rep.Skipped {
				rel, _ := filepath.Rel(root, s.File)
				if s.Reason == "" {
					t.Errorf("%s skipped without a reason", rel)
				}
				if rel == "charts/app/templates/upstream.yaml" && !strings.Contains(s.Reason, "helm template") {
					t.Errorf("the Helm template's reason does not point to helm template: %q", s.Reason)
				}
				skipped = append(skipped, printer.Skip{File: filepath.ToSlash(rel), Document: s.Document})
			}
			if !reflect.DeepEqual(skipped, wantSkipped) {
				t.Errorf("skipped\n got %v\nwant %v", skipped, wantSkipped)
			}
			// The text output lists each skipped file on one line.
			_, out, _ := runCLI(t, "validate", "-f", root)
			if n := strings.Count(out, "\nskipped "); n != len(wantSkipped) {
				t.Errorf("%d skipped lines in the text output, want %d:\n%s", n, len(wantSkipped), out)
			}
		})
	}
}

func mkdirWrite(t *testing.T, root, rel, content string) {
	t.Helper()
	dir := filepath.Join(root, filepath.Dir(rel))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, filepath.Base(rel), content)
}

// Exit 2 stays for what is not YAML or JSON at all and for a Consul object of the wrong shape.
func TestUnreadableInputStillExitsTwo(t *testing.T) {
	for name, content := range map[string]string{
		"not YAML, no template":    "apiVersion: v1\nkind: [unclosed\n",
		"Consul object wrong type": frontend("{name: api, peer: [dc2]}"),
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			mkdirWrite(t, root, "values.yaml", "replicaCount: 1\n")
			p := writeFile(t, root, "bad.yaml", content)
			code, _, stderr := runCLI(t, "validate", "-f", root)
			if code != exitUsage || !strings.Contains(stderr, p+" (document 1)") {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}

// -k renders a kustomization (an overlay with its base, patches applied) and validates it.
func TestValidateKustomization(t *testing.T) {
	dir := filepath.Join("testdata", "kustomize", "overlays")
	type object struct{ kind, namespace, name string }
	valid := []object{
		{"PeeringAcceptor", "consul", "dc2"},
		{"ExportedServices", "consul", "default"},
		{"ServiceDefaults", "consul", "frontend"},
	}
	cases := map[string]struct {
		overlay  string
		wantCode int
		want     map[finding]bool
	}{
		"overlay with a base": {overlay: "prod", wantCode: exitAllowed, want: map[finding]bool{}},
		"overlay of an overlay, patched to mode none": {overlay: "mode-none", wantCode: exitDenied,
			want: map[finding]bool{{"gateway-mode-none-peer-upstream", "spec.upstreamConfig.overrides[0].meshGateway.mode", "deny"}: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, tc.overlay)
			code, rep := validateJSON(t, "-k", path)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			if got := findings(rep); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("findings\n got %v\nwant %v", got, tc.want)
			}
			var got []object
			for _, r := range rep.Results {
				got = append(got, object{r.Kind, r.Namespace, r.Name})
				if r.File != manifest.KustomizeSource(path) {
					t.Errorf("result file %q", r.File)
				}
			}
			if !reflect.DeepEqual(got, valid) {
				t.Errorf("objects\n got %v\nwant %v", got, valid)
			}
		})
	}
}

func TestKustomizationThatDoesNotBuildExitsTwo(t *testing.T) {
	path := filepath.Join("testdata", "kustomize", "overlays", "broken")
	code, _, stderr := runCLI(t, "validate", "-k", path)
	if code != exitUsage || !strings.Contains(stderr, manifest.KustomizeSource(path)) || !strings.Contains(stderr, "does-not-exist.yaml") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
