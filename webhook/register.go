package webhook

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// PathPrefix is the common prefix of the validation paths of the Consul kinds.
const PathPrefix = "/validate-consul-hashicorp-com-v1alpha1-"

// NotBeingDeletedCondition is the name of the match condition every webhook entry carries:
// an object being deleted is never sent to the webhook, so removing a finalizer (the last
// write a deleted object gets) succeeds even while no webhook pod answers under
// failurePolicy Fail.
const NotBeingDeletedCondition = "not-being-deleted"

// NotBeingDeletedExpression is its CEL expression. object is null only for DELETE (not
// registered, and allowed anyway), so the expression skips it rather than erroring. It
// cannot be used to bypass the webhook: on CREATE the API server clears a deletionTimestamp
// before validating admission, and on UPDATE it refuses to change one, so only an object the
// API server itself marked for deletion is skipped.
const NotBeingDeletedExpression = "object != null && !has(object.metadata.deletionTimestamp)"

// Path returns the URL path that validates a kind, named as kubebuilder names them:
// /validate-<group with dashes>-<version>-<kind>, e.g. /validate-consul-hashicorp-com-v1alpha1-mesh,
// /validate-apps-v1-deployment, /validate--v1-pod (the core group is empty).
func Path(kind kinds.Kind) string {
	gv := kinds.GroupVersion(kind)
	return "/validate-" + strings.ReplaceAll(gv.Group, ".", "-") + "-" + gv.Version + "-" + strings.ToLower(string(kind))
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
	// MaxInFlight bounds the reviews of all kinds decoded and judged at once and
	// MaxInFlightBytes the request bodies held, charged as their bytes arrive; a review
	// beyond either waits up to InFlightWait for room, then is answered 429. Zero means
	// DefaultMaxInFlight, DefaultMaxInFlightBytes and DefaultInFlightWait (a negative wait
	// means none); the byte bound is never below MaxRequestBytes, so that a review of the
	// largest size can be judged.
	MaxInFlight      int
	MaxInFlightBytes int64
	InFlightWait     time.Duration
	// BodyReadTimeout bounds the arrival of a request body once its headers are in; zero
	// means DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
}

// Handlers returns the admission handler of every kind of the kind table, keyed by its path.
func Handlers(d Deps) map[string]http.Handler {
	reviews, bytes, wait := d.MaxInFlight, max(d.MaxInFlightBytes, MaxRequestBytes), d.InFlightWait
	if reviews <= 0 {
		reviews = DefaultMaxInFlight()
	}
	if d.MaxInFlightBytes <= 0 {
		bytes = DefaultMaxInFlightBytes
	}
	if wait == 0 {
		wait = DefaultInFlightWait
	}
	if d.BodyReadTimeout <= 0 {
		d.BodyReadTimeout = DefaultBodyReadTimeout
	}
	c := newCapacity(reviews, bytes, wait)
	handlers := make(map[string]http.Handler, len(kinds.Table))
	for _, k := range kinds.Table {
		handlers[Path(k.Kind)] = &reviewer{kind: k.Kind, gv: k.GroupVersion, engine: d.Engine, state: d.State,
			log: d.Log.WithName(strings.ToLower(string(k.Kind))), metrics: d.Metrics, capacity: c, gate: d.Gate, bodyTimeout: d.BodyReadTimeout}
	}
	return handlers
}

// Register serves every handler on the webhook server.
func Register(srv ctrlwebhook.Server, d Deps) {
	for path, wh := range Handlers(d) {
		srv.Register(path, wh)
	}
}
