package validators

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// Kind is one of the consul.hashicorp.com kinds the engine validates.
type Kind string

// The kinds, spelled as their Kubernetes Kind.
const (
	KindMesh             Kind = "Mesh"
	KindProxyDefaults    Kind = "ProxyDefaults"
	KindServiceDefaults  Kind = "ServiceDefaults"
	KindExportedServices Kind = "ExportedServices"
	KindPeeringAcceptor  Kind = "PeeringAcceptor"
	KindPeeringDialer    Kind = "PeeringDialer"
	// The config entries that name peers (section 7 of the specification). Their CRDs may
	// be absent; the state rules never read them.
	KindServiceResolver   Kind = "ServiceResolver"
	KindServiceIntentions Kind = "ServiceIntentions"
	KindSamenessGroup     Kind = "SamenessGroup"
)

// StateKinds are the kinds the state index is fed from, in a stable order: the ones the state
// rules read (the singletons, ProxyDefaults' mode, the exports to peers, the peers). No rule
// reads other ServiceDefaults, so the webhook does not cache them: they are the many.
var StateKinds = []Kind{KindMesh, KindProxyDefaults, KindExportedServices, KindPeeringAcceptor, KindPeeringDialer}

// Kinds lists every validated Consul kind in a stable order: the six of the peering
// specification, then the config entries that only name peers.
var Kinds = []Kind{KindMesh, KindProxyDefaults, KindServiceDefaults, KindExportedServices, KindPeeringAcceptor, KindPeeringDialer,
	KindServiceResolver, KindServiceIntentions, KindSamenessGroup}

// KindOf returns the kind of a typed object, or false when it is not one of ours.
func KindOf(obj runtime.Object) (Kind, bool) {
	switch obj.(type) {
	case *v1alpha1.Mesh:
		return KindMesh, true
	case *v1alpha1.ProxyDefaults:
		return KindProxyDefaults, true
	case *v1alpha1.ServiceDefaults:
		return KindServiceDefaults, true
	case *v1alpha1.ExportedServices:
		return KindExportedServices, true
	case *v1alpha1.PeeringAcceptor:
		return KindPeeringAcceptor, true
	case *v1alpha1.PeeringDialer:
		return KindPeeringDialer, true
	case *v1alpha1.ServiceResolver:
		return KindServiceResolver, true
	case *v1alpha1.ServiceIntentions:
		return KindServiceIntentions, true
	case *v1alpha1.SamenessGroup:
		return KindSamenessGroup, true
	case *corev1.Pod:
		return KindPod, true
	case *appsv1.Deployment:
		return KindDeployment, true
	case *appsv1.StatefulSet:
		return KindStatefulSet, true
	case *appsv1.DaemonSet:
		return KindDaemonSet, true
	case *appsv1.ReplicaSet:
		return KindReplicaSet, true
	case *batchv1.Job:
		return KindJob, true
	case *batchv1.CronJob:
		return KindCronJob, true
	}
	return "", false
}

// NewObject returns an empty typed object of the kind.
func NewObject(kind Kind) (runtime.Object, bool) {
	switch kind {
	case KindMesh:
		return &v1alpha1.Mesh{}, true
	case KindProxyDefaults:
		return &v1alpha1.ProxyDefaults{}, true
	case KindServiceDefaults:
		return &v1alpha1.ServiceDefaults{}, true
	case KindExportedServices:
		return &v1alpha1.ExportedServices{}, true
	case KindPeeringAcceptor:
		return &v1alpha1.PeeringAcceptor{}, true
	case KindPeeringDialer:
		return &v1alpha1.PeeringDialer{}, true
	case KindServiceResolver:
		return &v1alpha1.ServiceResolver{}, true
	case KindServiceIntentions:
		return &v1alpha1.ServiceIntentions{}, true
	case KindSamenessGroup:
		return &v1alpha1.SamenessGroup{}, true
	case KindPod:
		return &corev1.Pod{}, true
	case KindDeployment:
		return &appsv1.Deployment{}, true
	case KindStatefulSet:
		return &appsv1.StatefulSet{}, true
	case KindDaemonSet:
		return &appsv1.DaemonSet{}, true
	case KindReplicaSet:
		return &appsv1.ReplicaSet{}, true
	case KindJob:
		return &batchv1.Job{}, true
	case KindCronJob:
		return &batchv1.CronJob{}, true
	}
	return nil, false
}

// ObjectRef identifies one object of a kind.
type ObjectRef struct {
	Kind      Kind
	Namespace string
	Name      string
}

func (r ObjectRef) String() string {
	return string(r.Kind) + " " + r.Namespace + "/" + r.Name
}

// RefOf names an object of a validated kind, or returns false for any other object.
func RefOf(obj runtime.Object) (ObjectRef, bool) {
	kind, ok := KindOf(obj)
	if !ok {
		return ObjectRef{}, false
	}
	m, ok := obj.(interface {
		GetNamespace() string
		GetName() string
	})
	if !ok {
		return ObjectRef{}, false
	}
	return ObjectRef{Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName()}, true
}
