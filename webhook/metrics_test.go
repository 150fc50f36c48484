package webhook_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionmetrics "sigs.k8s.io/controller-runtime/pkg/webhook/admission/metrics"
	conversionmetrics "sigs.k8s.io/controller-runtime/pkg/webhook/conversion/metrics"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// Before any review every series of the review metrics is scraped at zero; controller-runtime's
// webhook panic counters (admission, replaced by admission_errors_total, and conversion, never
// served) are not.
func TestMetricsExistBeforeTheFirstReview(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(admissionmetrics.WebhookPanics, conversionmetrics.WebhookPanics)
	webhook.NewMetrics(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	reviewed := len(kinds.All)
	ruleKinds := 0
	for _, r := range validators.Catalogue() {
		ruleKinds += len(r.Kinds)
	}
	for name, want := range map[string]int{
		"consul_peering_guard_admission_duration_seconds": reviewed * 2,
		"consul_peering_guard_admission_reviews_total":    reviewed * 2 * 2,
		"consul_peering_guard_rule_violations_total":      ruleKinds * 2 * 2,
		"consul_peering_guard_admission_errors_total":     reviewed * 5,
		"consul_peering_guard_cache_synced":               1,
	} {
		if series[name] != want {
			t.Errorf("%s: %d series before the first review, want %d", name, series[name], want)
		}
	}
	for _, name := range []string{"controller_runtime_webhook_panics_total", "controller_runtime_conversion_webhook_panics_total"} {
		if _, ok := series[name]; ok {
			t.Errorf("%s is still exported", name)
		}
	}
	for _, name := range []string{"consul_peering_guard_admission_reviews_total", "consul_peering_guard_rule_violations_total", "consul_peering_guard_admission_errors_total", "consul_peering_guard_admission_duration_seconds"} {
		if n := metricSum(t, reg, name, nil); n != 0 {
			t.Errorf("%s sums to %v before any review", name, n)
		}
	}
}

func with(labels map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for lk, lv := range labels {
		out[lk] = lv
	}
	return out
}

// metricSum adds the values (counters, gauges) or sample counts (histograms) of the series
// of a metric whose labels include the given ones.
func metricSum(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}
