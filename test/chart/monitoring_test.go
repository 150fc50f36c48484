package chart

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The alerts the PrometheusRule holds, as the README lists them.
var wantAlerts = []string{
	"ConsulPeeringGuardAdmissionErrors",
	"ConsulPeeringGuardAuditViolations",
	"ConsulPeeringGuardCacheNotSynced",
	"ConsulPeeringGuardCertificateExpiresSoon",
	"ConsulPeeringGuardNotServing",
}

// The dashboard's panels, as the README describes them.
var wantPanels = []string{
	"Audit violations", "Denials by rule", "Errors", "Review latency", "Reviews by verdict",
	"Serving certificate expires in", "State objects",
}

var metricName = regexp.MustCompile(`consul_peering_guard_[a-z0-9_]+`)

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// monitoringQueries returns every PromQL expression of the rendered alerts and dashboards.
func monitoringQueries(t *testing.T, objs []client.Object) []string {
	t.Helper()
	var out []string
	for _, pr := range only[*monitoringv1.PrometheusRule](objs) {
		for _, g := range pr.Spec.Groups {
			for _, r := range g.Rules {
				out = append(out, r.Expr.String())
			}
		}
	}
	for _, cm := range dashboardConfigMaps(objs) {
		for _, d := range decodeDashboards(t, cm) {
			for _, p := range d.Panels {
				for _, target := range p.Targets {
					out = append(out, target.Expr)
				}
			}
		}
	}
	return out
}

func dashboardConfigMaps(objs []client.Object) []*corev1.ConfigMap {
	var out []*corev1.ConfigMap
	for _, cm := range only[*corev1.ConfigMap](objs) {
		if cm.Labels["grafana_dashboard"] == "1" {
			out = append(out, cm)
		}
	}
	return out
}

func decodeDashboards(t *testing.T, cm *corev1.ConfigMap) []dashboard {
	t.Helper()
	var out []dashboard
	for key, raw := range cm.Data {
		var d dashboard
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			t.Fatalf("ConfigMap %s key %s is not a dashboard: %v", cm.Name, key, err)
		}
		out = append(out, d)
	}
	return out
}

// checkMonitoring checks the ServiceMonitor, the alerts and the dashboard: present only when
// enabled, aimed at the chart's own Service, and every query names our metrics of this
// release alone.
func checkMonitoring(t *testing.T, tc chartCase, objs []client.Object) {
	t.Helper()
	sms := only[*monitoringv1.ServiceMonitor](objs)
	prs := only[*monitoringv1.PrometheusRule](objs)
	dashboards := dashboardConfigMaps(objs)
	if !tc.monitoring {
		if len(sms)+len(prs)+len(dashboards) != 0 {
			t.Errorf("monitoring is off by default, yet %d ServiceMonitors, %d PrometheusRules and %d dashboards render", len(sms), len(prs), len(dashboards))
		}
		return
	}
	if len(sms) != 1 || len(prs) != 1 || len(dashboards) != 1 {
		t.Fatalf("want one ServiceMonitor, PrometheusRule and dashboard, got %d, %d, %d", len(sms), len(prs), len(dashboards))
	}
	svc := one[*corev1.Service](t, objs)
	sm := sms[0]
	if sel := labels.SelectorFromSet(sm.Spec.Selector.MatchLabels); !sel.Matches(labels.Set(svc.Labels)) || len(sm.Spec.Selector.MatchExpressions) != 0 {
		t.Errorf("the ServiceMonitor's selector %v does not select the Service (labels %v)", sm.Spec.Selector, svc.Labels)
	}
	if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{namespace}) {
		t.Errorf("the ServiceMonitor looks in %v, want the release namespace", sm.Spec.NamespaceSelector.MatchNames)
	}
	if sm.Labels["release"] != "kube-prometheus-stack" || prs[0].Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("the extra labels are missing: %v, %v", sm.Labels, prs[0].Labels)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("want one endpoint, got %+v", sm.Spec.Endpoints)
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != tc.metricsPort.Name || ep.Path != "/metrics" || ep.Interval != "15s" || ep.Scheme == nil || *ep.Scheme != "http" {
		t.Errorf("endpoint %+v: want port %s, /metrics, http, every 15s", ep, tc.metricsPort.Name)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
		t.Errorf("the Service has no port %s", ep.Port)
	}

	var alerts []string
	for _, g := range prs[0].Spec.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Labels["severity"] == "" || r.For == nil || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s lacks a severity, a for duration, a summary or a description: %+v", r.Alert, r)
			}
		}
	}
	sort.Strings(alerts)
	if !slices.Equal(alerts, wantAlerts) {
		t.Errorf("alerts %v, want %v", alerts, wantAlerts)
	}
	thresholds := map[string]string{
		"ConsulPeeringGuardCertificateExpiresSoon": "< 14 * 86400",
		"ConsulPeeringGuardAuditViolations":        "> 10",
		"ConsulPeeringGuardAdmissionErrors":        "> 0.1",
	}
	for _, g := range prs[0].Spec.Groups {
		for _, r := range g.Rules {
			if want, ok := thresholds[r.Alert]; ok && !strings.Contains(r.Expr.String(), want) {
				t.Errorf("alert %s: %q lacks the threshold %q of the values", r.Alert, r.Expr.String(), want)
			}
			if r.Alert == "ConsulPeeringGuardCacheNotSynced" && (r.For == nil || *r.For != "10m") {
				t.Errorf("alert %s fires after %v, want the values' 10m", r.Alert, r.For)
			}
		}
	}

	var panels []string
	for _, d := range decodeDashboards(t, dashboards[0]) {
		for _, p := range d.Panels {
			panels = append(panels, p.Title)
		}
	}
	sort.Strings(panels)
	if !slices.Equal(panels, wantPanels) {
		t.Errorf("dashboard panels %v, want %v", panels, wantPanels)
	}
	if dashboards[0].Annotations["grafana_folder"] != "Consul" || dashboards[0].Labels["team"] != "platform" {
		t.Errorf("the dashboard's annotations and labels are not the values': %v, %v", dashboards[0].Annotations, dashboards[0].Labels)
	}

	// Every query reads only this release's series and names at least one of our metrics.
	selector := `job="` + release + `", namespace="` + namespace + `"`
	for _, q := range monitoringQueries(t, objs) {
		names := metricName.FindAllString(q, -1)
		if len(names) == 0 {
			t.Errorf("query %q names none of the webhook's metrics", q)
		}
		if strings.Count(q, "{"+selector) != len(names) {
			t.Errorf("query %q: every metric must select %s", q, selector)
		}
	}
}

