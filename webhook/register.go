package webhook

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
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

// Handlers returns the admission handler of every kind, keyed by its path.
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
	return map[string]http.Handler{
		Path(kinds.Mesh):              newReviewer[*v1alpha1.Mesh](d, kinds.Mesh, c),
		Path(kinds.ProxyDefaults):     newReviewer[*v1alpha1.ProxyDefaults](d, kinds.ProxyDefaults, c),
		Path(kinds.ServiceDefaults):   newReviewer[*v1alpha1.ServiceDefaults](d, kinds.ServiceDefaults, c),
		Path(kinds.ExportedServices):  newReviewer[*v1alpha1.ExportedServices](d, kinds.ExportedServices, c),
		Path(kinds.PeeringAcceptor):   newReviewer[*v1alpha1.PeeringAcceptor](d, kinds.PeeringAcceptor, c),
		Path(kinds.PeeringDialer):     newReviewer[*v1alpha1.PeeringDialer](d, kinds.PeeringDialer, c),
		Path(kinds.ServiceResolver):   newReviewer[*v1alpha1.ServiceResolver](d, kinds.ServiceResolver, c),
		Path(kinds.ServiceIntentions): newReviewer[*v1alpha1.ServiceIntentions](d, kinds.ServiceIntentions, c),
		Path(kinds.SamenessGroup):     newReviewer[*v1alpha1.SamenessGroup](d, kinds.SamenessGroup, c),
		Path(kinds.Pod):               newReviewer[*corev1.Pod](d, kinds.Pod, c),
		Path(kinds.Deployment):        newReviewer[*appsv1.Deployment](d, kinds.Deployment, c),
		Path(kinds.StatefulSet):       newReviewer[*appsv1.StatefulSet](d, kinds.StatefulSet, c),
		Path(kinds.DaemonSet):         newReviewer[*appsv1.DaemonSet](d, kinds.DaemonSet, c),
		Path(kinds.ReplicaSet):        newReviewer[*appsv1.ReplicaSet](d, kinds.ReplicaSet, c),
		Path(kinds.Job):               newReviewer[*batchv1.Job](d, kinds.Job, c),
		Path(kinds.CronJob):           newReviewer[*batchv1.CronJob](d, kinds.CronJob, c),
	}
}

func newReviewer[T object](d Deps, kind kinds.Kind, c *capacity) http.Handler {
	return &reviewer[T]{kind: kind, gv: kinds.GroupVersion(kind), engine: d.Engine, state: d.State, log: d.Log.WithName(strings.ToLower(string(kind))),
		metrics: d.Metrics, capacity: c, gate: d.Gate, bodyTimeout: d.BodyReadTimeout}
}

// Register serves every handler on the webhook server.
func Register(srv ctrlwebhook.Server, d Deps) {
	for path, wh := range Handlers(d) {
		srv.Register(path, wh)
	}
}
