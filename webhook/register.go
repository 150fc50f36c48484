package webhook

import (
	"net/http"
	"strings"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// PathPrefix is the common prefix of the validation paths of the Consul kinds.
const PathPrefix = "/validate-consul-hashicorp-com-v1alpha1-"

// Path returns the URL path that validates a kind, named as kubebuilder names them:
// /validate-<group with dashes>-<version>-<kind>, e.g. /validate-consul-hashicorp-com-v1alpha1-mesh,
// /validate-apps-v1-deployment, /validate--v1-pod (the core group is empty).
func Path(kind validators.Kind) string {
	gv := GroupVersionOf(kind)
	return "/validate-" + strings.ReplaceAll(gv.Group, ".", "-") + "-" + gv.Version + "-" + strings.ToLower(string(kind))
}

// GroupVersionOf returns the API group and version a kind is served at.
func GroupVersionOf(kind validators.Kind) schema.GroupVersion {
	switch kind {
	case validators.KindPod:
		return corev1.SchemeGroupVersion
	case validators.KindDeployment, validators.KindStatefulSet, validators.KindDaemonSet, validators.KindReplicaSet:
		return appsv1.SchemeGroupVersion
	case validators.KindJob, validators.KindCronJob:
		return batchv1.SchemeGroupVersion
	}
	return v1alpha1.GroupVersion
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
		Path(validators.KindPod):               newReviewer[*corev1.Pod](d, validators.KindPod, c),
		Path(validators.KindDeployment):        newReviewer[*appsv1.Deployment](d, validators.KindDeployment, c),
		Path(validators.KindStatefulSet):       newReviewer[*appsv1.StatefulSet](d, validators.KindStatefulSet, c),
		Path(validators.KindDaemonSet):         newReviewer[*appsv1.DaemonSet](d, validators.KindDaemonSet, c),
		Path(validators.KindReplicaSet):        newReviewer[*appsv1.ReplicaSet](d, validators.KindReplicaSet, c),
		Path(validators.KindJob):               newReviewer[*batchv1.Job](d, validators.KindJob, c),
		Path(validators.KindCronJob):           newReviewer[*batchv1.CronJob](d, validators.KindCronJob, c),
	}
}

func newReviewer[T object](d Deps, kind validators.Kind, c *capacity) http.Handler {
	return &reviewer[T]{kind: kind, gv: GroupVersionOf(kind), engine: d.Engine, state: d.State, log: d.Log.WithName(strings.ToLower(string(kind))),
		metrics: d.Metrics, capacity: c, gate: d.Gate}
}

// Register serves every handler on the webhook server.
func Register(srv ctrlwebhook.Server, d Deps) {
	for path, wh := range Handlers(d) {
		srv.Register(path, wh)
	}
}
