package v1alpha1

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MeshGateway selects how a proxy reaches services in other clusters and peers.
type MeshGateway struct {
	// Mode is one of "", "local", "remote" or "none".
	Mode string `json:"mode,omitempty"`
}

// ProxyMode is the proxy's networking mode ("", "direct", "transparent").
type ProxyMode string

// MutualTLSMode is "", "strict" or "permissive".
type MutualTLSMode string

// TransparentProxy configures the outbound listener of transparent proxies.
type TransparentProxy struct {
	OutboundListenerPort int  `json:"outboundListenerPort,omitempty"`
	DialedDirectly       bool `json:"dialedDirectly,omitempty"`
}

// Expose makes paths of the local service reachable without mTLS.
type Expose struct {
	Checks bool         `json:"checks,omitempty"`
	Paths  []ExposePath `json:"paths,omitempty"`
}

// ExposePath is one exposed HTTP path.
type ExposePath struct {
	ListenerPort  int    `json:"listenerPort,omitempty"`
	Path          string `json:"path,omitempty"`
	LocalPathPort int    `json:"localPathPort,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
}

// EnvoyExtension is an Envoy extension applied to the proxy.
type EnvoyExtension struct {
	Name     string `json:"name,omitempty"`
	Required bool   `json:"required,omitempty"`
	// +kubebuilder:validation:Type=object
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// EnvoyExtensions is a list of extensions.
type EnvoyExtensions []EnvoyExtension

// FailoverPolicy selects failover targets by region.
type FailoverPolicy struct {
	Mode    string   `json:"mode,omitempty"`
	Regions []string `json:"regions,omitempty"`
}

// PrioritizeByLocality prefers endpoints by locality.
type PrioritizeByLocality struct {
	Mode string `json:"mode,omitempty"`
}

// ConditionType names a status condition.
type ConditionType string

// Condition is a consul-k8s status condition.
type Condition struct {
	Type               ConditionType          `json:"type"`
	Status             corev1.ConditionStatus `json:"status"`
	LastTransitionTime metav1.Time            `json:"lastTransitionTime,omitempty"`
	Reason             string                 `json:"reason,omitempty"`
	Message            string                 `json:"message,omitempty"`
}

// Conditions is a list of conditions.
type Conditions []Condition

// Status is the sync status consul-k8s writes on config entries.
type Status struct {
	// +optional
	Conditions Conditions `json:"conditions,omitempty"`
	// +optional
	LastSyncedTime *metav1.Time `json:"lastSyncedTime,omitempty"`
}
