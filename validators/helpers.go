package validators

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
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

// elem is an element of a list of the object (an override, a consumer). Its field path is
// built only when a rule reports on it: an object may list thousands of elements and every
// rule walks them, while rules report few. It is the package's one lazy path mechanism (for
// consumers, the path of their list is lazy too).
type elem struct {
	list *field.Path
	// With list nil, the element is consumer i of service svc of in's ExportedServices, and
	// that list's path too is built only on a report (once per input, for all rules).
	in  *ObjectInput
	svc int
	i   int
}

func (e elem) path() *field.Path {
	list := e.list
	if list == nil {
		list = e.in.consumersPath(e.svc)
	}
	return list.Index(e.i)
}

func (e elem) child(name string, more ...string) *field.Path { return e.path().Child(name, more...) }

var (
	specModePath     = specPath.Child("meshGateway", "mode")
	defaultsModePath = defaultsPath.Child("meshGateway", "mode")
)

// modeField is one meshGateway.mode of a ProxyDefaults or ServiceDefaults: at spec level,
// in upstreamConfig.defaults, or in an override (upstream set, defaults false).
type modeField struct {
	mode     string
	upstream *v1alpha1.Upstream
	defaults bool
	// at is where the mode is: a fixed path, or the override elem when nil.
	at       *field.Path
	override elem
}

func (m modeField) path() *field.Path {
	if m.at != nil {
		return m.at
	}
	return m.override.child("meshGateway", "mode")
}

// isOverride reports whether the mode is that of an upstream override.
func (m modeField) isOverride() bool { return m.upstream != nil && !m.defaults }

// peer is the peer of the override the mode belongs to, "" elsewhere.
func (m modeField) peer() string {
	if !m.isOverride() {
		return ""
	}
	return m.upstream.Peer
}

// gatewayModes lists every meshGateway.mode field of a ProxyDefaults or ServiceDefaults,
// computed once per input because four rules read it.
func (in *ObjectInput) gatewayModes() []modeField {
	if in.modesRead {
		return in.modes
	}
	var out []modeField
	switch o := in.Object.(type) {
	case *v1alpha1.ProxyDefaults:
		out = append(out, modeField{mode: o.Spec.MeshGateway.Mode, at: specModePath})
	case *v1alpha1.ServiceDefaults:
		out = make([]modeField, 0, 2+len(overridesOf(o)))
		out = append(out, modeField{mode: o.Spec.MeshGateway.Mode, at: specModePath})
		if d := defaultsOf(o); d != nil {
			out = append(out, modeField{mode: d.MeshGateway.Mode, upstream: d, defaults: true, at: defaultsModePath})
		}
		eachOverride(in, func(p elem, u *v1alpha1.Upstream) {
			out = append(out, modeField{mode: u.MeshGateway.Mode, upstream: u, override: p})
		})
	}
	in.modes, in.modesRead = out, true
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

// eachOverride calls fn with every non-null upstream override of a ServiceDefaults.
func eachOverride(in *ObjectInput, fn func(p elem, u *v1alpha1.Upstream)) {
	sd, ok := in.Object.(*v1alpha1.ServiceDefaults)
	if !ok {
		return
	}
	for i, u := range overridesOf(sd) {
		if u != nil {
			fn(elem{list: overridesPath, i: i}, u)
		}
	}
}

// eachConsumer calls fn with every consumer of an ExportedServices.
func eachConsumer(in *ObjectInput, fn func(p elem, svc *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer)) {
	es, ok := in.Object.(*v1alpha1.ExportedServices)
	if !ok {
		return
	}
	for i := range es.Spec.Services {
		svc := &es.Spec.Services[i]
		if len(svc.Consumers) == 0 {
			continue
		}
		for j := range svc.Consumers {
			fn(elem{in: in, svc: i, i: j}, svc, &svc.Consumers[j])
		}
	}
}

// consumersPath is spec.services[i].consumers of the input's ExportedServices, built once per
// input for all rules. Only eachConsumer makes the elems that call it, always on an
// ExportedServices input.
func (in *ObjectInput) consumersPath(i int) *field.Path {
	if in.consumerLists == nil {
		in.consumerLists = make([]*field.Path, len(in.Object.(*v1alpha1.ExportedServices).Spec.Services))
	}
	if in.consumerLists[i] == nil {
		in.consumerLists[i] = servicesPath.Index(i).Child("consumers")
	}
	return in.consumerLists[i]
}

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

const peerNameHint = "use letters, digits and '-', at most 63, starting and ending with a letter or digit"

const unknownPeer = "no PeeringAcceptor or PeeringDialer has this name"

// withDetail sets the message of an error whose constructor takes none (NotFound, Duplicate).
func withDetail(fe *field.Error, detail string) *field.Error {
	fe.Detail = detail
	return fe
}
