package openreports

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func finding(kind kinds.Kind, obj runtime.Object, violations ...validators.Violation) snapshot.Finding {
	ref, _ := kinds.RefOf(obj)
	if ref.Kind == "" {
		ref.Kind = kind
	}
	return snapshot.Finding{Item: snapshot.Item{Object: obj}, Ref: ref, Result: validators.Result{Violations: violations}}
}

func violation(rule string, action validators.Action, path, value, detail string) validators.Violation {
	return validators.Violation{Rule: rule, Action: action, Error: field.Invalid(field.NewPath(path), value, detail)}
}

func proxyDefaults(ns, name, uid string) *v1alpha1.ProxyDefaults {
	return &v1alpha1.ProxyDefaults{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}}
}

func serviceDefaults(ns, name, uid string) *v1alpha1.ServiceDefaults {
	return &v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}}
}

func subject(kind, ns, name, uid string) []corev1.ObjectReference {
	return []corev1.ObjectReference{{APIVersion: "consul.hashicorp.com/v1alpha1", Kind: kind, Namespace: ns, Name: name, UID: types.UID(uid)}}
}

func TestDesired(t *testing.T) {
	nameErr := violation("proxy-defaults-name", validators.Deny, "metadata.name", "edge", "ProxyDefaults must be named global")
	findings := []snapshot.Finding{
		finding(kinds.ProxyDefaults, proxyDefaults("team-a", "edge", "u1"), nameErr),
		// Two overrides break one rule: one result, both fields; a deny and a warn of one
		// rule make it fail.
		finding(kinds.ServiceDefaults, serviceDefaults("team-a", "web", "u2"),
			violation("upstream-peer-known", validators.Warn, "spec.upstreamConfig.overrides[0].peer", "dc9", "no PeeringAcceptor or PeeringDialer named dc9"),
			violation("upstream-peer-known", validators.Warn, "spec.upstreamConfig.overrides[1].peer", "dc8", "no PeeringAcceptor or PeeringDialer named dc8"),
			violation("gateway-mode-valid", validators.Deny, "spec.meshGateway.mode", "remotee", "must be empty, local, remote or none"),
			violation("gateway-mode-valid", validators.Warn, "spec.upstreamConfig.overrides[0].meshGateway.mode", "remotee", "must be empty, local, remote or none"),
		),
		finding(kinds.ServiceDefaults, serviceDefaults("team-b", "api", "u3"),
			violation("upstream-peer-known", validators.Warn, "spec.upstreamConfig.overrides[0].peer", "dc9", "no PeeringAcceptor or PeeringDialer named dc9")),
		// A clean object and an exempt namespace make no Report.
		finding(kinds.ServiceDefaults, serviceDefaults("team-c", "clean", "u4")),
		finding(kinds.ProxyDefaults, proxyDefaults("break-glass", "edge", "u5"), nameErr),
	}
	got := Desired(findings, []string{"break-glass"})

	report := func(ns string, summary openreports.ReportSummary, results ...openreports.ReportResult) *openreports.Report {
		r := newReport(ns)
		r.Summary, r.Results = summary, results
		return r
	}
	want := map[string]*openreports.Report{
		"team-a": report("team-a", openreports.ReportSummary{Fail: 2, Warn: 1},
			openreports.ReportResult{Source: Source, Policy: "proxy-defaults-name", Result: "fail",
				Description: `metadata.name: Invalid value: "edge": ProxyDefaults must be named global`,
				Subjects:    subject("ProxyDefaults", "team-a", "edge", "u1"), Properties: map[string]string{"field": "metadata.name"}},
			openreports.ReportResult{Source: Source, Policy: "gateway-mode-valid", Result: "fail",
				Description: `spec.meshGateway.mode: Invalid value: "remotee": must be empty, local, remote or none; ` +
					`spec.upstreamConfig.overrides[0].meshGateway.mode: Invalid value: "remotee": must be empty, local, remote or none`,
				Subjects:   subject("ServiceDefaults", "team-a", "web", "u2"),
				Properties: map[string]string{"field": "spec.meshGateway.mode, spec.upstreamConfig.overrides[0].meshGateway.mode"}},
			openreports.ReportResult{Source: Source, Policy: "upstream-peer-known", Result: "warn",
				Description: `spec.upstreamConfig.overrides[0].peer: Invalid value: "dc9": no PeeringAcceptor or PeeringDialer named dc9; ` +
					`spec.upstreamConfig.overrides[1].peer: Invalid value: "dc8": no PeeringAcceptor or PeeringDialer named dc8`,
				Subjects:   subject("ServiceDefaults", "team-a", "web", "u2"),
				Properties: map[string]string{"field": "spec.upstreamConfig.overrides[0].peer, spec.upstreamConfig.overrides[1].peer"}},
		),
		"team-b": report("team-b", openreports.ReportSummary{Warn: 1},
			openreports.ReportResult{Source: Source, Policy: "upstream-peer-known", Result: "warn",
				Description: `spec.upstreamConfig.overrides[0].peer: Invalid value: "dc9": no PeeringAcceptor or PeeringDialer named dc9`,
				Subjects:    subject("ServiceDefaults", "team-b", "api", "u3"),
				Properties:  map[string]string{"field": "spec.upstreamConfig.overrides[0].peer"}}),
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("reports differ (-want +got):\n%s", diff.Diff(want, got))
	}
}

func newFakeClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	if err := openreports.Install(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
}

func getReport(t *testing.T, c client.Client, ns string) *openreports.Report {
	t.Helper()
	var r openreports.Report
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: Name}, &r); err != nil {
		t.Fatalf("Report %s: %v", ns, err)
	}
	return &r
}

// Sync writes only what changed: a result that still holds keeps the time it was first seen,
// a namespace that became clean loses its Report, and Reports that are not ours stay.
func TestSync(t *testing.T) {
	ctx := context.Background()
	theirs := &openreports.Report{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "kyverno-report", Labels: map[string]string{ManagedByLabel: "kyverno"}}, Source: "kyverno"}
	c := newFakeClient(t, theirs)
	clock := time.Unix(1_000, 0)
	w := &Writer{Reader: c, Client: c, Now: func() time.Time { return clock }}

	edge := finding(kinds.ProxyDefaults, proxyDefaults("team-a", "edge", "u1"),
		violation("proxy-defaults-name", validators.Deny, "metadata.name", "edge", "ProxyDefaults must be named global"))
	api := finding(kinds.ServiceDefaults, serviceDefaults("team-b", "api", "u3"),
		violation("upstream-peer-known", validators.Warn, "spec.upstreamConfig.overrides[0].peer", "dc9", "unknown peer"))
	web := finding(kinds.ServiceDefaults, serviceDefaults("team-a", "web", "u2"),
		violation("upstream-peer-known", validators.Warn, "spec.upstreamConfig.overrides[0].peer", "dc9", "unknown peer"))

	stats, err := w.Sync(ctx, Desired([]snapshot.Finding{edge, api}, nil))
	if err != nil || stats != (Stats{Created: 2}) {
		t.Fatalf("first sync: %+v, %v; want 2 created", stats, err)
	}
	if got := getReport(t, c, "team-a").Results[0].Timestamp; got.Seconds != 1_000 {
		t.Errorf("new result stamped %v, want 1000", got)
	}

	clock = time.Unix(2_000, 0)
	stats, err = w.Sync(ctx, Desired([]snapshot.Finding{edge, api}, nil))
	if err != nil || stats != (Stats{Unchanged: 2}) {
		t.Fatalf("same findings: %+v, %v; want nothing written", stats, err)
	}

	// team-b is fixed, team-a gains a result: the old one keeps its time, the new one is now.
	stats, err = w.Sync(ctx, Desired([]snapshot.Finding{edge, web}, nil))
	if err != nil || stats != (Stats{Updated: 1, Deleted: 1}) {
		t.Fatalf("after a fix: %+v, %v; want 1 updated, 1 deleted", stats, err)
	}
	a := getReport(t, c, "team-a")
	stamps := map[string]int64{}
	for _, r := range a.Results {
		stamps[r.Subjects[0].Name] = r.Timestamp.Seconds
	}
	if want := map[string]int64{"edge": 1_000, "web": 2_000}; !equality.Semantic.DeepEqual(stamps, want) {
		t.Errorf("timestamps %v, want %v", stamps, want)
	}
	if a.Summary != (openreports.ReportSummary{Fail: 1, Warn: 1}) {
		t.Errorf("summary %+v, want 1 fail, 1 warn", a.Summary)
	}
	var b openreports.Report
	if err := c.Get(ctx, client.ObjectKey{Namespace: "team-b", Name: Name}, &b); err == nil {
		t.Errorf("team-b's Report is still there after its namespace became clean")
	}

	// Everything fixed: our Reports go, Kyverno's stays.
	stats, err = w.Sync(ctx, Desired(nil, nil))
	if err != nil || stats != (Stats{Deleted: 1}) {
		t.Fatalf("all fixed: %+v, %v; want 1 deleted", stats, err)
	}
	var left openreports.ReportList
	if err := c.List(ctx, &left); err != nil {
		t.Fatal(err)
	}
	if len(left.Items) != 1 || left.Items[0].Name != "kyverno-report" {
		t.Errorf("Reports left: %+v, want only kyverno-report", left.Items)
	}
}

