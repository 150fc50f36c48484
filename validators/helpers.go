package validators

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// Gateway modes Consul accepts; "" inherits.
const (
	modeLocal  = "local"
	modeRemote = "remote"
	modeNone   = "none"
)

var (
	specPath      = field.NewPath("spec")
	namePath      = field.NewPath("metadata", "name")
	overridesPath = specPath.Child("upstreamConfig", "overrides")
	defaultsPath  = specPath.Child("upstreamConfig", "defaults")
	servicesPath  = specPath.Child("services")
	peerSecretPth = specPath.Child("peer", "secret")
)

func metaOf(obj runtime.Object) metav1.Object {
	if m, ok := obj.(metav1.Object); ok {
		return m
	}
	return &metav1.ObjectMeta{}
}

// othersThan drops self from refs.
func othersThan(self kinds.ObjectRef, refs []kinds.ObjectRef) []kinds.ObjectRef {
	var out []kinds.ObjectRef
	for _, r := range refs {
		if r != self {
			out = append(out, r)
		}
	}
	return out
}

// ValidPeerName reports whether s is a name Consul accepts for a peer, as Consul checks it
// when a token is generated or a peering established: a DNS label of letters (either case),
// digits and dashes, 1 to 63 characters, not starting or ending in a dash. Upper case is
// valid: peerings made with the Consul CLI, API or UI may be called "DC2".
func ValidPeerName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// Messages of rules in several families; a rule's own messages are beside its check.
const (
	peerNameHint     = "use letters, digits and '-', at most 63, starting and ending with a letter or digit"
	unknownPeer      = "no PeeringAcceptor or PeeringDialer has this name"
	msgNamespacesOff = "Consul namespaces are off; remove it or enable namespaces"
)

// withDetail sets the message of an error whose constructor takes none (NotFound, Duplicate).
func withDetail(fe *field.Error, detail string) *field.Error {
	fe.Detail = detail
	return fe
}
