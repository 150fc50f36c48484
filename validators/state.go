package validators

// ClusterState is everything the cross-object ("state") rules may read about the cluster.
// Implementations answer from an index, never by listing, so a rule costs the same with ten
// objects in the cluster as with ten thousand.
type ClusterState interface {
	// PeersNamed returns the PeeringAcceptors and PeeringDialers whose name is peer.
	PeersNamed(peer string) []ObjectRef
	// HasPeer reports whether a PeeringAcceptor or PeeringDialer is named peer.
	HasPeer(peer string) bool
	// AnyPeer reports whether any PeeringAcceptor or PeeringDialer exists.
	AnyPeer() bool
	// ExportsToPeer reports whether an ExportedServices object has a peer or sameness-group consumer.
	ExportsToPeer() bool
	// MeshGatewayPresent reports whether a mesh gateway with a ready replica runs in this
	// cluster, which is this cluster's admin partition.
	MeshGatewayPresent() bool
	// Existing returns the objects of a cluster-singleton kind (Mesh, ProxyDefaults, ExportedServices).
	Existing(kind Kind) []ObjectRef
	// ProxyDefaultsGatewayMode returns spec.meshGateway.mode of the ProxyDefaults, "" when none exists.
	ProxyDefaultsGatewayMode() string
}