// A namespace with more results than MaxResults gets the first MaxResults and one result
// counting the rest.
func TestSyncBoundsAReport(t *testing.T) {
	c := newFakeClient(t)
	w := &Writer{Reader: c, Client: c}
	var findings []snapshot.Finding
	for i := range MaxResults + 5 {
		findings = append(findings, finding(kinds.ServiceDefaults, serviceDefaults("team-a", fmt.Sprintf("svc-%04d", i), ""),
			violation("upstream-peer-known", validators.Warn, "spec.upstreamConfig.overrides[0].peer", "dc9", "unknown peer")))
	}
	stats, err := w.Sync(context.Background(), Desired(findings, nil))
	if err != nil || stats != (Stats{Created: 1, Dropped: 5}) {
		t.Fatalf("%+v, %v; want 1 created, 5 dropped", stats, err)
	}
	r := getReport(t, c, "team-a")
	if len(r.Results) != MaxResults+1 || r.Summary != (openreports.ReportSummary{Warn: MaxResults, Skip: 1}) {
		t.Errorf("%d results, summary %+v; want %d warnings and the truncation", len(r.Results), r.Summary, MaxResults)
	}
	if last := r.Results[len(r.Results)-1]; last.Policy != TruncatedPolicy || !strings.HasPrefix(last.Description, "5 more results (0 fail, 5 warn) left out") {
		t.Errorf("last result %+v, want %s counting 5 warnings", last, TruncatedPolicy)
	}
}

