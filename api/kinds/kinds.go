// Package kinds is what consul-peering-guard knows about each kind it validates: its name, Go
// type, API group and version and resource, and the scheme that decodes them all.
package kinds

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// Kind is one of the kinds the engine validates, spelled as its Kubernetes Kind.
type Kind string

// The consul.hashicorp.com kinds.
const (
	Mesh             Kind = "Mesh"
	ProxyDefaults    Kind = "ProxyDefaults"
	ServiceDefaults  Kind = "ServiceDefaults"
	ExportedServices Kind = "ExportedServices"
	PeeringAcceptor  Kind = "PeeringAcceptor"
	PeeringDialer    Kind = "PeeringDialer"
	// The config entries that name peers (section 7 of the specification). Their CRDs may
	// be absent; the state rules never read them.
	ServiceResolver   Kind = "ServiceResolver"
	ServiceIntentions Kind = "ServiceIntentions"
	SamenessGroup     Kind = "SamenessGroup"
)

// The workload kinds whose pods may carry the upstreams annotation (section 6 of the
// specification): bare Pods and the pod templates of the controllers that create pods.
const (
	Pod         Kind = "Pod"
	Deployment  Kind = "Deployment"
	StatefulSet Kind = "StatefulSet"
	DaemonSet   Kind = "DaemonSet"
	ReplicaSet  Kind = "ReplicaSet"
	Job         Kind = "Job"
	CronJob     Kind = "CronJob"
)

// Consul lists every validated Consul kind in a stable order: the six of the peering
// specification, then the config entries that only name peers.
var Consul = []Kind{Mesh, ProxyDefaults, ServiceDefaults, ExportedServices, PeeringAcceptor, PeeringDialer,
	ServiceResolver, ServiceIntentions, SamenessGroup}

// Workloads lists the workload kinds in a stable order.
var Workloads = []Kind{Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob}

// Of returns the kind of a typed object, or false when it is not one of ours.
func Of(obj runtime.Object) (Kind, bool) {
	switch obj.(type) {
	case *v1alpha1.Mesh:
		return Mesh, true
	case *v1alpha1.ProxyDefaults:
		return ProxyDefaults, true
	case *v1alpha1.ServiceDefaults:
		return ServiceDefaults, true
	case *v1alpha1.ExportedServices:
		return ExportedServices, true
	case *v1alpha1.PeeringAcceptor:
		return PeeringAcceptor, true
	case *v1alpha1.PeeringDialer:
		return PeeringDialer, true
	case *v1alpha1.ServiceResolver:
		return ServiceResolver, true
	case *v1alpha1.ServiceIntentions:
		return ServiceIntentions, true
	case *v1alpha1.SamenessGroup:
		return SamenessGroup, true
	case *corev1.Pod:
		return Pod, true
	case *appsv1.Deployment:
		return Deployment, true
	case *appsv1.StatefulSet:
		return StatefulSet, true
	case *appsv1.DaemonSet:
		return DaemonSet, true
	case *appsv1.ReplicaSet:
		return ReplicaSet, true
	case *batchv1.Job:
		return Job, true
	case *batchv1.CronJob:
		return CronJob, true
	}
	return "", false
}

// New returns an empty typed object of the kind.
func New(kind Kind) (runtime.Object, bool) {
	switch kind {
	case Mesh:
		return &v1alpha1.Mesh{}, true
	case ProxyDefaults:
		return &v1alpha1.ProxyDefaults{}, true
	case ServiceDefaults:
		return &v1alpha1.ServiceDefaults{}, true
	case ExportedServices:
		return &v1alpha1.ExportedServices{}, true
	case PeeringAcceptor:
		return &v1alpha1.PeeringAcceptor{}, true
	case PeeringDialer:
		return &v1alpha1.PeeringDialer{}, true
	case ServiceResolver:
		return &v1alpha1.ServiceResolver{}, true
	case ServiceIntentions:
		return &v1alpha1.ServiceIntentions{}, true
	case SamenessGroup:
		return &v1alpha1.SamenessGroup{}, true
	case Pod:
		return &corev1.Pod{}, true
	case Deployment:
		return &appsv1.Deployment{}, true
	case StatefulSet:
		return &appsv1.StatefulSet{}, true
	case DaemonSet:
		return &appsv1.DaemonSet{}, true
	case ReplicaSet:
		return &appsv1.ReplicaSet{}, true
	case Job:
		return &batchv1.Job{}, true
	case CronJob:
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
	kind, ok := Of(obj)
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
