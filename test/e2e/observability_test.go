package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// drift creates an export while a gateway runs, then removes the gateway: the state the
// webhook could not refuse at write time.
func drift(t *testing.T) {
	t.Helper()
	ctx := ctxFor(t)
	addGateway(t, ctx)
	mustApply(t, dialerDC2)
	mustApply(t, strings.Replace(exportToDC2, "%s", "", 1))
	if err := guard.WaitForState(ctx, kinds.ExportedServices, 1); err != nil {
		t.Fatal(err)
	}
	removeGateway(t, ctx)
}

func TestAuditCommandReportsDrift(t *testing.T) {
	useGuard(t)
	reset(t)
	drift(t)
	cmd := exec.Command(binary, "audit", "--kubeconfig", cluster.Kubeconfig, "-o", "json")
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("audit exit %d, want 1:\n%s", cmd.ProcessState.ExitCode(), out)
	}
	var rep printer.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rep.Results {
		for _, v := range r.Violations {
			if r.Kind == "ExportedServices" && v.Rule == "export-needs-mesh-gateway" && v.Field == "spec.services[0].consumers[0].peer" && v.Action == "deny" {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("audit did not report the missing gateway: %s", out)
	}
}

// serve --audit-interval exports the violations as metrics and records Events on the object.
func TestPeriodicAuditMetricsAndEvents(t *testing.T) {
	useGuard(t)
	reset(t)
	drift(t)
	auditor, err := framework.StartWebhook(binary, cluster.Kubeconfig, certDir, "--audit-interval=1s", "--audit-lease-namespace=default", "--log-format=json")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = auditor.Stop() }()
	if err := auditor.WaitReady(time.Minute); err != nil {
		t.Fatal(err)
	}
	metric := `consul_peering_guard_audit_violations{action="deny",rule="export-needs-mesh-gateway"}`
	deadline := time.Now().Add(30 * time.Second)
	for auditor.MetricValue(metric) != 1 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if v := auditor.MetricValue(metric); v != 1 {
		t.Fatalf("%s = %v, want 1", metric, v)
	}
	ctx := ctxFor(t)
	for {
		var events eventsv1.EventList
		if err := cluster.Client.List(ctx, &events); err != nil {
			t.Fatal(err)
		}
		for _, e := range events.Items {
			if e.Reason == "PeeringRuleViolation" && e.Regarding.Kind == "ExportedServices" && e.Regarding.Name == "default" &&
				strings.Contains(e.Note, "spec.services[0].consumers[0].peer") {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no PeeringRuleViolation event on ExportedServices default; %d events", len(events.Items))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// After real requests through the API server the metrics endpoint shows the decisions, the
// millisecond-range latency histogram and the cache state.
func TestMetricsAfterRealRequests(t *testing.T) {
	useGuard(t)
	reset(t)
	refused(t, cluster.Apply(serviceDefaults("bogus")), "spec.upstreamConfig.overrides[0].meshGateway.mode", "gateway-mode-valid")
	mustApply(t, dialerDC2)
	text, err := guard.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`consul_peering_guard_rule_violations_total{action="deny",kind="ServiceDefaults",operation="CREATE",rule="gateway-mode-valid"}`,
		`consul_peering_guard_admission_reviews_total{kind="ServiceDefaults",operation="CREATE",verdict="denied"}`,
		`consul_peering_guard_admission_reviews_total{kind="PeeringDialer",operation="CREATE",verdict="allowed"}`,
		`consul_peering_guard_admission_duration_seconds_bucket{kind="ServiceDefaults",operation="CREATE",le="0.0005"}`,
		`consul_peering_guard_cache_synced 1`,
		`consul_peering_guard_state_objects{kind="PeeringDialer"}`,
		`consul_peering_guard_webhook_serving 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The served certificate (valid for 24h in the tests) is reported with its expiry.
	expiry := guard.MetricValue("consul_peering_guard_serving_certificate_expiry_timestamp_seconds")
	if until := time.Until(time.Unix(int64(expiry), 0)); until < 23*time.Hour || until > 25*time.Hour {
		t.Errorf("certificate expiry metric %v is %s away, want about 24h", expiry, until)
	}
}

// One structured log line per denial carries kind, namespace, name, rule, field and user.
func TestDenialLogLine(t *testing.T) {
	useGuard(t, "--log-format=json")
	reset(t)
	refused(t, cluster.Apply(serviceDefaults("bogus")), "spec.upstreamConfig.overrides[0].meshGateway.mode", "gateway-mode-valid")
	if guard.WaitForJSONLogLine(30*time.Second, func(entry map[string]any) bool {
		return entry["msg"] == "denied" && entry["kind"] == "ServiceDefaults" && entry["namespace"] == "default" &&
			entry["name"] == "frontend" && entry["rule"] == "gateway-mode-valid" &&
			entry["field"] == "spec.upstreamConfig.overrides[0].meshGateway.mode" && entry["user"] == "e2e-admin"
	}) {
		return
	}
	t.Fatalf("no structured denial line in the logs:\n%s", guard.Logs())
}
