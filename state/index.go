// Package state keeps the in-memory index of cluster objects that the state rules read.
// The webhook feeds it from informer events, the offline CLI and the audit from the objects
// they were given; either way every ClusterState question is a map lookup.
package state

import (
	appsv1 "k8s.io/api/apps/v1"
	"sort"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

type refSet map[validators.ObjectRef]struct{}

// GatewayRef identifies a mesh gateway Deployment.
type GatewayRef struct {
	Namespace string
	Name      string
}

// GatewayOf returns the reference of a mesh gateway Deployment and whether it counts as
// registered in Consul: at least one ready replica (its pods register the gateway when their
// dataplane starts).
func GatewayOf(d *appsv1.Deployment) (GatewayRef, bool) {
	return GatewayRef{Namespace: d.Namespace, Name: d.Name}, d.Status.ReadyReplicas >= 1
}

// Index is a concurrency-safe validators.ClusterState.
type Index struct {
	mu sync.RWMutex
	// objects holds every indexed object by kind: singletons, counts and deletes read it.
	objects map[validators.Kind]refSet
	// peers maps a peer name to the acceptors and dialers that carry it.
	peers map[string]refSet
	// proxyDefaultsModes holds spec.meshGateway.mode of each ProxyDefaults.
	proxyDefaultsModes map[validators.ObjectRef]string
	// peerExporters holds the ExportedServices objects with a peer or sameness-group consumer.
	peerExporters refSet
	// readyGateways holds the mesh gateway Deployments with at least one ready replica.
	readyGateways map[GatewayRef]struct{}
}

var _ validators.ClusterState = (*Index)(nil)

// NewIndex returns an empty index.
func NewIndex() *Index {
	x := &Index{
		objects:            make(map[validators.Kind]refSet, len(validators.Kinds)),
		peers:              map[string]refSet{},
		proxyDefaultsModes: map[validators.ObjectRef]string{},
		peerExporters:      refSet{},
		readyGateways:      map[GatewayRef]struct{}{},
	}
	for _, k := range validators.Kinds {
		x.objects[k] = refSet{}
	}
	return x
}

// Upsert records (or re-records) one of the six kinds; other objects are ignored.
func (x *Index) Upsert(obj runtime.Object) {
	ref, ok := validators.RefOf(obj)
	if !ok {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(ref)
	x.objects[ref.Kind][ref] = struct{}{}
	switch o := obj.(type) {
	case *v1alpha1.PeeringAcceptor, *v1alpha1.PeeringDialer:
		set := x.peers[ref.Name]
		if set == nil {
			set = refSet{}
			x.peers[ref.Name] = set
		}
		set[ref] = struct{}{}
	case *v1alpha1.ProxyDefaults:
		x.proxyDefaultsModes[ref] = o.Spec.MeshGateway.Mode
	case *v1alpha1.ExportedServices:
		if exportsToPeer(o) {
			x.peerExporters[ref] = struct{}{}
		}
	}
}

// Delete forgets an object of the six kinds.
func (x *Index) Delete(obj runtime.Object) {
	ref, ok := validators.RefOf(obj)
	if !ok {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.remove(ref)
}

func (x *Index) remove(ref validators.ObjectRef) {
	delete(x.objects[ref.Kind], ref)
	if set := x.peers[ref.Name]; set != nil {
		delete(set, ref)
		if len(set) == 0 {
			delete(x.peers, ref.Name)
		}
	}
	delete(x.proxyDefaultsModes, ref)
	delete(x.peerExporters, ref)
}

func exportsToPeer(es *v1alpha1.ExportedServices) bool {
	for _, svc := range es.Spec.Services {
		for _, c := range svc.Consumers {
			if c.Peer != "" || c.SamenessGroup != "" {
				return true
			}
		}
	}
	return false
}

// SetGateway records whether a mesh gateway workload has a ready replica.
func (x *Index) SetGateway(ref GatewayRef, ready bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if ready {
		x.readyGateways[ref] = struct{}{}
	} else {
		delete(x.readyGateways, ref)
	}
}

// PeersNamed implements validators.ClusterState.
func (x *Index) PeersNamed(peer string) []validators.ObjectRef {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return sorted(x.peers[peer])
}

// HasPeer implements validators.ClusterState.
func (x *Index) HasPeer(peer string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.peers[peer]) > 0
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

// MeshGatewayPresent implements validators.ClusterState.
func (x *Index) MeshGatewayPresent() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.readyGateways) > 0
}

// Existing implements validators.ClusterState.
func (x *Index) Existing(kind validators.Kind) []validators.ObjectRef {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return sorted(x.objects[kind])
}

// ProxyDefaultsGatewayMode implements validators.ClusterState: the mode of the ProxyDefaults
// named global, which is the one Consul uses.
func (x *Index) ProxyDefaultsGatewayMode() string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	// Several can only exist with the singleton rule off; pick one deterministically.
	var chosen *validators.ObjectRef
	mode := ""
	for ref, m := range x.proxyDefaultsModes {
		if ref.Name == validators.ProxyDefaultsName && (chosen == nil || ref.Namespace < chosen.Namespace) {
			r := ref
			chosen, mode = &r, m
		}
	}
	return mode
}

func sorted(set refSet) []validators.ObjectRef {
	if len(set) == 0 {
		return nil
	}
	out := make([]validators.ObjectRef, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Count returns how many objects of a kind the index holds.
func (x *Index) Count(kind validators.Kind) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.objects[kind])
}

// ReadyGateways returns how many mesh gateway workloads have a ready replica.
func (x *Index) ReadyGateways() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.readyGateways)
}
