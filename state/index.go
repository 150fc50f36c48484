// Package state keeps the in-memory index of the cluster objects the state rules read. In the
// webhook its Watcher feeds it from informers (a kind whose CRD is missing is looked for again
// until it appears); the offline CLI and the audit feed it from the objects they were given.
// Either way every ClusterState question is a map lookup. StripForIndex trims the informer cache to
// what the index reads, and ConfirmedGateways confirms a missing gateway with a live read.
package state

import (
	"slices"
	"sort"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

type refSet map[kinds.ObjectRef]struct{}

// GatewayRef identifies a mesh gateway Deployment.
type GatewayRef struct {
	Namespace string
	Name      string
}

// Gateway is a mesh gateway Deployment and its status.
type Gateway struct {
	Ref    GatewayRef
	Status validators.GatewayStatus
}

// GatewayOf returns the reference of a mesh gateway Deployment and how far it is: ready
// with at least one ready replica (its pods register the gateway when their dataplane
// starts), not ready while it asks for replicas none of which is ready yet, missing when
// scaled to zero.
func GatewayOf(d *appsv1.Deployment) (GatewayRef, validators.GatewayStatus) {
	ref := GatewayRef{Namespace: d.Namespace, Name: d.Name}
	switch {
	case d.Status.ReadyReplicas >= 1:
		return ref, validators.GatewayReady
	case d.Spec.Replicas != nil && *d.Spec.Replicas == 0:
		return ref, validators.GatewayMissing
	}
	return ref, validators.GatewayNotReady
}

// Index is a concurrency-safe validators.ClusterState.
type Index struct {
	mu sync.RWMutex
	// objects holds every indexed object by kind: singletons, counts and deletes read it.
	objects map[kinds.Kind]refSet
	// peers maps a lower-cased peer name to the acceptors and dialers that carry it.
	peers map[string]refSet
	// proxyDefaultsModes holds spec.meshGateway.mode of each ProxyDefaults.
	proxyDefaultsModes map[kinds.ObjectRef]string
	// peerExporters holds the ExportedServices objects with a peer or sameness-group consumer.
	peerExporters refSet
	// gateways holds the status of every mesh gateway Deployment that is not missing.
	gateways map[GatewayRef]validators.GatewayStatus
	// terminating holds the peering objects being deleted: they no longer hold their name.
	terminating refSet
	// samenessGroups maps a sameness group's name to whether each object of that name has a
	// peer member.
	samenessGroups map[string]map[kinds.ObjectRef]bool
}

var _ validators.ClusterState = (*Index)(nil)

// NewIndex returns an empty index.
func NewIndex() *Index {
	x := &Index{
		objects:            make(map[kinds.Kind]refSet, len(kinds.Watched)),
		peers:              map[string]refSet{},
		proxyDefaultsModes: map[kinds.ObjectRef]string{},
		peerExporters:      refSet{},
		gateways:           map[GatewayRef]validators.GatewayStatus{},
		terminating:        refSet{},
		samenessGroups:     map[string]map[kinds.ObjectRef]bool{},
	}
	for _, k := range kinds.Watched {
		x.objects[k] = refSet{}
	}
	return x
}

// Upsert records (or re-records) an object of a state kind; other objects are ignored.
func (x *Index) Upsert(obj runtime.Object) {
	ref, ok := kinds.RefOf(obj)
	if !ok || x.objects[ref.Kind] == nil {
		return // not a kind the state rules read
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(ref)
	x.objects[ref.Kind][ref] = struct{}{}
	switch o := obj.(type) {
	case *v1alpha1.PeeringAcceptor, *v1alpha1.PeeringDialer:
		key := peerKey(ref.Name)
		set := x.peers[key]
		if set == nil {
			set = refSet{}
			x.peers[key] = set
		}
		set[ref] = struct{}{}
		if o.(interface{ GetDeletionTimestamp() *metav1.Time }).GetDeletionTimestamp() != nil {
			x.terminating[ref] = struct{}{}
		}
	case *v1alpha1.SamenessGroup:
		group := x.samenessGroups[o.Name]
		if group == nil {
			group = map[kinds.ObjectRef]bool{}
			x.samenessGroups[o.Name] = group
		}
		group[ref] = slices.ContainsFunc(o.Spec.Members, func(m v1alpha1.SamenessGroupMember) bool { return m.Peer != "" })
	case *v1alpha1.ProxyDefaults:
		x.proxyDefaultsModes[ref] = o.Spec.MeshGateway.Mode
	case *v1alpha1.ExportedServices:
		if _, ok := peerConsumer(o); ok {
			x.peerExporters[ref] = struct{}{}
		}
	}
}

// Delete forgets an object of a state kind.
func (x *Index) Delete(obj runtime.Object) {
	ref, ok := kinds.RefOf(obj)
	if !ok {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(ref)
}

func (x *Index) remove(ref kinds.ObjectRef) {
	delete(x.objects[ref.Kind], ref)
	if ref.Kind == kinds.PeeringAcceptor || ref.Kind == kinds.PeeringDialer {
		key := peerKey(ref.Name)
		delete(x.peers[key], ref)
		if len(x.peers[key]) == 0 {
			delete(x.peers, key)
		}
	}
	if ref.Kind == kinds.SamenessGroup {
		delete(x.samenessGroups[ref.Name], ref)
		if len(x.samenessGroups[ref.Name]) == 0 {
			delete(x.samenessGroups, ref.Name)
		}
	}
	delete(x.proxyDefaultsModes, ref)
	delete(x.peerExporters, ref)
	delete(x.terminating, ref)
}

// peerConsumer returns the first peer or sameness-group consumer of an ExportedServices,
// false when it exports to neither.
func peerConsumer(es *v1alpha1.ExportedServices) (v1alpha1.ServiceConsumer, bool) {
	for _, svc := range es.Spec.Services {
		for _, c := range svc.Consumers {
			if c.Peer != "" || c.SamenessGroup != "" {
				return c, true
			}
		}
	}
	return v1alpha1.ServiceConsumer{}, false
}

// peerKey is how Consul indexes peerings: by lower-cased name.
func peerKey(name string) string { return strings.ToLower(name) }

// SetGateway records how far a mesh gateway workload is; GatewayMissing forgets it.
func (x *Index) SetGateway(ref GatewayRef, status validators.GatewayStatus) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if status == validators.GatewayMissing {
		delete(x.gateways, ref)
	} else {
		x.gateways[ref] = status
	}
}

// PeersNamed implements validators.ClusterState.
func (x *Index) PeersNamed(peer string) []kinds.ObjectRef {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return sorted(x.peers[peerKey(peer)])
}

// HasPeer implements validators.ClusterState.
func (x *Index) HasPeer(peer string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.peers[peerKey(peer)]) > 0
}

// AnyPeer implements validators.ClusterState.
func (x *Index) AnyPeer() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.peers) > 0
}

