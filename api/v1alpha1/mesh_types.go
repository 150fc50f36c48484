package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Mesh is the cluster-wide mesh config entry; consul-k8s requires the name "mesh".
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mesh
type Mesh struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MeshSpec `json:"spec,omitempty"`
	Status `json:"status,omitempty"`
}

// MeshList is a list of Mesh.
//
// +kubebuilder:object:root=true
type MeshList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Mesh `json:"items"`
}

// MeshSpec is the mesh config entry.
type MeshSpec struct {
	TransparentProxy                 TransparentProxyMeshConfig `json:"transparentProxy,omitempty"`
	AllowEnablingPermissiveMutualTLS bool                       `json:"allowEnablingPermissiveMutualTLS,omitempty"`
	TLS                              *MeshTLSConfig             `json:"tls,omitempty"`
	HTTP                             *MeshHTTPConfig            `json:"http,omitempty"`
	Peering                          *PeeringMeshConfig         `json:"peering,omitempty"`
	ValidateClusters                 bool                       `json:"validateClusters,omitempty"`
}

// TransparentProxyMeshConfig restricts transparent proxies to mesh destinations.
type TransparentProxyMeshConfig struct {
	MeshDestinationsOnly bool `json:"meshDestinationsOnly,omitempty"`
}

// MeshTLSConfig holds TLS settings for incoming and outgoing mesh traffic.
type MeshTLSConfig struct {
	Incoming *MeshDirectionalTLSConfig `json:"incoming,omitempty"`
	Outgoing *MeshDirectionalTLSConfig `json:"outgoing,omitempty"`
}

// MeshDirectionalTLSConfig is one direction's TLS settings.
type MeshDirectionalTLSConfig struct {
	TLSMinVersion string   `json:"tlsMinVersion,omitempty"`
	TLSMaxVersion string   `json:"tlsMaxVersion,omitempty"`
	CipherSuites  []string `json:"cipherSuites,omitempty"`
}

// MeshHTTPConfig holds HTTP settings of the mesh.
type MeshHTTPConfig struct {
	SanitizeXForwardedClientCert bool                       `json:"sanitizeXForwardedClientCert,omitempty"`
	Incoming                     *MeshDirectionalHTTPConfig `json:"incoming,omitempty"`
}

// MeshDirectionalHTTPConfig holds settings for incoming HTTP traffic.
type MeshDirectionalHTTPConfig struct {
	RequestNormalization *RequestNormalizationMeshConfig `json:"requestNormalization,omitempty"`
}

// RequestNormalizationMeshConfig configures HTTP request normalization.
type RequestNormalizationMeshConfig struct {
	InsecureDisablePathNormalization bool   `json:"insecureDisablePathNormalization,omitempty"`
	MergeSlashes                     bool   `json:"mergeSlashes,omitempty"`
	PathWithEscapedSlashesAction     string `json:"pathWithEscapedSlashesAction,omitempty"`
	HeadersWithUnderscoresAction     string `json:"headersWithUnderscoresAction,omitempty"`
}

// PeeringMeshConfig configures cluster peering for the whole mesh.
type PeeringMeshConfig struct {
	// PeerThroughMeshGateways routes peering control-plane traffic through mesh gateways.
	// Consul reads it only in the default partition.
	PeerThroughMeshGateways bool `json:"peerThroughMeshGateways,omitempty"`
}
