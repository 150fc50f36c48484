package state

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// StripForIndex is an informer cache transform: it keeps of each watched object only what
// the index reads (its name and namespace, a ProxyDefaults' mode, an ExportedServices'
// peer and sameness-group consumers, a sameness group's first peer member, a gateway Deployment's replicas and ready replicas) and
// drops the rest before the cache stores it, so the webhook's memory grows with the number
// of objects, not with their size (kubectl's last-applied-configuration annotation alone
// repeats every object). Reads that need whole objects, such as the audit, list the API
// server directly.
func StripForIndex(obj any) (any, error) {
	switch o := obj.(type) {
	case *v1alpha1.Mesh:
		return &v1alpha1.Mesh{TypeMeta: o.TypeMeta, ObjectMeta: indexMeta(o.ObjectMeta)}, nil
	case *v1alpha1.ServiceDefaults:
		return &v1alpha1.ServiceDefaults{TypeMeta: o.TypeMeta, ObjectMeta: indexMeta(o.ObjectMeta)}, nil
	case *v1alpha1.PeeringAcceptor:
		return &v1alpha1.PeeringAcceptor{TypeMeta: o.TypeMeta, ObjectMeta: indexMeta(o.ObjectMeta)}, nil
	case *v1alpha1.PeeringDialer:
		return &v1alpha1.PeeringDialer{TypeMeta: o.TypeMeta, ObjectMeta: indexMeta(o.ObjectMeta)}, nil
	case *v1alpha1.SamenessGroup:
		// Whether a member is a peer is all the index reads of the members.
		out := &v1alpha1.SamenessGroup{TypeMeta: o.TypeMeta, ObjectMeta: indexMeta(o.ObjectMeta)}
		for _, m := range o.Spec.Members {
			if m.Peer != "" {
				out.Spec.Members = []v1alpha1.SamenessGroupMember{{Peer: m.Peer}}
				break
			}
		}
		return out, nil
	case *v1alpha1.ProxyDefaults:
		return &v1alpha1.ProxyDefaults{TypeMeta: o.TypeMeta, ObjectMeta: indexMeta(o.ObjectMeta),
			Spec: v1alpha1.ProxyDefaultsSpec{MeshGateway: o.Spec.MeshGateway}}, nil
	case *v1alpha1.ExportedServices:
		out := &v1alpha1.ExportedServices{TypeMeta: o.TypeMeta, ObjectMeta: indexMeta(o.ObjectMeta)}
		// One peer-facing consumer is all the index reads of the exports.
		if c, ok := peerConsumer(o); ok {
			out.Spec.Services = []v1alpha1.ExportedService{{Consumers: []v1alpha1.ServiceConsumer{c}}}
		}
		return out, nil
	case *appsv1.Deployment:
		return &appsv1.Deployment{TypeMeta: o.TypeMeta, ObjectMeta: indexMeta(o.ObjectMeta),
			Spec:   appsv1.DeploymentSpec{Replicas: o.Spec.Replicas},
			Status: appsv1.DeploymentStatus{ReadyReplicas: o.Status.ReadyReplicas}}, nil
	}
	return obj, nil
}

// indexMeta is the metadata the index and the informer machinery need.
func indexMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, DeletionTimestamp: m.DeletionTimestamp}
}