// 300 objects with only warnings, each breaking a rule a hundred times with long values:
// every message is clipped, each result carries at most MaxMessagesPerResult, and the Report
// stays under MaxReportBytes with the rest counted, failures kept first.
func TestReportStaysWithinItsByteBound(t *testing.T) {
	long := strings.Repeat("é", 400) // a value of 800 bytes, clipped on a character boundary
	var findings []snapshot.Finding
	for i := range 300 {
		var vs []validators.Violation
		for j := range 100 {
			vs = append(vs, violation("upstream-peer-known", validators.Warn, fmt.Sprintf("spec.upstreamConfig.overrides[%d].peer", j), long, "unknown peer"))
		}
		findings = append(findings, finding(kinds.ServiceDefaults, serviceDefaults("team-a", fmt.Sprintf("svc-%04d", i), ""), vs...))
	}
	findings = append(findings, finding(kinds.ProxyDefaults, proxyDefaults("team-a", "zz-edge", ""),
		violation("proxy-defaults-name", validators.Deny, "metadata.name", "zz-edge", "ProxyDefaults must be named global")))
	desired := Desired(findings, nil)["team-a"]
	for _, res := range desired.Results {
		parts := strings.Split(res.Description, "; ")
		if len(parts) > MaxMessagesPerResult+1 {
			t.Fatalf("%s: %d messages, want at most %d and a count", res.Subjects[0].Name, len(parts), MaxMessagesPerResult)
		}
		for _, m := range parts {
			if len(m) > MaxMessageBytes || !utf8.ValidString(m) {
				t.Fatalf("message of %d bytes (valid UTF-8: %v), want at most %d", len(m), utf8.ValidString(m), MaxMessageBytes)
			}
		}
	}
	c := newFakeClient(t)
	stats, err := (&Writer{Reader: c, Client: c}).Sync(context.Background(), map[string]*openreports.Report{"team-a": desired})
	if err != nil || stats.Created != 1 || stats.Dropped == 0 {
		t.Fatalf("%+v, %v; want 1 created with results left out", stats, err)
	}
	r := getReport(t, c, "team-a")
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("301 objects: a Report of %d bytes with %d results, %d left out (bound %d bytes)", len(raw), len(r.Results)-1, stats.Dropped, MaxReportBytes)
	if len(raw) > MaxReportBytes {
		t.Errorf("the Report is %d bytes, more than %d", len(raw), MaxReportBytes)
	}
	if r.Results[0].Policy != "proxy-defaults-name" || r.Results[len(r.Results)-1].Policy != TruncatedPolicy {
		t.Errorf("first result %s, last %s: want the failure first and the truncation last", r.Results[0].Policy, r.Results[len(r.Results)-1].Policy)
	}
	if got := len(r.Results) - 1 + stats.Dropped; got != 301 {
		t.Errorf("%d results kept and left out, want 301", got)
	}
}

// A Report with our name whose source is another engine's is never rewritten or deleted.
func TestSyncLeavesOtherSourcesAlone(t *testing.T) {
	ctx := context.Background()
	theirs := &openreports.Report{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: Name, Labels: map[string]string{ManagedByLabel: Source}},
		Source: "kyverno", Results: []openreports.ReportResult{{Source: "kyverno", Policy: "require-labels", Result: "fail"}}}
	c := newFakeClient(t, theirs)
	w := &Writer{Reader: c, Client: c}
	edge := finding(kinds.ProxyDefaults, proxyDefaults("team-a", "edge", "u1"),
		violation("proxy-defaults-name", validators.Deny, "metadata.name", "edge", "ProxyDefaults must be named global"))
	for _, findings := range [][]snapshot.Finding{{edge}, nil} {
		stats, err := w.Sync(ctx, Desired(findings, nil))
		if err == nil || stats.Foreign != 1 || stats.Updated+stats.Deleted+stats.Created != 0 {
			t.Errorf("%d findings: %+v, %v; want the foreign Report reported and left alone", len(findings), stats, err)
		}
		if r := getReport(t, c, "team-a"); r.Source != "kyverno" || len(r.Results) != 1 || r.Results[0].Policy != "require-labels" {
			t.Errorf("%d findings: the other engine's Report was changed: %+v", len(findings), r)
		}
	}
}

// A workload's result names it with its own API group: the audit reports a Deployment that a
// state rule now finds, and its subject must resolve to that Deployment.
func TestWorkloadSubjectNamesItsGroup(t *testing.T) {
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: "u9"}}
	path := "spec.template.metadata.annotations[consul.hashicorp.com/connect-service-upstreams]"
	got := Desired([]snapshot.Finding{finding(kinds.Deployment, deploy,
		violation("gateway-mode-local-needs-gateway", validators.Warn, path, "api.svc.dc2.peer:9090:mesh_gateway_mode=local", "no mesh gateway runs in this cluster"))}, nil)
	results := got["shop"].Results
	if len(results) != 1 {
		t.Fatalf("want one result, got %d", len(results))
	}
	want := []corev1.ObjectReference{{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "shop", Name: "web", UID: "u9"}}
	if !equality.Semantic.DeepEqual(results[0].Subjects, want) {
		t.Errorf("subjects: %s", diff.Diff(want, results[0].Subjects))
	}
	if results[0].Policy != "gateway-mode-local-needs-gateway" || results[0].Properties[FieldProperty] != path {
		t.Errorf("result %s at %s, want gateway-mode-local-needs-gateway at %s", results[0].Policy, results[0].Properties[FieldProperty], path)
	}
}
