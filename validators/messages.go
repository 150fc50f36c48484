package validators

// The messages of the rules that also run as ValidatingAdmissionPolicies, written once: the
// Go check and its CEL (cel.go) both use them, %s and %q through fmt.Sprintf and celFormat.
const (
	msgGatewayModeNonePeer             = "peer %q is reached only through mesh gateways; use remote or local"
	msgPartitionPlacement              = "must be this cluster's admin partition %q, where its services and mesh gateway run"
	msgPeerThroughDefaultPartition     = "Consul reads it only in the default partition, this cluster is %q; set it there"
	msgUpstreamNameRequired            = "name the upstream service this override configures"
	msgDefaultsNoDestination           = "defaults apply to every upstream; move it to an override"
	msgPeerPartitionExclusive          = "an upstream is in a peer or in a partition; remove one"
	msgNamespacesOff                   = "Consul namespaces are off; remove it or enable namespaces"
	msgPartitionsOffUpstream           = "admin partitions are off; remove it or enable partitions"
	msgNamespaceDefaultRedundant       = "default is implied for peers; omit it"
	msgWildcardUpstreamName            = "overrides name one service; use defaults for all"
	msgWildcardUpstreamNamespace       = "overrides name one namespace"
	msgNoServices                      = "list at least one service with its consumers"
	msgNoConsumers                     = "list the peers or partitions that may use it"
	msgServiceNameRequired             = "name the service to export, or * for all"
	msgNamespaceWildcardNeedsName      = "namespace * needs name *; name the namespace"
	msgConsumerNone                    = "set one of peer, partition or samenessGroup"
	msgConsumerSeveral                 = "set only one of peer, partition or samenessGroup"
	msgConsumerWildcard                = "name each %s; Consul has no wildcard %s"
	msgPartitionsOffConsumer           = "admin partitions are off; export to a peer instead"
	msgSamenessConsumerNeedsEnterprise = "sameness groups need Consul Enterprise, the edition is ce; export to each peer instead"
	msgSamenessGroupNeedsEnterprise    = "sameness groups need Consul Enterprise, the edition is ce; consul-k8s cannot sync it"
	msgExportConsulService             = "Consul never exports the consul service to peers; remove it"
	msgSingletonName                   = "%s must be named %q"
	msgPeerName                        = "the name is the Consul peer name; " + peerNameHint
	msgPeerRequired                    = "set peer.secret with name, key and backend kubernetes"
	msgPeerFieldsRequired              = "set name, key and backend kubernetes"
	msgSecretName                      = "name the Secret that holds the peering token"
	msgSecretKey                       = "name the key of the token in that Secret"
	msgSecretBackendLocked             = "the backend cannot change from %q; keep it or recreate the peering"
	msgConsulVersion                   = "%s needs Consul %s+, configured version is %s"
)

// The features of consul-version, named in msgConsulVersion.
const (
	featureClusterPeering    = "cluster peering"
	featureUpstreamPeer      = "upstreamConfig.overrides[].peer"
	featurePeerConsumers     = "peer consumers"
	featureSamenessConsumers = "samenessGroup consumers"
)
