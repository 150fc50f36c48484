package webhook

import (
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// NotSyncedMessage is the message of a review refused because the state the rules read has
// not been loaded yet.
const NotSyncedMessage = "caches not synced: consul-peering-guard has not loaded the cluster state its rules read yet; retry in a few seconds"

// Gate answers the reviews the rules must not judge, before they run: objects in an exempt
// namespace are allowed unchecked (break glass, restores), and while the state index has
// not synced every other review is refused with 503, failing closed instead of judging
// against an empty cluster (which would, say, allow a second ProxyDefaults). DELETE and
// CONNECT pass through: they are always allowed.
type Gate struct {
	exempt   map[string]struct{}
	ready    func() bool
	exempted *prometheus.CounterVec
}

// NewGate returns a Gate. ready reports whether the state index has synced (nil: always);
// reg, when not nil, receives the admission_exempted_total counter.
func NewGate(exemptNamespaces []string, ready func() bool, reg prometheus.Registerer) *Gate {
	g := &Gate{
		exempt: make(map[string]struct{}, len(exemptNamespaces)),
		ready:  ready,
		exempted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consul_peering_guard_admission_exempted_total",
			Help: "Reviews allowed without checking because the object's namespace is exempt (--exempt-namespace), by kind.",
		}, []string{"kind"}),
	}
	for _, ns := range exemptNamespaces {
		g.exempt[ns] = struct{}{}
	}
	if reg != nil {
		reg.MustRegister(g.exempted)
		for _, k := range kinds.All {
			g.exempted.WithLabelValues(string(k)) // scraped at zero from the start
		}
	}
	return g
}

// ExemptNamespaces returns the exempt namespaces, sorted.
func (g *Gate) ExemptNamespaces() []string {
	out := make([]string, 0, len(g.exempt))
	for ns := range g.exempt {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// Check returns the answer to a review that must not reach the rules, or nil. A nil Gate
// lets every review through.
func (g *Gate) Check(kind kinds.Kind, op admissionv1.Operation, namespace string) *admissionv1.AdmissionResponse {
	if g == nil || (op != admissionv1.Create && op != admissionv1.Update) {
		return nil
	}
	if _, ok := g.exempt[namespace]; ok {
		g.exempted.WithLabelValues(string(kind)).Inc()
		return &admissionv1.AdmissionResponse{Allowed: true}
	}
	if g.ready != nil && !g.ready() {
		return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusServiceUnavailable, Reason: metav1.StatusReasonServiceUnavailable,
			Message: NotSyncedMessage,
		}}
	}
	return nil
}
