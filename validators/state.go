package validators

import "github.com/consul-peering-guard/consul-peering-guard/api/kinds"

// ClusterState is everything the cross-object ("state") rules may read about the cluster.
// Implementations answer from an index, never by listing, so a rule costs the same with ten
// objects in the cluster as with ten thousand.
type ClusterState interface {
	// PeersNamed returns the PeeringAcceptors and PeeringDialers whose name is peer,
	// compared case-insensitively as Consul indexes peerings by their lower-cased name.
	PeersNamed(peer string) []kinds.ObjectRef
	// HasPeer reports whether a PeeringAcceptor or PeeringDialer is named peer, compared
	// case-insensitively.
	HasPeer(peer string) bool
	// AnyPeer reports whether any PeeringAcceptor or PeeringDialer exists.
	AnyPeer() bool
	// ExportsToPeer reports whether an ExportedServices object has a peer or sameness-group consumer.
	ExportsToPeer() bool
	// MeshGateway says how far the mesh gateway of this cluster (its admin partition) is:
	// missing, present but not ready yet, or ready.
	MeshGateway() GatewayStatus
	// Existing returns the objects of a cluster-singleton kind (Mesh, ProxyDefaults, ExportedServices).
	Existing(kind kinds.Kind) []kinds.ObjectRef
	// Terminating reports whether a PeeringAcceptor or PeeringDialer is being deleted
	// (deletionTimestamp set, consul-k8s's finalizer pending): it no longer holds its name.
	Terminating(ref kinds.ObjectRef) bool
	// SamenessGroup reports whether a SamenessGroup of that name exists and whether one of
	// its members is a peer (else its members are partitions of this Consul).
	SamenessGroup(name string) (found, hasPeer bool)
	// ProxyDefaultsGatewayMode returns spec.meshGateway.mode of the ProxyDefaults, "" when none exists.
	ProxyDefaultsGatewayMode() string
}

// GatewayStatus is how far a cluster's mesh gateway is from being registered in Consul.
type GatewayStatus int

// The gateway statuses, worst first.
const (
	// GatewayMissing: no mesh gateway workload, or only ones scaled to zero.
	GatewayMissing GatewayStatus = iota
	// GatewayNotReady: a workload asks for replicas but none is ready yet. GitOps tools and
	// restores apply the gateway and the objects needing it in one pass; it becomes ready
	// moments later, so rules that need a gateway only warn.
	GatewayNotReady
	// GatewayReady: at least one ready replica, whose dataplane registers the gateway.
	GatewayReady
)

func (s GatewayStatus) String() string {
	switch s {
	case GatewayReady:
		return "ready"
	case GatewayNotReady:
		return "not ready"
	}
	return "missing"
}
