package validators

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// Kind is one of the six consul.hashicorp.com kinds the engine validates.
type Kind string

// The kinds, spelled as their Kubernetes Kind.
const (
	KindMesh             Kind = "Mesh"
	KindProxyDefaults    Kind = "ProxyDefaults"
	KindServiceDefaults  Kind = "ServiceDefaults"
	KindExportedServices Kind = "ExportedServices"
	KindPeeringAcceptor  Kind = "PeeringAcceptor"
	KindPeeringDialer    Kind = "PeeringDialer"
)

// Kinds lists every validated kind in a stable order.
var Kinds = []Kind{KindMesh, KindProxyDefaults, KindServiceDefaults, KindExportedServices, KindPeeringAcceptor, KindPeeringDialer}

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

// RefOf names an object of the six kinds, or returns false for any other object.
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
