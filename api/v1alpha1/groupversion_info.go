// Package v1alpha1 holds our own copy of the consul-k8s `consul.hashicorp.com/v1alpha1`
// types that consul-peering-guard validates. The JSON names mirror consul-k8s field for
// field so that every object the Consul Helm chart's CRDs accept decodes here unchanged.
// Only the types are copied in spirit; behaviour lives in the validators package.
//
// The types mirror the CRDs of consul-k8s 1.6 (v1.6.1 and later, whose Mesh has
// http.incoming.requestNormalization), the Consul Helm chart for Consul 1.20. Fields added by a
// later consul-k8s release are unknown here: the offline CLI reports them as unknown-field, and
// the webhook decodes the fields it knows and passes over the others.
//
// +kubebuilder:object:generate=true
// +groupName=consul.hashicorp.com
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group is the API group of every Consul custom resource.
const Group = "consul.hashicorp.com"

var (
	// GroupVersion is the group and version of the kinds in this package.
	GroupVersion = schema.GroupVersion{Group: Group, Version: "v1alpha1"}

	schemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme registers the kinds of this package with a scheme.
	AddToScheme = schemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&Mesh{}, &MeshList{},
		&ProxyDefaults{}, &ProxyDefaultsList{},
		&ServiceDefaults{}, &ServiceDefaultsList{},
		&ExportedServices{}, &ExportedServicesList{},
		&PeeringAcceptor{}, &PeeringAcceptorList{},
		&PeeringDialer{}, &PeeringDialerList{},
		&ServiceResolver{}, &ServiceResolverList{},
		&ServiceIntentions{}, &ServiceIntentionsList{},
		&SamenessGroup{}, &SamenessGroupList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
