package printer_test

import (
	"bytes"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func sample() *printer.Report {
	var r printer.Report
	r.Add(kinds.ObjectRef{Kind: kinds.ProxyDefaults, Namespace: "consul", Name: "global"}, "pd.yaml",
		&validators.Result{Violations: []validators.Violation{{Rule: "gateway-mode-valid", Action: validators.Deny,
			Error: field.NotSupported(field.NewPath("spec", "meshGateway", "mode"), "remotee", []string{"local", "remote", "none"})}}})
	r.Add(kinds.ObjectRef{Kind: kinds.ServiceDefaults, Namespace: "default", Name: "web"}, "",
		&validators.Result{Violations: []validators.Violation{{Rule: "upstream-peer-known", Action: validators.Warn,
			Error: field.NotFound(field.NewPath("spec", "upstreamConfig", "overrides").Index(0).Child("peer"), "dc9")}}})
	r.Add(kinds.ObjectRef{Kind: kinds.Mesh, Namespace: "consul", Name: "mesh"}, "mesh.yaml", &validators.Result{})
	r.AddSkipped("values.yaml", 1, "not a Kubernetes object: no apiVersion, no kind")
	r.AddSkipped("tpl.yaml", 0, "Helm template")
	return &r
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := sample().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `ProxyDefaults consul/global (pd.yaml): denied
  DENY spec.meshGateway.mode: Unsupported value: "remotee": supported values: "local", "remote", "none"
ServiceDefaults default/web: allowed with warnings
  WARN spec.upstreamConfig.overrides[0].peer: Not found: "dc9"
Mesh consul/mesh (mesh.yaml): allowed
skipped values.yaml (document 1): not a Kubernetes object: no apiVersion, no kind
skipped tpl.yaml: Helm template
3 objects: 1 denied, 1 allowed with warnings, 2 skipped
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sample().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	want := `{
  "results": [
    {
      "kind": "ProxyDefaults",
      "namespace": "consul",
      "name": "global",
      "file": "pd.yaml",
      "allowed": false,
      "violations": [
        {
          "rule": "gateway-mode-valid",
          "action": "deny",
          "field": "spec.meshGateway.mode",
          "message": "Unsupported value: \"remotee\": supported values: \"local\", \"remote\", \"none\""
        }
      ]
    },
    {
      "kind": "ServiceDefaults",
      "namespace": "default",
      "name": "web",
      "file": "",
      "allowed": true,
      "violations": [
        {
          "rule": "upstream-peer-known",
          "action": "warn",
          "field": "spec.upstreamConfig.overrides[0].peer",
          "message": "Not found: \"dc9\""
        }
      ]
    },
    {
      "kind": "Mesh",
      "namespace": "consul",
      "name": "mesh",
      "file": "mesh.yaml",
      "allowed": true,
      "violations": []
    }
  ],
  "skipped": [
    {
      "file": "values.yaml",
      "document": 1,
      "reason": "not a Kubernetes object: no apiVersion, no kind"
    },
    {
      "file": "tpl.yaml",
      "reason": "Helm template"
    }
  ]
}
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestEmptyReport(t *testing.T) {
	var r printer.Report
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != "{\n  \"results\": [],\n  \"skipped\": []\n}\n" {
		t.Errorf("empty report: %q", b.String())
	}
	if r.Denied() {
		t.Error("an empty report is not denied")
	}
	if !sample().Denied() {
		t.Error("a report with a denial is denied")
	}
}

// A finding about a peering joins the verdict on its object, and a denial flips it.
func TestAddPair(t *testing.T) {
	var rep printer.Report
	ref := kinds.ObjectRef{Kind: kinds.ServiceDefaults, Namespace: "default", Name: "frontend"}
	rep.AddIn("cluster-02", ref, "sd.yaml", &validators.Result{Kind: ref.Kind})
	rep.AddPair(validators.PairViolation{
		Violation: validators.Violation{Rule: "import-not-exported", Action: validators.Deny,
			Error: field.Invalid(field.NewPath("spec", "upstreamConfig", "overrides").Index(0).Child("peer"), "cluster-01", "not exported (import-not-exported)")},
		Cluster: "cluster-02", Peer: "cluster-01", Object: ref}, "sd.yaml")
	rep.AddPair(validators.PairViolation{
		Violation: validators.Violation{Rule: "export-unused", Action: validators.Warn,
			Error: field.Invalid(field.NewPath("spec", "services").Index(0).Child("consumers").Index(0).Child("peer"), "cluster-02", "unused (export-unused)")},
		Cluster: "cluster-01", Peer: "cluster-02", Object: kinds.ObjectRef{Kind: kinds.ExportedServices, Namespace: "consul", Name: "default"}}, "")
	if len(rep.Results) != 2 {
		t.Fatalf("results %+v, want 2", rep.Results)
	}
	sd, es := rep.Results[0], rep.Results[1]
	if sd.Cluster != "cluster-02" || sd.Allowed || len(sd.Violations) != 1 || sd.Violations[0].PeerCluster != "cluster-01" ||
		sd.Violations[0].Field != "spec.upstreamConfig.overrides[0].peer" || sd.Violations[0].Rule != "import-not-exported" {
		t.Errorf("ServiceDefaults result %+v", sd)
	}
	if es.Cluster != "cluster-01" || !es.Allowed || es.Kind != "ExportedServices" || len(es.Violations) != 1 || es.Violations[0].Action != "warn" {
		t.Errorf("ExportedServices result %+v", es)
	}
	if !rep.Denied() {
		t.Error("a denied pair finding does not deny the report")
	}
}

// A file or object name holding a newline or a terminal escape is printed quoted, so it can
// neither start a line of its own nor colour the log; printable names are printed as they are.
func TestWriteTextEscapesNames(t *testing.T) {
	var r printer.Report
	forged := "a.yaml\nProxyDefaults consul/global (pd.yaml): allowed"
	r.Add(kinds.ObjectRef{Kind: kinds.Mesh, Namespace: "consul", Name: "mesh\x1b[32m"}, forged, &validators.Result{})
	r.AddSkipped("\x1b[2Kvalues.yaml", 1, "not a Kubernetes object")
	r.AddSkipped("ünïcode.yaml", 0, "Helm template")
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `Mesh consul/"mesh\x1b[32m" ("a.yaml\nProxyDefaults consul/global (pd.yaml): allowed"): allowed
skipped "\x1b[2Kvalues.yaml" (document 1): not a Kubernetes object
skipped ünïcode.yaml: Helm template
1 object: 0 denied, 0 allowed with warnings, 2 skipped
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 objects", 1: "1 object", 2: "2 objects"} {
		if got := printer.Count(n, "object"); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}
