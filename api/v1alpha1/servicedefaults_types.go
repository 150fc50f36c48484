package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ServiceDefaults configures one Consul service, named by metadata.name; its upstreamConfig
// applies to the upstreams of that (downstream) service.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=service-defaults
type ServiceDefaults struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceDefaultsSpec `json:"spec,omitempty"`
	Status `json:"status,omitempty"`
}

// ServiceDefaultsList is a list of ServiceDefaults.
//
// +kubebuilder:object:root=true
type ServiceDefaultsList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceDefaults `json:"items"`
}

// ServiceDefaultsSpec is the service-defaults config entry.
type ServiceDefaultsSpec struct {
	Protocol                  string                      `json:"protocol,omitempty"`
	Mode                      *ProxyMode                  `json:"mode,omitempty"`
	TransparentProxy          *TransparentProxy           `json:"transparentProxy,omitempty"`
	MutualTLSMode             MutualTLSMode               `json:"mutualTLSMode,omitempty"`
	MeshGateway               MeshGateway                 `json:"meshGateway,omitempty"`
	Expose                    Expose                      `json:"expose,omitempty"`
	ExternalSNI               string                      `json:"externalSNI,omitempty"`
	UpstreamConfig            *Upstreams                  `json:"upstreamConfig,omitempty"`
	Destination               *ServiceDefaultsDestination `json:"destination,omitempty"`
	MaxInboundConnections     int                         `json:"maxInboundConnections,omitempty"`
	LocalConnectTimeoutMs     int                         `json:"localConnectTimeoutMs,omitempty"`
	LocalRequestTimeoutMs     int                         `json:"localRequestTimeoutMs,omitempty"`
	BalanceInboundConnections string                      `json:"balanceInboundConnections,omitempty"`
	RateLimits                *RateLimits                 `json:"rateLimits,omitempty"`
	EnvoyExtensions           EnvoyExtensions             `json:"envoyExtensions,omitempty"`
}

// Upstreams configures the upstreams of the service: defaults for all, overrides per upstream.
type Upstreams struct {
	Defaults  *Upstream   `json:"defaults,omitempty"`
	Overrides []*Upstream `json:"overrides,omitempty"`
}

// Upstream is the configuration of one upstream (or of all, as defaults).
type Upstream struct {
	Name               string              `json:"name,omitempty"`
	Namespace          string              `json:"namespace,omitempty"`
	Partition          string              `json:"partition,omitempty"`
	Peer               string              `json:"peer,omitempty"`
	EnvoyListenerJSON  string              `json:"envoyListenerJSON,omitempty"`
	EnvoyClusterJSON   string              `json:"envoyClusterJSON,omitempty"`
	Protocol           string              `json:"protocol,omitempty"`
	ConnectTimeoutMs   int                 `json:"connectTimeoutMs,omitempty"`
	Limits             *UpstreamLimits     `json:"limits,omitempty"`
	PassiveHealthCheck *PassiveHealthCheck `json:"passiveHealthCheck,omitempty"`
	MeshGateway        MeshGateway         `json:"meshGateway,omitempty"`
}

// UpstreamLimits caps connections to an upstream.
type UpstreamLimits struct {
	MaxConnections        *int `json:"maxConnections,omitempty"`
	MaxPendingRequests    *int `json:"maxPendingRequests,omitempty"`
	MaxConcurrentRequests *int `json:"maxConcurrentRequests,omitempty"`
}

// PassiveHealthCheck configures outlier detection for an upstream.
type PassiveHealthCheck struct {
	Interval                metav1.Duration  `json:"interval,omitempty"`
	MaxFailures             uint32           `json:"maxFailures,omitempty"`
	EnforcingConsecutive5xx *uint32          `json:"enforcingConsecutive5xx,omitempty"`
	MaxEjectionPercent      *uint32          `json:"maxEjectionPercent,omitempty"`
	BaseEjectionTime        *metav1.Duration `json:"baseEjectionTime,omitempty"`
}

// ServiceDefaultsDestination describes a terminating-gateway destination.
type ServiceDefaultsDestination struct {
	Addresses []string `json:"addresses,omitempty"`
	Port      uint32   `json:"port,omitempty"`
}

// RateLimits configures rate limiting of inbound traffic.
type RateLimits struct {
	InstanceLevel InstanceLevelRateLimits `json:"instanceLevel,omitempty"`
}

// InstanceLevelRateLimits limits requests per instance.
type InstanceLevelRateLimits struct {
	RequestsPerSecond int                            `json:"requestsPerSecond,omitempty"`
	RequestsMaxBurst  int                            `json:"requestsMaxBurst,omitempty"`
	Routes            []InstanceLevelRouteRateLimits `json:"routes,omitempty"`
}

// InstanceLevelRouteRateLimits limits requests on one route.
type InstanceLevelRouteRateLimits struct {
	PathExact         string `json:"pathExact,omitempty"`
	PathPrefix        string `json:"pathPrefix,omitempty"`
	PathRegex         string `json:"pathRegex,omitempty"`
	RequestsPerSecond int    `json:"requestsPerSecond,omitempty"`
	RequestsMaxBurst  int    `json:"requestsMaxBurst,omitempty"`
}
