package chart

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/openreports"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// serviceAccountUser is how the API server names the chart's ServiceAccount.
const serviceAccountUser = "system:serviceaccount:" + namespace + ":" + release

// TestMonitoringAndReportsAgainstARealAPIServer installs the chart with monitoring and
// reports on into a real kube-apiserver that has the prometheus-operator and OpenReports
// CRDs, then runs `serve --reports` as the chart's ServiceAccount with exactly the chart's
// RBAC: the API server accepts the monitoring objects as rendered, every metric the alerts
// and the dashboard name is one the running webhook exports, violations appear as Report
// results, and fixing them removes the results and then the Reports.
func TestMonitoringAndReportsAgainstARealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	root := repoRoot(t)
	cluster, err := framework.StartCluster(certManagerCRDs(t), filepath.Join(root, "test", "thirdparty-crds"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cluster.Stop() }()
	c, err := client.New(cluster.Config, client.Options{Scheme: operateScheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := framework.Context(5 * time.Minute)
	defer cancel()

	values := filepath.Join(chartDir, "ci", "monitoring-reports-values.yaml")
	if r := helm(t, "install", release, chartDir, "--namespace", namespace, "--create-namespace", "-f", values, "--kubeconfig", cluster.Kubeconfig); r.code != 0 {
		t.Fatalf("helm install: %s", r)
	}
	manifest := helm(t, "get", "manifest", release, "--namespace", namespace, "--kubeconfig", cluster.Kubeconfig)
	if manifest.code != 0 {
		t.Fatalf("helm get manifest: %s", manifest)
	}
	installed := decode(t, []byte(manifest.stdout))
	checkMonitoringObjectsAccepted(ctx, t, c, installed)

	binary, err := framework.BuildBinary(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := framework.NewCA("operate-ca")
	if err != nil {
		t.Fatal(err)
	}
	certs := t.TempDir()
	if _, err := ca.WriteServing(certs); err != nil {
		t.Fatal(err)
	}
	saKubeconfig, err := cluster.KubeconfigFor(envtest.User{Name: serviceAccountUser,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}})
	if err != nil {
		t.Fatal(err)
	}
	checkReportPermissions(ctx, t, c)

	for _, ns := range []string{"team-a", "team-b"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	// No webhook pod runs here, so no configuration is registered and the offenders are
	// stored, as drift the audit exists to find.
	if r := cluster.Kubectl("get", "validatingwebhookconfiguration", release); r.Code == 0 {
		t.Fatalf("helm install registered the webhook configuration while no webhook serves: %s", r.Stdout)
	}
	if r := cluster.Apply(offenders); r.Code != 0 {
		t.Fatalf("kubectl apply: %s", r.Stderr)
	}
	w, err := framework.StartWebhook(binary, saKubeconfig, certs, "--log-format=text", "--audit-interval=1s", "--reports",
		"--audit-lease-namespace="+namespace)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	if err := w.WaitReady(time.Minute); err != nil {
		t.Fatal(err)
	}

	t.Run("violations appear as Report results", func(t *testing.T) {
		waitForReports(ctx, t, c, map[string][]resultKey{
			"team-a": {{"ProxyDefaults", "edge", "proxy-defaults-name", "fail"}, {"ServiceDefaults", "web", "upstream-peer-known", "warn"}},
			"team-b": {{"ServiceDefaults", "api", "upstream-peer-known", "warn"}},
		})
		var r orv1alpha1.Report
		if err := c.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: openreports.Name}, &r); err != nil {
			t.Fatal(err)
		}
		var edge corev1.ObjectReference
		for _, res := range r.Results {
			if res.Subjects[0].Name == "edge" {
				edge = res.Subjects[0]
				if res.Source != openreports.Source || res.Properties[openreports.FieldProperty] != "metadata.name" ||
					!strings.HasPrefix(res.Description, `metadata.name: Invalid value: "edge": `) {
					t.Errorf("result %+v: want source %s, field metadata.name and the field's message", res, openreports.Source)
				}
			}
		}
		var pd corev1.ObjectReference
		pd.APIVersion, pd.Kind, pd.Namespace, pd.Name = "consul.hashicorp.com/v1alpha1", "ProxyDefaults", "team-a", "edge"
		if uid := objectUID(ctx, t, c, "ProxyDefaults", "team-a", "edge"); edge.UID != uid || edge.APIVersion != pd.APIVersion || edge.Kind != pd.Kind || edge.Namespace != pd.Namespace {
			t.Errorf("subject %+v, want %+v with uid %s", edge, pd, uid)
		}
		if r.Source != openreports.Source || r.Summary != (orv1alpha1.ReportSummary{Fail: 1, Warn: 1}) {
			t.Errorf("report source %q, summary %+v; want %s, 1 fail and 1 warn", r.Source, r.Summary, openreports.Source)
		}
		// Audits that find the same write nothing (one a second here).
		time.Sleep(3 * time.Second)
		var again orv1alpha1.Report
		if err := c.Get(ctx, client.ObjectKeyFromObject(&r), &again); err != nil {
			t.Fatal(err)
		}
		if again.ResourceVersion != r.ResourceVersion {
			t.Errorf("the Report was rewritten by audits that found the same (resourceVersion %s, then %s)", r.ResourceVersion, again.ResourceVersion)
		}
	})

	t.Run("every metric the alerts and the dashboard name is exported", func(t *testing.T) {
		driveReviews(t, w, ca.CertPEM)
		exported := scrapeNames(t, w)
		for _, q := range monitoringQueries(t, installed) {
			for _, name := range metricName.FindAllString(q, -1) {
				if !exported[name] {
					t.Errorf("query %q names %s, which the webhook does not export (it exports %v)", q, name, sortedKeys(exported))
				}
			}
		}
	})

	t.Run("a fix removes its result, a clean namespace its Report", func(t *testing.T) {
		if r := cluster.Apply(fixedWeb); r.Code != 0 {
			t.Fatalf("kubectl apply: %s", r.Stderr)
		}
		if r := cluster.Kubectl("delete", "servicedefaults", "api", "--namespace", "team-b"); r.Code != 0 {
			t.Fatalf("kubectl delete: %s", r.Stderr)
		}
		waitForReports(ctx, t, c, map[string][]resultKey{
			"team-a": {{"ProxyDefaults", "edge", "proxy-defaults-name", "fail"}},
		})
		if r := cluster.Kubectl("delete", "proxydefaults", "edge", "--namespace", "team-a"); r.Code != 0 {
			t.Fatalf("kubectl delete: %s", r.Stderr)
		}
		waitForReports(ctx, t, c, map[string][]resultKey{})
	})

	if logs := w.Logs(); strings.Contains(logs, "forbidden") || strings.Contains(logs, "could not write every Report") {
		t.Errorf("the webhook, with the chart's RBAC, was refused something:\n%s", logs)
	}
}

const offenders = `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata: {name: edge, namespace: team-a}
spec: {}
---
apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceDefaults
metadata: {name: web, namespace: team-a}
spec:
  protocol: http
  upstreamConfig:
    overrides:
      - {name: api, peer: dc9}
---
apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceDefaults
metadata: {name: api, namespace: team-b}
spec:
  protocol: http
  upstreamConfig:
    overrides:
      - {name: db, peer: dc9}
`

const fixedWeb = `apiVersion: consul.hashicorp.com/v1alpha1
kind: ServiceDefaults
metadata: {name: web, namespace: team-a}
spec:
  protocol: http
`

func operateScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := scheme(t)
	if err := orv1alpha1.Install(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkMonitoringObjectsAccepted reads the ServiceMonitor and PrometheusRule back: their
// specs must be what was rendered, so the CRD schemas neither refused nor pruned a field.
func checkMonitoringObjectsAccepted(ctx context.Context, t *testing.T, c client.Client, installed []client.Object) {
	t.Helper()
	sm := one[*monitoringv1.ServiceMonitor](t, installed)
	var gotSM monitoringv1.ServiceMonitor
	if err := c.Get(ctx, client.ObjectKeyFromObject(sm), &gotSM); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(gotSM.Spec, sm.Spec) {
		t.Errorf("the API server stored another ServiceMonitor spec:\n%+v\nrendered:\n%+v", gotSM.Spec, sm.Spec)
	}
	pr := one[*monitoringv1.PrometheusRule](t, installed)
	var gotPR monitoringv1.PrometheusRule
	if err := c.Get(ctx, client.ObjectKeyFromObject(pr), &gotPR); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(gotPR.Spec, pr.Spec) {
		t.Errorf("the API server stored another PrometheusRule spec:\n%+v\nrendered:\n%+v", gotPR.Spec, pr.Spec)
	}
	cms := dashboardConfigMaps(installed)
	if len(cms) != 1 {
		t.Fatalf("want one dashboard ConfigMap, got %d", len(cms))
	}
	var gotCM corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKeyFromObject(cms[0]), &gotCM); err != nil {
		t.Fatal(err)
	}
	if gotCM.Labels["grafana_dashboard"] != "1" {
		t.Errorf("the stored dashboard ConfigMap lost its sidecar label: %v", gotCM.Labels)
	}
}

// checkReportPermissions asks the API server what the chart's ServiceAccount may do with
// Reports: the reads and writes --reports makes, nothing more (no watch, no patch, no
// ClusterReports).
func checkReportPermissions(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	// Any Report may be listed and created (Kubernetes cannot limit either by name); only
	// ours, by its name, read, updated or deleted.
	allowed := map[string]bool{"list": true, "create": true}
	ours := map[string]bool{"get": true, "list": true, "create": true, "update": true, "delete": true}
	for _, resource := range []string{"reports", "clusterreports"} {
		for _, name := range []string{openreports.Name, "kyverno-report"} {
			for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"} {
				sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
					User:   serviceAccountUser,
					Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
					ResourceAttributes: &authorizationv1.ResourceAttributes{
						Group: orv1alpha1.GroupName, Resource: resource, Verb: verb, Namespace: "team-a", Name: name,
					},
				}}
				if err := c.Create(ctx, sar); err != nil {
					t.Fatal(err)
				}
				want := resource == "reports" && (allowed[verb] || (name == openreports.Name && ours[verb]))
				if sar.Status.Allowed != want {
					t.Errorf("%s %s %s: allowed %v, want %v", verb, resource, name, sar.Status.Allowed, want)
				}
			}
		}
	}
}

