package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

var testOptions = Options{GatewaySelector: labels.SelectorFromSet(labels.Set{"component": "mesh-gateway"})}

func read(t *testing.T, name, content string) (Set, error) {
	t.Helper()
	var set Set
	err := newInput(testOptions).read(strings.NewReader(content), name, &set)
	return set, err
}

const serviceDefaultsHead = "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceDefaults\nmetadata:\n  name: web\n"

// Keys match case-sensitively, as in the API server; every key the kind does not define is
// returned with its path, and a key that differs from a defined one only in case names it.
func TestUnknownFields(t *testing.T) {
	cases := map[string]struct {
		doc  string
		want []UnknownField
	}{
		"all fields known": {
			doc: serviceDefaultsHead + "spec:\n  upstreamConfig:\n    overrides:\n      - {name: api, peer: dc2, meshGateway: {mode: remote}}\n",
		},
		"Peer mis-cased in an override": {
			doc:  serviceDefaultsHead + "spec:\n  upstreamConfig:\n    overrides:\n      - {name: api, Peer: dc2}\n",
			want: []UnknownField{{Path: "spec.upstreamConfig.overrides[0].Peer", Suggestion: "peer"}},
		},
		"MeshGateway mis-cased: reported once, not its content": {
			doc:  "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ProxyDefaults\nmetadata: {name: global}\nspec:\n  MeshGateway: {Mode: none}\n",
			want: []UnknownField{{Path: "spec.MeshGateway", Suggestion: "meshGateway"}},
		},
		"a misspelling has no case suggestion": {
			doc:  "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ProxyDefaults\nmetadata: {name: global}\nspec:\n  meshGatway: {mode: local}\n",
			want: []UnknownField{{Path: "spec.meshGatway"}},
		},
		"several, in metadata, spec and lists, all reported": {
			doc: "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ExportedServices\nmetadata: {Name: default, name: default}\nspec:\n  services:\n" +
				"    - name: api\n      consumers: [{peer: dc2}, {Peer: dc3, samenesGroup: sg}]\n    - Name: db\n      consumers: [{peer: dc2}]\n  extra: 1\n",
			// in the order of the JSON the YAML becomes: keys sorted
			want: []UnknownField{
				{Path: "metadata.Name", Suggestion: "name"},
				{Path: "spec.extra"},
				{Path: "spec.services[0].consumers[1].Peer", Suggestion: "peer"},
				{Path: "spec.services[0].consumers[1].samenesGroup"},
				{Path: "spec.services[1].Name", Suggestion: "name"},
			},
		},
		"top-level Spec": {
			doc:  "apiVersion: consul.hashicorp.com/v1alpha1\nkind: Mesh\nmetadata: {name: mesh}\nSpec: {}\n",
			want: []UnknownField{{Path: "Spec", Suggestion: "spec"}},
		},
		"free-form proxy config is not checked here": {
			doc: "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ProxyDefaults\nmetadata: {name: global}\nspec:\n  config: {Protocol: http, envoy_bootstrap_json_tpl: '{{ .AgentAddress }}'}\n",
		},
		"status fields are known": {
			doc: "apiVersion: consul.hashicorp.com/v1alpha1\nkind: PeeringDialer\nmetadata: {name: dc2}\nspec: {peer: {secret: {name: t, key: k, backend: kubernetes}}}\nstatus: {latestPeeringVersion: 2}\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			set, err := read(t, "objects.yaml", tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Objects) != 1 {
				t.Fatalf("want one object, got %+v (skipped %+v)", set.Objects, set.Skipped)
			}
			if got := set.Objects[0].UnknownFields; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("unknown fields\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// A mis-cased key is no field: the object is judged as the API server would store it.
func TestMisCasedKeyDoesNotSetTheField(t *testing.T) {
	set, err := read(t, "sd.yaml", serviceDefaultsHead+"spec:\n  upstreamConfig:\n    overrides:\n      - {name: api, Peer: dc2, MeshGateway: {mode: none}}\n")
	if err != nil {
		t.Fatal(err)
	}
	got := set.Objects[0].Object.(*v1alpha1.ServiceDefaults).Spec.UpstreamConfig.Overrides[0]
	if want := (v1alpha1.Upstream{Name: "api"}); !reflect.DeepEqual(*got, want) {
		t.Errorf("override decoded as %+v, want %+v", *got, want)
	}
}

// Documents that are not Kubernetes objects are skipped and listed, never an error; Kubernetes
// objects of other kinds are ignored without a word.
func TestSkipsWhatIsNotAnObject(t *testing.T) {
	mesh := "apiVersion: consul.hashicorp.com/v1alpha1\nkind: Mesh\nmetadata: {name: mesh}\n"
	cases := map[string]struct {
		file, content string
		objects       int
		skipped       []Source
		reasonHas     string
	}{
		"kustomization without apiVersion and kind": {file: "deploy/kustomization.yaml",
			content: "resources:\n  - mesh.yaml\n", skipped: []Source{{"deploy/kustomization.yaml", 1}}, reasonHas: "-k deploy"},
		"Kustomization with apiVersion and kind": {file: "deploy/kustomization.yaml",
			content: "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [mesh.yaml]\n", skipped: []Source{{"deploy/kustomization.yaml", 1}}, reasonHas: "-k deploy"},
		"Helm values": {file: "chart/values.yaml",
			content: "replicaCount: 2\nimage: {repository: nginx, tag: latest}\nmetadata: just a string\n", skipped: []Source{{"chart/values.yaml", 1}}},
		"Chart.yaml has an apiVersion but no kind": {file: "chart/Chart.yaml",
			content: "apiVersion: v2\nname: app\nversion: 0.1.0\n", skipped: []Source{{"chart/Chart.yaml", 1}}},
		"GitHub workflow": {file: ".github/workflows/ci.yaml",
			content: "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.sha }}\n", skipped: []Source{{".github/workflows/ci.yaml", 1}}},
		"package.json": {file: "package.json",
			content: `{"name": "app", "version": "1.0.0", "scripts": {"test": "jest"}}`, skipped: []Source{{"package.json", 1}}},
		"a list document": {file: "playbook.yaml",
			content: "- hosts: all\n  tasks: []\n", skipped: []Source{{"playbook.yaml", 1}}},
		"mis-cased kind": {file: "mesh.yaml",
			content: "apiVersion: consul.hashicorp.com/v1alpha1\nKind: Mesh\nmetadata: {name: mesh}\n", skipped: []Source{{"mesh.yaml", 1}}, reasonHas: `"Kind" is not "kind"`},
		"Helm template that parses as YAML": {file: "chart/templates/sd.yaml",
			content: "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ServiceDefaults\nmetadata:\n  name: {{ .Values.name | quote }}\n", skipped: []Source{{"chart/templates/sd.yaml", 0}}, reasonHas: "helm template"},
		"Helm template with a quoted action": {file: "sd.yaml",
			content: mesh + "---\n" + serviceDefaultsHead + "spec:\n  upstreamConfig:\n    overrides:\n      - {name: api, peer: \"{{ .Values.peer }}\"}\n",
			skipped: []Source{{"sd.yaml", 0}}, reasonHas: "helm template"},
		"Helm control structure": {file: "t.yaml",
			content: "{{- if .Values.enabled }}\n" + mesh + "{{- end }}\n", skipped: []Source{{"t.yaml", 0}}, reasonHas: "helm template"},
		"another template language, not YAML": {file: "j2.yaml",
			content: "apiVersion: v1\nkind: ConfigMap\ndata: {{ settings }}\n", skipped: []Source{{"j2.yaml", 0}}, reasonHas: "helm template"},
		"an escape hatch template string is data, not Helm": {file: "pd.yaml",
			content: "apiVersion: consul.hashicorp.com/v1alpha1\nkind: ProxyDefaults\nmetadata: {name: global}\nspec:\n  config:\n    envoy_bootstrap_json_tpl: '{\"admin\": {\"address\": \"{{ .AdminBindAddress }}\"}}'\n",
			objects: 1},
		"objects and a non-object in one file": {file: "mixed.yaml",
			content: mesh + "---\nfoo: bar\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
			objects: 1, skipped: []Source{{"mixed.yaml", 2}}},
		"a List item that is not an object": {file: "list.yaml",
			content: "apiVersion: v1\nkind: List\nitems:\n  - " + strings.ReplaceAll(strings.TrimSpace(mesh), "\n", "\n    ") + "\n  - {foo: bar}\n",
			objects: 1, skipped: []Source{{"list.yaml", 1}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			set, err := read(t, tc.file, tc.content)
			if err != nil {
				t.Fatalf("error instead of a skip: %v", err)
			}
			if len(set.Objects) != tc.objects {
				t.Errorf("%d objects, want %d", len(set.Objects), tc.objects)
			}
			var got []Source
			for _, s := range set.Skipped {
				got = append(got, s.Source)
				if s.Reason == "" {
					t.Errorf("skipped %s without a reason", s.Source)
				}
				if !strings.Contains(s.Reason, tc.reasonHas) {
					t.Errorf("reason %q does not point to %q", s.Reason, tc.reasonHas)
				}
			}
			if !reflect.DeepEqual(got, tc.skipped) {
				t.Errorf("skipped %v, want %v", got, tc.skipped)
			}
		})
	}
}

// What cannot be read as YAML or JSON at all, and a Consul object of the wrong shape, are
// errors naming the file and the document.
func TestErrorsNameFileAndDocument(t *testing.T) {
	cases := map[string]struct {
		content string
		want    Source
	}{
		"broken YAML in document 2": {"apiVersion: v1\nkind: ConfigMap\n---\nkind: [unclosed\n", Source{"bad.yaml", 2}},
		"broken JSON":               {`{"apiVersion": "v1",`, Source{"bad.yaml", 1}},
		"Consul kind with a number for a string": {"apiVersion: consul.hashicorp.com/v1alpha1\nkind: ProxyDefaults\nmetadata: {name: global}\nspec:\n  meshGateway: {mode: 3}\n",
			Source{"bad.yaml", 1}},
		"Consul kind with an object for a list": {serviceDefaultsHead + "spec:\n  upstreamConfig:\n    overrides: {}\n", Source{"bad.yaml", 1}},
		"a List whose items are not a list":     {"apiVersion: v1\nkind: List\nitems: {a: b}\n", Source{"bad.yaml", 1}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := read(t, "bad.yaml", tc.content)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *Error, got %v", err)
			}
			if e.Source != tc.want {
				t.Errorf("error at %v, want %v: %v", e.Source, tc.want, err)
			}
		})
	}
}

// -k renders an overlay with its base (namespace, patches) as kubectl apply -k does.
func TestReadKustomization(t *testing.T) {
	var set Set
	if err := newInput(testOptions).readKustomization(filepath.Join("testdata", "kustomize", "overlays", "prod"), &set); err != nil {
		t.Fatal(err)
	}
	type got struct {
		Kind            kinds.Kind
		Namespace, Name string
	}
	var objects []got
	for _, o := range set.Objects {
		ref, _ := kinds.RefOf(o.Object)
		objects = append(objects, got{o.Kind, ref.Namespace, ref.Name})
		if o.Source.File != KustomizeSource(filepath.Join("testdata", "kustomize", "overlays", "prod")) || o.Source.Document < 1 {
			t.Errorf("source %v", o.Source)
		}
	}
	want := []got{
		{kinds.ExportedServices, "consul", "default"},
		{kinds.PeeringAcceptor, "consul", "dc2"},
		{kinds.ServiceDefaults, "consul", "frontend"},
	}
	if !reflect.DeepEqual(objects, want) {
		t.Errorf("objects\n got %+v\nwant %+v", objects, want)
	}
	for _, o := range set.Objects {
		if es, ok := o.Object.(*v1alpha1.ExportedServices); ok && len(es.Spec.Services) != 2 {
			t.Errorf("the overlay's patch was not applied: %+v", es.Spec.Services)
		}
	}
}

func TestReadKustomizationThatDoesNotBuild(t *testing.T) {
	dir := filepath.Join("testdata", "kustomize", "overlays", "broken")
	var set Set
	err := newInput(testOptions).readKustomization(dir, &set)
	var e *Error
	if !errors.As(err, &e) || e.Source.File != KustomizeSource(dir) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("want an error naming the kustomization and kustomize's reason, got %v", err)
	}
	if err := newInput(testOptions).readKustomization(filepath.Join("testdata", "no-such-dir"), &set); err == nil {
		t.Fatal("a missing folder built")
	}
}

// A repository walk reads the repository's own manifests, not those of its dependencies or
// version control.
func TestFilesSkipsToolFolders(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{
		"clusters/a/exported.yaml", ".github/workflows/ci.yml", "package.json",
		"node_modules/some-lib/package.json", "vendor/x/crd.yaml", ".git/config.json", "deeper/node_modules/y.yaml",
	} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, skipped, err := Files([]string{dir})
	if err != nil || len(skipped) > 0 {
		t.Fatal(err, skipped)
	}
	want := []string{
		filepath.Join(dir, ".github/workflows/ci.yml"), filepath.Join(dir, "clusters/a/exported.yaml"), filepath.Join(dir, "package.json"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Files = %v, want %v", got, want)
	}
}