// ExportsToPeer implements validators.ClusterState.
func (x *Index) ExportsToPeer() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.peerExporters) > 0
}

// MeshGateway implements validators.ClusterState: the best status of any gateway.
func (x *Index) MeshGateway() validators.GatewayStatus {
	x.mu.RLock()
	defer x.mu.RUnlock()
	best := validators.GatewayMissing
	for _, st := range x.gateways {
		if st > best {
			best = st
		}
	}
	return best
}

// Existing implements validators.ClusterState.
func (x *Index) Existing(kind kinds.Kind) []kinds.ObjectRef {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return sorted(x.objects[kind])
}

// Terminating implements validators.ClusterState.
func (x *Index) Terminating(ref kinds.ObjectRef) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.terminating[ref]
	return ok
}

// SamenessGroup implements validators.ClusterState.
func (x *Index) SamenessGroup(name string) (found, hasPeer bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	group, found := x.samenessGroups[name]
	for _, p := range group {
		hasPeer = hasPeer || p
	}
	return found, hasPeer
}

// ProxyDefaultsGatewayMode implements validators.ClusterState: the mode of the ProxyDefaults
// named global, which is the one Consul uses.
func (x *Index) ProxyDefaultsGatewayMode() string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	// Several can only exist with the singleton rule off; pick one deterministically.
	var chosen *kinds.ObjectRef
	mode := ""
	for ref, m := range x.proxyDefaultsModes {
		if ref.Name == validators.ProxyDefaultsName && (chosen == nil || ref.Namespace < chosen.Namespace) {
			r := ref
			chosen, mode = &r, m
		}
	}
	return mode
}

func sorted(set refSet) []kinds.ObjectRef {
	if len(set) == 0 {
		return nil
	}
	out := make([]kinds.ObjectRef, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Count returns how many objects of a kind the index holds.
func (x *Index) Count(kind kinds.Kind) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.objects[kind])
}

// ReadyGateways returns how many mesh gateway workloads have a ready replica.
func (x *Index) ReadyGateways() int { return x.gatewaysWith(validators.GatewayReady) }

// NotReadyGateways returns how many mesh gateway workloads ask for replicas, none ready yet.
func (x *Index) NotReadyGateways() int { return x.gatewaysWith(validators.GatewayNotReady) }

func (x *Index) gatewaysWith(status validators.GatewayStatus) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	n := 0
	for _, st := range x.gateways {
		if st == status {
			n++
		}
	}
	return n
}
