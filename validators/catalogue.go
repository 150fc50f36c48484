package validators

import "github.com/consul-peering-guard/consul-peering-guard/api/kinds"

// Rule families, one documentation page each under docs/rules/.
const (
	FamilyGatewayMode = "gateway-mode"
	FamilyPlacement   = "mesh-gateway-placement"
	FamilyUpstreams   = "upstreams"
	FamilyExported    = "exported-services"
	FamilyNames       = "singletons-and-names"
	FamilyPeering     = "peering-objects"
	FamilyVersion     = "consul-version"
	FamilyReferences  = "peer-references"
	FamilyProxyConfig = "proxy-config"
	FamilyBothSides   = "both-sides"
	FamilyAnnotation  = "upstream-annotation"
)

var (
	gatewayModeKinds = []kinds.Kind{kinds.ProxyDefaults, kinds.ServiceDefaults}
	peeringKinds     = []kinds.Kind{kinds.PeeringAcceptor, kinds.PeeringDialer}
	onlySD           = []kinds.Kind{kinds.ServiceDefaults}
	onlyES           = []kinds.Kind{kinds.ExportedServices}
	onlyMesh         = []kinds.Kind{kinds.Mesh}
	referenceKinds   = []kinds.Kind{kinds.ServiceResolver, kinds.ServiceIntentions, kinds.SamenessGroup}
	sdAndWorkloads   = append([]kinds.Kind{kinds.ServiceDefaults}, kinds.Workloads...)

	gatewayModeAndWorkloadKinds = append(append([]kinds.Kind(nil), gatewayModeKinds...), kinds.Workloads...)
)

