package validators

import (
	"cmp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// ClusterSource is what `check` knows about one cluster: its name, its configuration and
// its objects, from manifests or from a live API server.
type ClusterSource struct {
	// Name is how the other clusters' acceptors and dialers call this cluster.
	Name   string
	Config *Config
	// Peers maps a local peer name to the cluster it reaches where the two names differ.
	Peers   map[string]string
	Objects []runtime.Object
	Gateway GatewayStatus
	// Tokens holds, per PeeringAcceptor or PeeringDialer, a digest of the peering token in
	// its Secret (never the token): equal digests on two clusters pair the two objects
	// whatever they are called.
	Tokens map[kinds.ObjectRef]string
}

// ClusterView is one cluster reduced to what pairing reads: its peerings, what it exports
// and what it imports. It is built once per cluster and never changes.
type ClusterView struct {
	Name    string
	Config  *Config
	Peers   map[string]string // lower-cased local peer name -> cluster name
	Gateway GatewayStatus
	// PeerObjects are the acceptors and dialers, in a stable order.
	PeerObjects []PeerObject
	Exports     []Export
	Imports     []Import
	// PeerIntentions are the ServiceIntentions sources in a peer that are not denied: with
	// transparent proxy a peer dials an exported service without naming it anywhere, and
	// the intention letting it in is the only trace of the import on the exporting side.
	PeerIntentions []PeerIntention
}

// PeerIntention lets a source in a peer reach a destination service of this cluster.
type PeerIntention struct {
	Service, Namespace, Peer string
}

// PeerObject is a PeeringAcceptor or PeeringDialer; Ref.Name is the Consul peer name.
type PeerObject struct {
	Ref kinds.ObjectRef
	// Token is a digest of the peering token, "" when unknown.
	Token string
}

// Import is one place a cluster names a service of a peer: a field of an object.
type Import struct {
	Cluster string
	Object  kinds.ObjectRef
	// Field is the field that names the peer.
	Field     *field.Path
	Peer      string
	Service   string
	Namespace string
	Partition string
	// Mode is the mesh gateway mode the upstream ends up with ("" when nothing sets one) and
	// ModeField where it is set.
	Mode      string
	ModeField *field.Path
}

// Export is one consumer of one exported service.
type Export struct {
	Object kinds.ObjectRef
	// Field is the consumer's peer or samenessGroup field.
	Field         *field.Path
	Service       string
	Namespace     string
	Partition     string
	Peer          string
	SamenessGroup string
}

// NewClusterView extracts the peerings, exports and imports of a cluster.
func NewClusterView(src ClusterSource) *ClusterView {
	cfg := src.Config
	if cfg == nil {
		cfg = &Config{}
	}
	v := &ClusterView{Name: src.Name, Config: cfg, Gateway: src.Gateway, Peers: map[string]string{}}
	for k, c := range src.Peers {
		v.Peers[strings.ToLower(k)] = c
	}
	pdMode := ""
	for _, o := range src.Objects {
		if pd, ok := o.(*v1alpha1.ProxyDefaults); ok {
			pdMode = pd.Spec.MeshGateway.Mode
		}
	}
	for _, o := range src.Objects {
		ref, ok := kinds.RefOf(o)
		if !ok {
			continue
		}
		switch o := o.(type) {
		case *v1alpha1.PeeringAcceptor, *v1alpha1.PeeringDialer:
			v.PeerObjects = append(v.PeerObjects, PeerObject{Ref: ref, Token: src.Tokens[ref]})
		case *v1alpha1.ExportedServices:
			v.Exports = append(v.Exports, exportsOf(ref, o)...)
		case *v1alpha1.ServiceIntentions:
			for _, src := range o.Spec.Sources {
				if src != nil && src.Peer != "" && !strings.EqualFold(src.Action, "deny") {
					v.PeerIntentions = append(v.PeerIntentions, PeerIntention{Service: o.Spec.Destination.Name,
						Namespace: o.Spec.Destination.Namespace, Peer: src.Peer})
				}
			}
		}
		for _, im := range upstreamImports(o, cfg, pdMode) {
			im.Cluster = src.Name
			v.Imports = append(v.Imports, im)
		}
	}
	sort.SliceStable(v.PeerObjects, func(i, j int) bool { return v.PeerObjects[i].Ref.String() < v.PeerObjects[j].Ref.String() })
	return v
}

func exportsOf(ref kinds.ObjectRef, es *v1alpha1.ExportedServices) []Export {
	var out []Export
	eachConsumer(newObjectInput(Create, es, nil, nil), func(p elem, s *v1alpha1.ExportedService, c *v1alpha1.ServiceConsumer) {
		e := Export{Object: ref, Service: s.Name, Namespace: s.Namespace, Partition: ref.Name, Peer: c.Peer, SamenessGroup: c.SamenessGroup}
		switch {
		case c.Peer != "":
			e.Field = p.child("peer")
		case c.SamenessGroup != "":
			e.Field = p.child("samenessGroup")
		default:
			return
		}
		out = append(out, e)
	})
	return out
}

// upstreamImports lists the upstreams of an object that name a peer, wherever a peer import
// can be written: ServiceDefaults overrides, the entries of a workload's upstreams annotation
// (read as the installation's consul-k8s reads it), ServiceResolver redirects and failover
// targets. The mode an upstream ends up with is the first one set of the upstream, the
// upstream defaults, the ServiceDefaults and the ProxyDefaults.
func upstreamImports(obj runtime.Object, cfg *Config, proxyDefaultsMode string) []Import {
	in := newObjectInput(Create, obj, nil, cfg)
	ref, _ := kinds.RefOf(obj)
	modes := in.gatewayModes()
	var out []Import
	for u := range in.eachUpstream() {
		if u.peer == "" || u.entry != nil && u.service == "" {
			continue
		}
		im := Import{Object: ref, Field: in.upstreamPath(u, "peer"), Peer: u.peer, Service: u.service,
			Namespace: u.namespace, Partition: u.partition, Mode: u.mode}
		if u.mode != "" {
			im.ModeField = in.upstreamPath(u, "meshGateway", "mode")
		}
		for i := len(modes) - 1; i >= 0 && im.Mode == ""; i-- { // upstream defaults, then spec
			if modes[i].mode != "" {
				im.Mode, im.ModeField = modes[i].mode, modes[i].at
			}
		}
		im.Mode = cmp.Or(im.Mode, proxyDefaultsMode)
		out = append(out, im)
	}
	return out
}

// PairInput is what a pair check sees: a cluster (Local), one other cluster (Remote) and how
// they name each other. A pair check reports only on Local's objects; CheckPairs runs it
// with each cluster as Local in turn.
type PairInput struct {
	Local, Remote *ClusterView
	// LocalPeers are Local's acceptors and dialers that reach Remote; RemotePeers are
	// Remote's that reach Local.
	LocalPeers, RemotePeers []PeerObject
	// LocalNames are the peer names Local calls Remote by, RemoteNames those Remote calls
	// Local by: the names of the peer objects, or, where a side has none, the names its
	// cluster file maps to the other cluster and the other cluster's own name.
	LocalNames, RemoteNames []string
}

// PairHit is one finding of a pair check on an object of Local.
type PairHit struct {
	Object kinds.ObjectRef
	Error  *field.Error
	// Pending marks a finding that holds only until something on its way happens (a mesh
	// gateway that is not ready yet): it warns instead of denying.
	Pending bool
}

// ImportsFromRemote returns Local's imports that name Remote.
func (in *PairInput) ImportsFromRemote() []Import {
	var out []Import
	for _, im := range in.Local.Imports {
		if containsFold(in.LocalNames, im.Peer) {
			out = append(out, im)
		}
	}
	return out
}

// ExportsToRemote returns Local's peer exports whose consumer names Remote.
func (in *PairInput) ExportsToRemote() []Export {
	var out []Export
	for _, e := range in.Local.Exports {
		if e.Peer != "" && containsFold(in.LocalNames, e.Peer) {
			out = append(out, e)
		}
	}
	return out
}

// Flip returns the same pair seen from Remote.
func (in *PairInput) Flip() *PairInput {
	return &PairInput{Local: in.Remote, Remote: in.Local, LocalPeers: in.RemotePeers, RemotePeers: in.LocalPeers,
		LocalNames: in.RemoteNames, RemoteNames: in.LocalNames}
}

// Related reports whether the two clusters name each other at all.
func (in *PairInput) Related() bool {
	return len(in.LocalPeers) > 0 || len(in.RemotePeers) > 0 || len(in.ImportsFromRemote()) > 0 ||
		len(in.ExportsToRemote()) > 0 || len(in.Flip().ImportsFromRemote()) > 0 || len(in.Flip().ExportsToRemote()) > 0
}

// PairInputs returns one input per ordered pair of distinct clusters that name each other,
// in the order of views.
func PairInputs(views []*ClusterView) []*PairInput {
	byName := make(map[string]*ClusterView, len(views))
	byToken := map[string][]*ClusterView{}
	for _, v := range views {
		byName[strings.ToLower(v.Name)] = v
		for _, p := range v.PeerObjects {
			if p.Token != "" {
				byToken[p.Token] = append(byToken[p.Token], v)
			}
		}
	}
	// reach says which cluster a peer object of v points at, nil when none of those given.
	reach := func(v *ClusterView, p PeerObject) *ClusterView {
		if p.Token != "" {
			others := map[*ClusterView]bool{}
			var other *ClusterView
			for _, w := range byToken[p.Token] {
				if w != v {
					others[w], other = true, w
				}
			}
			if len(others) == 1 {
				return other
			}
		}
		if name, ok := v.Peers[strings.ToLower(p.Ref.Name)]; ok {
			return byName[strings.ToLower(name)]
		}
		if w := byName[strings.ToLower(p.Ref.Name)]; w != v {
			return w
		}
		return nil
	}
	peersTo := func(v, w *ClusterView) []PeerObject {
		var out []PeerObject
		for _, p := range v.PeerObjects {
			if reach(v, p) == w {
				out = append(out, p)
			}
		}
		return out
	}
	namesFor := func(v, w *ClusterView, objs []PeerObject) []string {
		var out []string
		for _, p := range objs {
			out = append(out, p.Ref.Name)
		}
		if len(out) > 0 {
			return out
		}
		for local, c := range v.Peers {
			if strings.EqualFold(c, w.Name) {
				out = append(out, local)
			}
		}
		sort.Strings(out)
		return append(out, w.Name)
	}
	var out []*PairInput
	for _, a := range views {
		for _, b := range views {
			if a == b {
				continue
			}
			in := &PairInput{Local: a, Remote: b, LocalPeers: peersTo(a, b), RemotePeers: peersTo(b, a)}
			in.LocalNames = namesFor(a, b, in.LocalPeers)
			in.RemoteNames = namesFor(b, a, in.RemotePeers)
			if in.Related() {
				out = append(out, in)
			}
		}
	}
	return out
}

// PairViolation is a finding of a pair rule on an object of Cluster, about its peering with Peer.
type PairViolation struct {
	Violation
	Cluster string
	Peer    string
	Object  kinds.ObjectRef
}

// CheckPairs runs every pair rule over every two clusters that name each other. The action
// of a finding is the one the configuration of the cluster holding the object sets.
func CheckPairs(views []*ClusterView) []PairViolation {
	var out []PairViolation
	for _, in := range PairInputs(views) {
		for _, r := range catalogue {
			if !r.ReadsPair() {
				continue
			}
			action := in.Local.Config.ActionFor(r)
			if action == Off {
				continue
			}
			for _, h := range r.pairCheck(in) {
				a := action
				if h.Pending && a == Deny {
					a = Warn
				}
				h.Error.Detail += " (" + r.Name + ")"
				out = append(out, PairViolation{Violation: Violation{Rule: r.Name, Action: a, Error: h.Error},
					Cluster: in.Local.Name, Peer: in.Remote.Name, Object: h.Object})
			}
		}
	}
	return out
}

// Covers reports whether the export satisfies the import for a consumer called by one of
// names, and whether only because of a sameness group (whose members are unknown without
// its SamenessGroup object, so it is given the benefit of the doubt).
func (e Export) Covers(im Import, exporterPartition string, names []string) (covers, viaSameness bool) {
	if !e.matchesService(im, exporterPartition) {
		return false, false
	}
	if e.SamenessGroup != "" {
		return true, true
	}
	return containsFold(names, e.Peer), false
}

func (e Export) matchesService(im Import, exporterPartition string) bool {
	if !strings.EqualFold(e.Partition, cmp.Or(im.Partition, exporterPartition)) {
		return false
	}
	if e.Namespace != "*" && !strings.EqualFold(namespaceOrDefault(e.Namespace), namespaceOrDefault(im.Namespace)) {
		return false
	}
	return e.Service == "*" || strings.EqualFold(e.Service, im.Service)
}

// namespaceOrDefault is the Consul namespace a field means: empty is default.
func namespaceOrDefault(ns string) string { return cmp.Or(ns, "default") }

func containsFold(names []string, s string) bool {
	for _, n := range names {
		if strings.EqualFold(n, s) {
			return true
		}
	}
	return false
}
