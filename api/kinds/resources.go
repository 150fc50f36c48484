package kinds

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// GroupVersion returns the API group and version a kind is served at.
func GroupVersion(kind Kind) schema.GroupVersion { return byKind[kind].GroupVersion }

// Plural returns the resource name of a kind (meshes, proxydefaults, ...).
func Plural(kind Kind) string { return byKind[kind].Plural }

// NewScheme returns a scheme of the built-in Kubernetes types and our Consul types: every
// kind here and the objects around them.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err) // static registration of built-in types cannot fail at runtime
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}
