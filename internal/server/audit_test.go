package server

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// The audit gauge moves from one audit's counts to the next without a moment in which a
// scrape could read it empty or half-filled, and series that no longer hold disappear.
func TestAuditGaugePublishesWholeAudits(t *testing.T) {
	a := &auditor{metrics: webhook.NewMetrics(prometheus.NewRegistry())}
	g := a.metrics.AuditViolations

	a.publish(map[auditLabels]int{{"export-needs-mesh-gateway", "deny"}: 3, {"upstream-peer-known", "warn"}: 2})
	if got := testutil.ToFloat64(g.WithLabelValues("export-needs-mesh-gateway", "deny")); got != 3 {
		t.Errorf("deny series = %v, want 3", got)
	}
	a.publish(map[auditLabels]int{{"upstream-peer-known", "warn"}: 5})
	if n := testutil.CollectAndCount(g); n != 1 {
		t.Errorf("%d series after the second audit, want 1 (the fixed violation's series is gone)", n)
	}
	if got := testutil.ToFloat64(g.WithLabelValues("upstream-peer-known", "warn")); got != 5 {
		t.Errorf("warn series = %v, want 5", got)
	}
	a.publish(map[auditLabels]int{})
	if n := testutil.CollectAndCount(g); n != 0 {
		t.Errorf("%d series after a clean audit, want 0", n)
	}
}
