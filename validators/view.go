package validators

import (
	"iter"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// The view of an object is what rules read of it, built once per review and only for what
// some rule asks: its upstreams (ServiceDefaults overrides, the entries of a workload's
// upstreams annotation, ServiceResolver targets) and gateway modes here, its consumers
// (eachConsumer), its decoded proxy config (decodeProxyConfig). Each part carries its field
// path, so a rule is written once over the part whatever object it came from.

// upstream is one upstream the object names, wherever it is written. The rules of the
// specification judge an annotation entry exactly as an override; only where a finding is
// reported, and how it quotes the upstream, depends on where it is written.
type upstream struct {
	service, namespace, partition, peer string
	// mode is the meshGateway.mode (mesh_gateway_mode) set on the upstream itself.
	mode string
	// toPeer marks an upstream written as a peer's: an override with a peer, an entry in
	// the .peer form (its peer perhaps empty).
	toPeer bool
	// Where it is written: an annotation entry, a resolver target whose peer is at target,
	// else override i of a ServiceDefaults.
	entry    *AnnotationEntry
	target   *field.Path
	override int
}

// eachUpstream yields the upstreams of the object under review, in the order written.
func (in *ObjectInput) eachUpstream() iter.Seq[*upstream] { return each(in.upstreams()) }

// each yields the elements of ups in place.
func each(ups []upstream) iter.Seq[*upstream] {
	return func(yield func(*upstream) bool) {
		for i := range ups {
			if !yield(&ups[i]) {
				return
			}
		}
	}
}

func (in *ObjectInput) upstreams() []upstream {
	if in.upstreamList != nil {
		return *in.upstreamList
	}
	var out []upstream
	if sd, ok := in.Object.(*v1alpha1.ServiceDefaults); ok {
		out = make([]upstream, 0, len(overridesOf(sd)))
		for i, u := range overridesOf(sd) {
			if u != nil {
				out = append(out, upstream{service: u.Name, namespace: u.Namespace, partition: u.Partition, peer: u.Peer,
					mode: u.MeshGateway.Mode, toPeer: u.Peer != "", override: i})
			}
		}
	}
	if sr, ok := in.Object.(*v1alpha1.ServiceResolver); ok {
		out = peerReferences(sr)
	}
	entries := in.annotationEntries()
	out = slices.Grow(out, len(entries))
	for i := range entries {
		e := &entries[i]
		out = append(out, upstream{service: e.Service, namespace: e.Namespace, partition: e.Partition, peer: e.Peer,
			mode: e.MeshGatewayMode, toPeer: e.PeerForm, entry: e})
	}
	in.upstreamList = &out
	return out
}

// upstreamPath is where a finding about u's field (name, peer, meshGateway.mode) is
// reported: that field of an override, the annotation of an entry, the peer of a target.
func (in *ObjectInput) upstreamPath(u *upstream, fieldPath ...string) *field.Path {
	switch {
	case u.entry != nil:
		return in.annotation.at
	case u.target != nil:
		return u.target
	}
	return overridesPath.Index(u.override).Child(fieldPath[0], fieldPath[1:]...)
}

// upstreamError is an error about u's field: an override's carries the value and
// overrideDetail; an annotation entry's quotes the entry before entryDetail, the value left
// out and the entry identifying the finding.
func (in *ObjectInput) upstreamError(u *upstream, typ field.ErrorType, value any, overrideDetail, entryDetail string, fieldPath ...string) *field.Error {
	if u.entry != nil {
		return in.entryError(u.entry, typ, u.entry.Quoted()+": "+entryDetail)
	}
	return &field.Error{Type: typ, Field: in.upstreamPath(u, fieldPath...).String(), BadValue: value, Detail: overrideDetail}
}

// entryError is an error about an annotation entry, reported at the annotation: the
// message quotes the entry, which identifies the finding across an update.
func (in *ObjectInput) entryError(e *AnnotationEntry, typ field.ErrorType, detail string) *field.Error {
	return in.identify(&field.Error{Type: typ, Field: in.annotation.at.String(), BadValue: field.OmitValueType{}, Detail: detail}, e.Raw)
}

// annotationEntries parses the upstreams annotation of a workload consul-k8s would read,
// once per review; any other object has none.
func (in *ObjectInput) annotationEntries() []AnnotationEntry {
	if !in.annotation.parsed {
		in.annotation.parsed = true
		if t, found := podTemplateOf(in.Object, in.Config); found {
			in.annotation.entries = parseAnnotation(t.meta.Annotations[UpstreamsAnnotation], AnnotationOptions{
				NamespacesEnabled: in.Config.NamespacesEnabled,
				PartitionsEnabled: in.Config.PartitionsEnabled,
				Grammar:           in.Config.AnnotationGrammar,
				ContainerPorts:    ContainerPorts(t.spec),
			})
			in.annotation.at = AnnotationPath(t.at)
		}
	}
	return in.annotation.entries
}

// parseAnnotation is the parser the view reads annotations with (a test counts its calls).
var parseAnnotation = ParseUpstreamAnnotation

// annotationView is a workload's upstreams annotation, parsed.
type annotationView struct {
	parsed  bool
	entries []AnnotationEntry
	// at is the annotation's path, nil when the object has none that consul-k8s reads.
	at *field.Path
}

// elem is consumer i of service svc of an ExportedServices. Its field path is built only
// when a rule reports on it: an object may list thousands of consumers and every rule walks
// them, while rules report few; the path of each service's consumers list is built once per
// review, for all rules.
type elem struct {
	in  *ObjectInput
	svc int
	i   int
}

func (e elem) path() *field.Path { return e.in.consumersPath(e.svc).Index(e.i) }

func (e elem) child(name string) *field.Path { return e.path().Child(name) }

var (
	specModePath     = specPath.Child("meshGateway", "mode")
	defaultsModePath = defaultsPath.Child("meshGateway", "mode")
)

// modeField is a meshGateway.mode of a ProxyDefaults or ServiceDefaults that belongs to no
// one upstream: at spec level, or in upstreamConfig.defaults. Upstreams carry their own.
type modeField struct {
	mode     string
	at       *field.Path
	defaults bool
}

// gatewayModes lists the spec-level mode and the upstream defaults' mode of a ProxyDefaults
// or ServiceDefaults.
func (in *ObjectInput) gatewayModes() []modeField {
	switch o := in.Object.(type) {
	case *v1alpha1.ProxyDefaults:
		return []modeField{{mode: o.Spec.MeshGateway.Mode, at: specModePath}}
	case *v1alpha1.ServiceDefaults:
		modes := []modeField{{mode: o.Spec.MeshGateway.Mode, at: specModePath}}
		if d := defaultsOf(o); d != nil {
			modes = append(modes, modeField{mode: d.MeshGateway.Mode, at: defaultsModePath, defaults: true})
		}
		return modes
	}
	return nil
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

// eachConsumer calls fn with every consumer of an ExportedServices.
func eachConsumer(in *ObjectInput, fn func(p elem, svc *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer)) {
	es, ok := in.Object.(*v1alpha1.ExportedServices)
	if !ok {
		return
	}
	for i := range es.Spec.Services {
		svc := &es.Spec.Services[i]
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
