package webhook

import (
	"net/http"
	"strings"

	"github.com/go-logr/logr"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// PathPrefix is the common prefix of the six validation paths.
const PathPrefix = "/validate-consul-hashicorp-com-v1alpha1-"

// Path returns the URL path that validates a kind, e.g. /validate-consul-hashicorp-com-v1alpha1-mesh.
func Path(kind validators.Kind) string {
	return PathPrefix + strings.ToLower(string(kind))
}

// Deps is what the reviewers need.
type Deps struct {
	Engine  *validators.Engine
	State   validators.ClusterState
	Log     logr.Logger
	Metrics *Metrics
	// Gate answers exempt namespaces and refuses reviews until the state has synced; nil
	// lets every review reach the rules.
	Gate *Gate
	// MaxInFlight bounds the reviews of all kinds served at once and MaxInFlightBytes their
	// request bodies; beyond either, reviews are answered 429 at once. Zero means
	// DefaultMaxInFlight and DefaultMaxInFlightBytes; the byte bound is never below
	// MaxRequestBytes, so that a review of the largest size can be judged.
	MaxInFlight      int
	MaxInFlightBytes int64
}

// Handlers returns the admission handler of every kind, keyed by its path.
func Handlers(d Deps) map[string]http.Handler {
	c := &capacity{maxReviews: int64(d.MaxInFlight), maxBytes: max(d.MaxInFlightBytes, MaxRequestBytes)}
	if c.maxReviews <= 0 {
		c.maxReviews = int64(DefaultMaxInFlight())
	}
	if d.MaxInFlightBytes <= 0 {
		c.maxBytes = DefaultMaxInFlightBytes
	}
	return map[string]http.Handler{
		Path(validators.KindMesh):              newReviewer[*v1alpha1.Mesh](d, validators.KindMesh, c),
		Path(validators.KindProxyDefaults):     newReviewer[*v1alpha1.ProxyDefaults](d, validators.KindProxyDefaults, c),
		Path(validators.KindServiceDefaults):   newReviewer[*v1alpha1.ServiceDefaults](d, validators.KindServiceDefaults, c),
		Path(validators.KindExportedServices):  newReviewer[*v1alpha1.ExportedServices](d, validators.KindExportedServices, c),
		Path(validators.KindPeeringAcceptor):   newReviewer[*v1alpha1.PeeringAcceptor](d, validators.KindPeeringAcceptor, c),
		Path(validators.KindPeeringDialer):     newReviewer[*v1alpha1.PeeringDialer](d, validators.KindPeeringDialer, c),
		Path(validators.KindServiceResolver):   newReviewer[*v1alpha1.ServiceResolver](d, validators.KindServiceResolver, c),
		Path(validators.KindServiceIntentions): newReviewer[*v1alpha1.ServiceIntentions](d, validators.KindServiceIntentions, c),
		Path(validators.KindSamenessGroup):     newReviewer[*v1alpha1.SamenessGroup](d, validators.KindSamenessGroup, c),
	}
}

func newReviewer[T object](d Deps, kind validators.Kind, c *capacity) http.Handler {
	return &reviewer[T]{kind: kind, engine: d.Engine, state: d.State, log: d.Log.WithName(strings.ToLower(string(kind))),
		metrics: d.Metrics, capacity: c, gate: d.Gate}
}

// Register serves every handler on the webhook server.
func Register(srv ctrlwebhook.Server, d Deps) {
	for path, wh := range Handlers(d) {
		srv.Register(path, wh)
	}
}
