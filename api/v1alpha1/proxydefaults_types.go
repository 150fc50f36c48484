package v1alpha1

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProxyDefaults is the cluster-wide proxy-defaults config entry; the name must be "global".
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=proxy-defaults
type ProxyDefaults struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ProxyDefaultsSpec `json:"spec,omitempty"`
	Status `json:"status,omitempty"`
}

// ProxyDefaultsList is a list of ProxyDefaults.
//
// +kubebuilder:object:root=true
type ProxyDefaultsList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProxyDefaults `json:"items"`
}

// ProxyDefaultsSpec is the proxy-defaults config entry.
type ProxyDefaultsSpec struct {
	Mode             *ProxyMode        `json:"mode,omitempty"`
	TransparentProxy *TransparentProxy `json:"transparentProxy,omitempty"`
	MutualTLSMode    MutualTLSMode     `json:"mutualTLSMode,omitempty"`
	// Config is free-form proxy configuration.
	// +kubebuilder:validation:Type=object
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	Config json.RawMessage `json:"config,omitempty"`
	// MeshGateway is the default mesh gateway mode of every proxy's upstreams.
	MeshGateway          MeshGateway           `json:"meshGateway,omitempty"`
	Expose               Expose                `json:"expose,omitempty"`
	AccessLogs           *AccessLogs           `json:"accessLogs,omitempty"`
	EnvoyExtensions      EnvoyExtensions       `json:"envoyExtensions,omitempty"`
	FailoverPolicy       *FailoverPolicy       `json:"failoverPolicy,omitempty"`
	PrioritizeByLocality *PrioritizeByLocality `json:"prioritizeByLocality,omitempty"`
}

// AccessLogs configures Envoy access logging.
type AccessLogs struct {
	Enabled             bool   `json:"enabled,omitempty"`
	DisableListenerLogs bool   `json:"disableListenerLogs,omitempty"`
	Type                string `json:"type,omitempty"`
	Path                string `json:"path,omitempty"`
	JSONFormat          string `json:"jsonFormat,omitempty"`
	TextFormat          string `json:"textFormat,omitempty"`
}
