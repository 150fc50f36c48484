package validators

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
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

// elemPath locates an element of a list (overrides[i], services[i].consumers[j]) and builds
// its field.Path only when a rule reports something: the hot path allocates no paths.
type elemPath struct {
	base   *field.Path
	i, j   int
	nested bool
}

// Path is the element's path.
func (e elemPath) Path() *field.Path {
	p := e.base.Index(e.i)
	if e.nested {
		p = p.Child("consumers").Index(e.j)
	}
	return p
}

// Child is the path of a field of the element.
func (e elemPath) Child(name string, more ...string) *field.Path {
	return e.Path().Child(name, more...)
}

// Where a meshGateway.mode field sits.
const (
	inSpec = iota
	inDefaults
	inOverride
)

// modeAt is one meshGateway.mode field of an object.
type modeAt struct {
	mode  string
	where int
	index int
	// peer is set for upstream overrides that target a peer.
	peer string
}

func (m modeAt) override() bool { return m.where == inOverride }

func (m modeAt) path() *field.Path {
	switch m.where {
	case inDefaults:
		return defaultsPath.Child("meshGateway", "mode")
	case inOverride:
		return overridesPath.Index(m.index).Child("meshGateway", "mode")
	}
	return specPath.Child("meshGateway", "mode")
}

// gatewayModes lists every meshGateway.mode field of a ProxyDefaults or ServiceDefaults,
// computed once per Input because four rules read it.
func (in *ObjectInput) gatewayModes() []modeAt {
	if in.modes != nil {
		return *in.modes
	}
	var out []modeAt
	switch o := in.Object.(type) {
	case *v1alpha1.ProxyDefaults:
		out = append(out, modeAt{mode: o.Spec.MeshGateway.Mode, where: inSpec})
	case *v1alpha1.ServiceDefaults:
		out = make([]modeAt, 0, 2+len(overridesOf(o)))
		out = append(out, modeAt{mode: o.Spec.MeshGateway.Mode, where: inSpec})
		if d := defaultsOf(o); d != nil {
			out = append(out, modeAt{mode: d.MeshGateway.Mode, where: inDefaults})
		}
		for i, u := range overridesOf(o) {
			if u == nil {
				continue
			}
			out = append(out, modeAt{mode: u.MeshGateway.Mode, where: inOverride, index: i, peer: u.Peer})
		}
	}
	in.modes = &out
	return out
}

func overridesOf(sd *v1alpha1.ServiceDefaults) []*v1alpha1.Upstream {
	if sd.Spec.UpstreamConfig == nil {
		return nil
	}
	return sd.Spec.UpstreamConfig.Overrides
}

func defaultsOf(sd *v1alpha1.ServiceDefaults) *v1alpha1.Upstream {
	if sd.Spec.UpstreamConfig == nil {
		return nil
	}
	return sd.Spec.UpstreamConfig.Defaults
}

// eachOverride calls fn for every non-null upstream override of a ServiceDefaults.
func eachOverride(in *ObjectInput, fn func(p elemPath, u *v1alpha1.Upstream)) {
	sd, ok := in.Object.(*v1alpha1.ServiceDefaults)
	if !ok {
		return
	}
	for i, u := range overridesOf(sd) {
		if u != nil {
			fn(elemPath{base: overridesPath, i: i}, u)
		}
	}
}

// eachConsumer calls fn for every consumer of an ExportedServices.
func eachConsumer(in *ObjectInput, fn func(p elemPath, svc *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer)) {
	es, ok := in.Object.(*v1alpha1.ExportedServices)
	if !ok {
		return
	}
	for i := range es.Spec.Services {
		svc := &es.Spec.Services[i]
		for j := range svc.Consumers {
			fn(elemPath{base: servicesPath, i: i, j: j, nested: true}, svc, &svc.Consumers[j])
		}
	}
}

func metaOf(obj runtime.Object) metav1.Object {
	if m, ok := obj.(metav1.Object); ok {
		return m
	}
	return &metav1.ObjectMeta{}
}

// othersThan drops self from refs.
func othersThan(self ObjectRef, refs []ObjectRef) []ObjectRef {
	var out []ObjectRef
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

const peerNameHint = "use letters, digits and '-', at most 63, starting and ending with a letter or digit"

const unknownPeer = "no PeeringAcceptor or PeeringDialer has this name"

// withDetail sets the message of an error whose constructor takes none (NotFound, Duplicate).
func withDetail(fe *field.Error, detail string) *field.Error {
	fe.Detail = detail
	return fe
}