// resultKey is what the live test checks of one result: subject kind and name, policy, result.
type resultKey struct{ kind, name, policy, result string }

// waitForReports waits until our Reports are exactly want, namespace by namespace, with
// summaries that count their results.
func waitForReports(ctx context.Context, t *testing.T, c client.Client, want map[string][]resultKey) {
	t.Helper()
	for _, keys := range want {
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	}
	var last map[string][]resultKey
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var list orv1alpha1.ReportList
		if err := c.List(ctx, &list, client.MatchingLabels{openreports.ManagedByLabel: openreports.Source}); err != nil {
			return false, err
		}
		got := map[string][]resultKey{}
		for _, r := range list.Items {
			var s orv1alpha1.ReportSummary
			keys := []resultKey{}
			for _, res := range r.Results {
				keys = append(keys, resultKey{res.Subjects[0].Kind, res.Subjects[0].Name, res.Policy, string(res.Result)})
				switch res.Result {
				case "fail":
					s.Fail++
				case "warn":
					s.Warn++
				}
			}
			if s != r.Summary {
				t.Errorf("Report %s/%s: summary %+v, its results count %+v", r.Namespace, r.Name, r.Summary, s)
			}
			sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
			got[r.Namespace] = keys
		}
		last = got
		return reflect.DeepEqual(got, want), nil
	})
	if err != nil {
		t.Fatalf("Reports %v, want %v: %v", last, want, err)
	}
}

