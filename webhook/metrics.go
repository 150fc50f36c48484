package webhook

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionmetrics "sigs.k8s.io/controller-runtime/pkg/webhook/admission/metrics"
	conversionmetrics "sigs.k8s.io/controller-runtime/pkg/webhook/conversion/metrics"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Metric names, all prefixed consul_peering_guard_.
const (
	metricDuration   = "consul_peering_guard_admission_duration_seconds"
	metricReviews    = "consul_peering_guard_admission_reviews_total"
	metricViolations = "consul_peering_guard_rule_violations_total"
	metricSynced     = "consul_peering_guard_cache_synced"
	metricAudit      = "consul_peering_guard_audit_violations"
)

// durationBuckets spans 50µs to 100ms: our own time is well under a millisecond, so the
// decade buckets of controller-runtime's webhook histogram cannot show it.
var durationBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1}

// Metrics are the webhook's Prometheus metrics.
type Metrics struct {
	duration   *prometheus.HistogramVec
	reviews    *prometheus.CounterVec
	violations *prometheus.CounterVec
	errored    *prometheus.CounterVec
	// CacheSynced is 1 once every informer the rules read has synced.
	CacheSynced prometheus.Gauge
	// AuditViolations holds the violations the last audit found, by rule and action.
	AuditViolations *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg (controller-runtime's
// metrics.Registry in production, a fresh registry in tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: metricDuration, Help: "Time the rule engine spent on one admission review, by kind and operation.",
			Buckets: durationBuckets,
		}, []string{"kind", "operation"}),
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricReviews, Help: "Admission reviews answered, by kind, operation and verdict (allowed or denied).",
		}, []string{"kind", "operation", "verdict"}),
		violations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricViolations, Help: "Rule violations found at admission, by kind, operation, rule and action.",
		}, []string{"kind", "operation", "rule", "action"}),
		errored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consul_peering_guard_admission_errors_total", Help: "Requests answered with an error instead of a verdict (malformed, wrong kind, too large, internal), by kind and code.",
		}, []string{"kind", "code"}),
		CacheSynced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricSynced, Help: "1 when the informer caches the state rules read have synced, else 0.",
		}),
		AuditViolations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricAudit, Help: "Violations found by the last periodic audit, by rule and action.",
		}, []string{"rule", "action"}),
	}
	reg.MustRegister(m.duration, m.reviews, m.violations, m.errored, m.CacheSynced, m.AuditViolations)
	// Our handler replaces controller-runtime's admission.Webhook, whose panic counter is
	// registered (at zero) by importing its package: a panic here is recovered and counted
	// in admission_errors_total with code 500 instead. We serve no conversion webhook, so
	// its panic counter, registered the same way, would always read zero.
	reg.Unregister(admissionmetrics.WebhookPanics)
	reg.Unregister(conversionmetrics.WebhookPanics)
	m.initialise()
	return m
}

// errorCodes are the codes the handler answers a request with instead of a verdict.
var errorCodes = []int32{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusTooManyRequests, http.StatusInternalServerError}

// initialise creates every series of the review metrics at zero, so that they are scraped
// from the start, before the first review: a dashboard or an alert on a rate sees 0, not
// "no data", and a first denial is an increase from 0 that rate() can see.
func (m *Metrics) initialise() {
	for _, k := range kinds.All {
		kind := string(k)
		for _, code := range errorCodes {
			m.errored.WithLabelValues(kind, strconv.Itoa(int(code)))
		}
		for _, op := range []validators.Operation{validators.Create, validators.Update} {
			m.duration.WithLabelValues(kind, string(op))
			m.reviews.WithLabelValues(kind, string(op), "allowed")
			m.reviews.WithLabelValues(kind, string(op), "denied")
			for _, r := range validators.Catalogue() {
				if !r.AppliesTo(k) {
					continue
				}
				// A deny rule also reports warnings (ratcheted or pending on a gateway).
				m.violations.WithLabelValues(kind, string(op), r.Name, string(validators.Deny))
				m.violations.WithLabelValues(kind, string(op), r.Name, string(validators.Warn))
			}
		}
	}
}

func (m *Metrics) observe(kind kinds.Kind, op validators.Operation, res *validators.Result, took time.Duration) {
	if m == nil {
		return
	}
	k, o := string(kind), string(op)
	m.duration.WithLabelValues(k, o).Observe(took.Seconds())
	verdict := "allowed"
	if !res.Allowed() {
		verdict = "denied"
	}
	m.reviews.WithLabelValues(k, o, verdict).Inc()
	for _, v := range res.Violations {
		m.violations.WithLabelValues(k, o, v.Rule, string(v.Action)).Inc()
	}
}

func (m *Metrics) countError(kind kinds.Kind, code int32) {
	if m != nil {
		m.errored.WithLabelValues(string(kind), strconv.Itoa(int(code))).Inc()
	}
}

// StateCounter is what the state metrics read: the informer-fed index.
type StateCounter interface {
	Count(kind kinds.Kind) int
	ReadyGateways() int
	NotReadyGateways() int
}

// RegisterStateMetrics exports what the state rules currently see: objects per kind and
// ready mesh gateways. An operator compares them with kubectl to spot a stale cache.
func RegisterStateMetrics(reg prometheus.Registerer, st StateCounter) {
	for _, k := range kinds.Watched {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "consul_peering_guard_state_objects", Help: "Objects of each kind in the webhook's state index.",
			ConstLabels: prometheus.Labels{"kind": string(k)},
		}, func() float64 { return float64(st.Count(k)) }))
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "consul_peering_guard_mesh_gateways_ready", Help: "Mesh gateway Deployments with at least one ready replica.",
	}, func() float64 { return float64(st.ReadyGateways()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "consul_peering_guard_mesh_gateways_not_ready", Help: "Mesh gateway Deployments that ask for replicas, none ready yet (rules needing a gateway warn).",
	}, func() float64 { return float64(st.NotReadyGateways()) }))
}

// ServerState is what the serving metrics read: the webhook's TLS server.
type ServerState interface {
	Serving() bool
	CertificateNotAfter() time.Time
}

// RegisterServerMetrics exports whether the webhook serves (0 before start and while it
// drains on shutdown) and when its serving certificate expires, so an expiring or stale
// certificate alerts before the API server starts refusing writes.
func RegisterServerMetrics(reg prometheus.Registerer, s ServerState) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "consul_peering_guard_webhook_serving", Help: "1 while the webhook's TLS server accepts reviews, 0 before start and while shutting down.",
		}, func() float64 {
			if s.Serving() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "consul_peering_guard_serving_certificate_expiry_timestamp_seconds", Help: "Unix time at which the certificate the webhook serves expires.",
		}, func() float64 {
			t := s.CertificateNotAfter()
			if t.IsZero() {
				return 0
			}
			return float64(t.Unix())
		}),
	)
}