// With secure metrics the ServiceMonitor scrapes HTTPS with Prometheus' token; the monitoring
// objects refuse to render without metrics, and reports without the audit.
func TestMonitoringTemplateVariants(t *testing.T) {
	secure := decode(t, []byte(helmTemplate(t, "--set", "metrics.secure=true,metrics.serviceMonitor.enabled=true")))
	ep := one[*monitoringv1.ServiceMonitor](t, secure).Spec.Endpoints[0]
	// The scraper's own ServiceAccount token is only reachable through the deprecated file
	// field: authorization needs a Secret the chart does not have.
	tokenFile := ep.BearerTokenFile //nolint:staticcheck // see above
	if ep.Port != "https-metrics" || ep.Scheme == nil || *ep.Scheme != "https" ||
		tokenFile != "/var/run/secrets/kubernetes.io/serviceaccount/token" || ep.TLSConfig == nil || ep.TLSConfig.InsecureSkipVerify == nil || !*ep.TLSConfig.InsecureSkipVerify {
		t.Errorf("secure endpoint %+v: want https-metrics over https with the ServiceAccount token", ep)
	}
	// The default thresholds are the ones the README lists.
	rules := one[*monitoringv1.PrometheusRule](t, decode(t, []byte(helmTemplate(t, "--set", "metrics.prometheusRule.enabled=true"))))
	defaults := map[string]string{
		"ConsulPeeringGuardCertificateExpiresSoon": "< 7 * 86400",
		"ConsulPeeringGuardAdmissionErrors":        "> 0.05",
		"ConsulPeeringGuardAuditViolations":        "> 0",
		"ConsulPeeringGuardCacheNotSynced":         "== 0",
	}
	for _, g := range rules.Spec.Groups {
		for _, r := range g.Rules {
			if want, ok := defaults[r.Alert]; ok && !strings.Contains(r.Expr.String(), want) {
				t.Errorf("default alert %s: %q lacks %q", r.Alert, r.Expr.String(), want)
			}
			if r.Alert == "ConsulPeeringGuardCacheNotSynced" && (r.For == nil || *r.For != "5m") {
				t.Errorf("default alert %s fires after %v, want 5m", r.Alert, r.For)
			}
		}
	}
	for _, tc := range []struct{ set, want string }{
		{"metrics.enabled=false,metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.enabled needs metrics.enabled"},
		{"metrics.enabled=false,metrics.prometheusRule.enabled=true", "metrics.prometheusRule.enabled needs metrics.enabled"},
		{"audit.reports.enabled=true", "audit.reports.enabled needs audit.interval"},
	} {
		r := helm(t, "template", release, chartDir, "--namespace", namespace, "--set", tc.set)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("helm template --set %s: want a failure saying %q, got %s", tc.set, tc.want, r)
		}
	}
}

func helmTemplate(t *testing.T, args ...string) string {
	t.Helper()
	r := helm(t, append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	if r.code != 0 {
		t.Fatalf("helm template %v: %s", args, r)
	}
	return r.stdout
}