var catalogue = []*Rule{
	// Gateway mode.
	{Name: "gateway-mode-valid", Family: FamilyGatewayMode, DefaultAction: Deny, Kinds: gatewayModeKinds,
		Description: "meshGateway.mode must be empty, local, remote or none",
		objectCheck: checkGatewayModeValid,
		cel:         celGatewayModeValid},
	{Name: "gateway-mode-none-peer-upstream", Family: FamilyGatewayMode, DefaultAction: Deny, Kinds: sdAndWorkloads,
		Description: "an upstream override with a peer must not use mode none (Consul silently uses remote)",
		objectCheck: checkGatewayModeNonePeerUpstream,
		cel:         celGatewayModeNonePeerUpstream},
	{Name: "gateway-mode-none-with-peering", Family: FamilyGatewayMode, DefaultAction: Deny,
		Kinds:       []kinds.Kind{kinds.ProxyDefaults, kinds.ServiceDefaults, kinds.PeeringAcceptor, kinds.PeeringDialer},
		Description: "mode none is invalid while cluster peering is in use",
		stateCheck:  checkGatewayModeNoneWithPeering},
	{Name: "gateway-mode-local-needs-gateway", Family: FamilyGatewayMode, DefaultAction: Deny, Kinds: gatewayModeAndWorkloadKinds,
		Description: "mode local needs a mesh gateway in this cluster",
		stateCheck:  checkGatewayModeLocalNeedsGateway},

	// Mesh gateway and partition placement.
	{Name: "export-needs-mesh-gateway", Family: FamilyPlacement, DefaultAction: Deny, Kinds: onlyES,
		Description: "exporting to a peer needs a registered mesh gateway in this partition",
		stateCheck:  checkExportNeedsMeshGateway},
	{Name: "partition-placement", Family: FamilyPlacement, DefaultAction: Deny, Kinds: onlyES,
		Description: "ExportedServices must be named after this cluster's admin partition",
		objectCheck: checkPartitionPlacement,
		cel:         celPartitionPlacement},
	{Name: "peer-through-gateways-default-partition", Family: FamilyPlacement, DefaultAction: Deny, Kinds: onlyMesh,
		Description: "peering.peerThroughMeshGateways is only read in the default partition",
		objectCheck: checkPeerThroughGatewaysDefaultPartition,
		cel:         celPeerThroughGatewaysDefaultPartition},
	{Name: "peer-through-gateways-needs-gateway", Family: FamilyPlacement, DefaultAction: Deny, Kinds: onlyMesh,
		Description: "peering.peerThroughMeshGateways needs a mesh gateway in the default partition",
		stateCheck:  checkPeerThroughGatewaysNeedsGateway},

	// Upstreams.
	{Name: "upstream-name-required", Family: FamilyUpstreams, DefaultAction: Deny, Kinds: onlySD,
		Description: "every upstream override names its destination service",
		objectCheck: checkUpstreamNameRequired,
		cel:         celUpstreamNameRequired},
	{Name: "upstream-defaults-no-destination", Family: FamilyUpstreams, DefaultAction: Deny, Kinds: onlySD,
		Description: "upstreamConfig.defaults must not set name, namespace, partition or peer",
		objectCheck: checkUpstreamDefaultsNoDestination,
		cel:         celUpstreamDefaultsNoDestination},
	{Name: "upstream-peer-partition-exclusive", Family: FamilyUpstreams, DefaultAction: Deny, Kinds: onlySD,
		Description: "an upstream override sets peer or partition, not both",
		objectCheck: checkUpstreamPeerPartitionExclusive,
		cel:         celUpstreamPeerPartitionExclusive},
	{Name: "upstream-namespace-needs-namespaces", Family: FamilyUpstreams, DefaultAction: Deny, Kinds: sdAndWorkloads,
		Description: "upstream namespace needs Consul namespaces enabled",
		objectCheck: checkUpstreamNamespaceNeedsNamespaces,
		cel:         celUpstreamNamespaceNeedsNamespaces},
	{Name: "upstream-partition-needs-partitions", Family: FamilyUpstreams, DefaultAction: Deny, Kinds: sdAndWorkloads,
		Description: "upstream partition needs admin partitions enabled",
		objectCheck: checkUpstreamPartitionNeedsPartitions,
		cel:         celUpstreamPartitionNeedsPartitions},
	{Name: "upstream-namespace-default-redundant", Family: FamilyUpstreams, DefaultAction: Warn, Kinds: onlySD,
		Description: "namespace default on a peer upstream is redundant",
		objectCheck: checkUpstreamNamespaceDefaultRedundant,
		cel:         celUpstreamNamespaceDefaultRedundant},
	{Name: "upstream-no-wildcard", Family: FamilyUpstreams, DefaultAction: Deny, Kinds: sdAndWorkloads,
		Description: "upstream override name and namespace must not be *",
		objectCheck: checkUpstreamNoWildcard,
		cel:         celUpstreamNoWildcard},
	{Name: "upstream-duplicate", Family: FamilyUpstreams, DefaultAction: Deny, Kinds: onlySD,
		Description: "no two overrides target the same name, namespace, partition and peer",
		objectCheck: checkUpstreamDuplicate,
		webhookOnly: webhookOnlyDuplicate},
	{Name: "upstream-peer-name-syntax", Family: FamilyUpstreams, DefaultAction: Deny, Kinds: sdAndWorkloads,
		Description: "upstream peer must be a valid peer name",
		objectCheck: checkUpstreamPeerNameSyntax,
		cel:         celUpstreamPeerNameSyntax},
	{Name: "upstream-peer-known", Family: FamilyUpstreams, DefaultAction: Warn, Kinds: sdAndWorkloads,
		Description: "upstream peer names a PeeringAcceptor or PeeringDialer of this cluster",
		stateCheck:  checkUpstreamPeerKnown},

	// The upstreams annotation of workloads.
	{Name: "upstream-annotation-syntax", Family: FamilyAnnotation, DefaultAction: Deny, Kinds: kinds.Workloads,
		Description: "every entry of the connect-service-upstreams annotation is one consul-k8s can parse",
		objectCheck: checkAnnotationSyntax,
		webhookOnly: webhookOnlyAnnotation},
	{Name: "upstream-annotation-unlabeled-peer", Family: FamilyAnnotation, DefaultAction: Deny, Kinds: kinds.Workloads,
		Description: "an unlabeled annotation entry is not meant as a peer (consul-k8s reads it as a namespace or partition)",
		stateCheck:  checkAnnotationUnlabeledPeer},
	{Name: "upstream-peer-datacenter-exclusive", Family: FamilyAnnotation, DefaultAction: Deny, Kinds: kinds.Workloads,
		Description: "an annotation upstream to a peer names no datacenter (Consul refuses the registration)",
		objectCheck: checkPeerDatacenterExclusive,
		webhookOnly: webhookOnlyAnnotation},
	{Name: "upstream-annotation-duplicate", Family: FamilyAnnotation, DefaultAction: Deny, Kinds: kinds.Workloads,
		Description: "no two annotation entries share a local bind port or a destination (Consul refuses the registration)",
		objectCheck: checkAnnotationDuplicate,
		webhookOnly: webhookOnlyAnnotation},

	// Exported services.
	{Name: "exported-services-singleton", Family: FamilyExported, DefaultAction: Deny, Kinds: onlyES,
		Description: "only one ExportedServices object per cluster",
		stateCheck:  checkSingleton},
	{Name: "exported-services-not-empty", Family: FamilyExported, DefaultAction: Deny, Kinds: onlyES,
		Description: "ExportedServices lists services, each with consumers",
		objectCheck: checkExportedServicesNotEmpty,
		cel:         celExportedServicesNotEmpty},
	{Name: "exported-service-name-required", Family: FamilyExported, DefaultAction: Deny, Kinds: onlyES,
		Description: "every exported service has a name; namespace * only with name *",
		objectCheck: checkExportedServiceNameRequired,
		cel:         celExportedServiceNameRequired},
	{Name: "consumer-exactly-one", Family: FamilyExported, DefaultAction: Deny, Kinds: onlyES,
		Description: "a consumer sets exactly one of peer, partition, samenessGroup",
		objectCheck: checkConsumerExactlyOne,
		cel:         celConsumerExactlyOne},
	{Name: "consumer-no-wildcard", Family: FamilyExported, DefaultAction: Deny, Kinds: onlyES,
		Description: "consumer peer, partition and samenessGroup must not be *",
		objectCheck: checkConsumerNoWildcard,
		cel:         celConsumerNoWildcard},
	{Name: "consumer-needs-enterprise", Family: FamilyExported, DefaultAction: Deny, Kinds: onlyES,
		Description: "partition consumers need admin partitions; samenessGroup consumers need Enterprise (--consul-edition)",
		objectCheck: checkConsumerNeedsEnterprise,
		cel:         celConsumerNeedsEnterprise},
	{Name: "exported-service-namespace-needs-namespaces", Family: FamilyExported, DefaultAction: Deny, Kinds: onlyES,
		Description: "exported service namespace needs Consul namespaces enabled",
		objectCheck: checkExportedServiceNamespaceNeedsNamespaces,
		cel:         celExportedServiceNamespaceNeedsNamespaces},
	{Name: "consumer-peer-name-syntax", Family: FamilyExported, DefaultAction: Deny, Kinds: onlyES,
		Description: "consumer peer must be a valid peer name",
		objectCheck: checkConsumerPeerNameSyntax,
		cel:         celConsumerPeerNameSyntax},
	{Name: "consumer-peer-known", Family: FamilyExported, DefaultAction: Warn, Kinds: onlyES,
		Description: "consumer peer names a PeeringAcceptor or PeeringDialer of this cluster",
		stateCheck:  checkConsumerPeerKnown},
	{Name: "export-consul-service", Family: FamilyExported, DefaultAction: Warn, Kinds: onlyES,
		Description: "the consul service is never exported to peers",
		objectCheck: checkExportConsulService,
		cel:         celExportConsulService},

	// Singletons and names.
	{Name: "proxy-defaults-name", Family: FamilyNames, DefaultAction: Deny, Kinds: []kinds.Kind{kinds.ProxyDefaults},
		Description: "ProxyDefaults must be named global",
		objectCheck: checkSingletonName, cel: celProxyDefaultsName},
	{Name: "mesh-name", Family: FamilyNames, DefaultAction: Deny, Kinds: onlyMesh,
		Description: "Mesh must be named mesh",
		objectCheck: checkSingletonName, cel: celMeshName},
	{Name: "singleton", Family: FamilyNames, DefaultAction: Deny, Kinds: []kinds.Kind{kinds.ProxyDefaults, kinds.Mesh},
		Description: "only one ProxyDefaults and one Mesh per cluster",
		stateCheck:  checkSingleton},

	// Peering objects.
	{Name: "peer-name-syntax", Family: FamilyPeering, DefaultAction: Deny, Kinds: peeringKinds,
		Description: "PeeringAcceptor and PeeringDialer names are valid peer names",
		objectCheck: checkPeerNameSyntax,
		cel:         celPeerNameSyntax},
	{Name: "peer-name-unique", Family: FamilyPeering, DefaultAction: Deny, Kinds: peeringKinds,
		Description: "one acceptor or dialer per peer name across all namespaces",
		stateCheck:  checkPeerNameUnique},
	{Name: "peering-version-annotation", Family: FamilyPeering, DefaultAction: Deny, Kinds: peeringKinds,
		Description: "consul.hashicorp.com/peering-version is an unsigned integer, never lowered",
		objectCheck: checkPeeringVersionAnnotation,
		cel:         celPeeringVersionAnnotation},
	{Name: "peer-secret-valid", Family: FamilyPeering, DefaultAction: Deny, Kinds: peeringKinds,
		Description: "spec.peer.secret has name, key and backend kubernetes, unchanged backend",
		objectCheck: checkPeerSecretValid,
		cel:         celPeerSecretValid},

	// Proxy config.
	{Name: "proxy-config-decodes", Family: FamilyProxyConfig, DefaultAction: Deny, Kinds: []kinds.Kind{kinds.ProxyDefaults},
		Description: "every spec.config key Consul reads has a value its decoder accepts, enumerations in their set",
		objectCheck: checkProxyConfigDecodes,
		webhookOnly: webhookOnlyProxyConfig},
	{Name: "proxy-config-escape-hatch-json", Family: FamilyProxyConfig, DefaultAction: Deny, Kinds: []kinds.Kind{kinds.ProxyDefaults},
		Description: "spec.config escape hatches are strings holding the JSON (or template) Envoy needs",
		objectCheck: checkProxyConfigEscapeHatchJSON,
		webhookOnly: webhookOnlyProxyConfig},
	{Name: "proxy-config-unknown-key", Family: FamilyProxyConfig, DefaultAction: Warn, Kinds: []kinds.Kind{kinds.ProxyDefaults},
		Description: "every spec.config key is one Consul reads (nearest known key suggested)",
		objectCheck: checkProxyConfigUnknownKey,
		webhookOnly: webhookOnlyProxyConfig},

	// Peers named in other config entries.
	{Name: "peer-reference-syntax", Family: FamilyReferences, DefaultAction: Deny, Kinds: referenceKinds,
		Description: "a peer named by a ServiceResolver, ServiceIntentions or SamenessGroup is a valid peer name",
		objectCheck: checkPeerReferenceSyntax,
		cel:         celPeerReferenceSyntax},
	{Name: "peer-reference-known", Family: FamilyReferences, DefaultAction: Warn, Kinds: referenceKinds,
		Description: "a peer named by a ServiceResolver, ServiceIntentions or SamenessGroup is a PeeringAcceptor or PeeringDialer of this cluster",
		stateCheck:  checkPeerReferenceKnown},
	{Name: "sameness-group-known", Family: FamilyReferences, DefaultAction: Warn,
		Kinds:       []kinds.Kind{kinds.ExportedServices, kinds.ServiceIntentions, kinds.ServiceResolver},
		Description: "a samenessGroup named by a consumer, an intention source or a resolver is a SamenessGroup of this cluster",
		stateCheck:  checkSamenessGroupKnown},
	{Name: "sameness-group-needs-enterprise", Family: FamilyReferences, DefaultAction: Deny, Kinds: []kinds.Kind{kinds.SamenessGroup},
		Description: "a SamenessGroup needs Consul Enterprise (--consul-edition ce denies it)",
		objectCheck: checkSamenessGroupNeedsEnterprise,
		cel:         celSamenessGroupNeedsEnterprise},

	// Both sides of a peering: two clusters at once, only in `check`.
	{Name: "peering-pair", Family: FamilyBothSides, DefaultAction: Deny, Kinds: peeringKinds,
		Description: "an acceptor on one cluster meets a dialer for it on the other (check)",
		pairCheck:   checkPeeringPair},
	{Name: "import-not-exported", Family: FamilyBothSides, DefaultAction: Deny, Kinds: onlySD,
		Description: "a service imported from a peer is exported to this cluster, same namespace and partition (check)",
		pairCheck:   checkImportNotExported},
	{Name: "import-no-gateway", Family: FamilyBothSides, DefaultAction: Deny, Kinds: onlySD,
		Description: "the exporting cluster runs a mesh gateway, and so does the importing one in local mode (check)",
		pairCheck:   checkImportNoGateway},
	{Name: "export-unused", Family: FamilyBothSides, DefaultAction: Warn, Kinds: onlyES,
		Description: "a service exported to a peer is imported there (check)",
		pairCheck:   checkExportUnused},

	// Consul version gate.
	{Name: "consul-version", Family: FamilyVersion, DefaultAction: Deny, Kinds: kinds.Consul,
		Description: "features newer than the configured Consul version (--consul-version)",
		objectCheck: checkConsulVersion,
		cel:         celConsulVersion},
}