func objectUID(ctx context.Context, t *testing.T, c client.Client, kind, ns, name string) types.UID {
	t.Helper()
	var u metav1.PartialObjectMetadata
	u.APIVersion, u.Kind = "consul.hashicorp.com/v1alpha1", kind
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &u); err != nil {
		t.Fatal(err)
	}
	return u.UID
}

// driveReviews makes the webhook answer an allowed, a denied and a malformed review, so
// that the labelled series of its counters and histogram exist.
func driveReviews(t *testing.T, w *framework.Webhook, caPEM []byte) {
	t.Helper()
	hc := framework.TLSClient(caPEM, false)
	base := fmt.Sprintf("https://127.0.0.1:%d", w.Port)
	var sawAllowed, sawDenied bool
	for _, s := range framework.Samples(1) {
		if s.Kind != kinds.ServiceDefaults {
			continue
		}
		code, resp, err := framework.PostReview(hc, base, s.Kind, framework.ReviewBody(s.Kind, "CREATE", s.Object, ""))
		if err != nil || code != http.StatusOK || resp == nil {
			t.Fatalf("review: %d %v %v", code, resp, err)
		}
		sawAllowed = sawAllowed || resp.Allowed
		sawDenied = sawDenied || !resp.Allowed
	}
	if !sawAllowed || !sawDenied {
		t.Fatalf("want an allowed and a denied review, got allowed %v denied %v", sawAllowed, sawDenied)
	}
	if code, _, err := framework.PostRaw(hc, base+webhook.Path(kinds.ServiceDefaults), "application/json", []byte("{")); err != nil || code < 400 {
		t.Fatalf("malformed review answered %d (%v), want an error", code, err)
	}
}

// scrapeNames returns the names of every series the webhook exports: a histogram's as its
// _bucket, _sum and _count series.
func scrapeNames(t *testing.T, w *framework.Webhook) map[string]bool {
	t.Helper()
	text, err := w.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	names := map[string]bool{}
	for name, f := range families {
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[name+suffix] = true
			}
			continue
		}
		names[name] = true
	}
	return names
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if strings.HasPrefix(k, "consul_peering_guard_") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
