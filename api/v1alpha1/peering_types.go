package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// PeeringAcceptor generates a peering token; its metadata.name is the Consul peer name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=peering-acceptor
type PeeringAcceptor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PeeringSpec   `json:"spec,omitempty"`
	Status PeeringStatus `json:"status,omitempty"`
}

// PeeringAcceptorList is a list of PeeringAcceptor.
//
// +kubebuilder:object:root=true
type PeeringAcceptorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PeeringAcceptor `json:"items"`
}

// PeeringDialer establishes a peering from a token; its metadata.name is the Consul peer name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=peering-dialer
type PeeringDialer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PeeringSpec   `json:"spec,omitempty"`
	Status PeeringStatus `json:"status,omitempty"`
}

// PeeringDialerList is a list of PeeringDialer.
//
// +kubebuilder:object:root=true
type PeeringDialerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PeeringDialer `json:"items"`
}

// PeeringSpec is the spec shared by acceptors and dialers: where the peering token lives.
type PeeringSpec struct {
	Peer *Peer `json:"peer"`
}

// Peer holds the token secret reference.
type Peer struct {
	Secret *Secret `json:"secret,omitempty"`
}

// Secret references the Kubernetes secret with the peering token.
type Secret struct {
	Name string `json:"name,omitempty"`
	Key  string `json:"key,omitempty"`
	// Backend must be "kubernetes".
	Backend string `json:"backend,omitempty"`
}

// PeeringStatus is what consul-k8s reports about a peering.
type PeeringStatus struct {
	LatestPeeringVersion *int64           `json:"latestPeeringVersion,omitempty"`
	SecretRef            *SecretRefStatus `json:"secret,omitempty"`
	// +optional
	Conditions Conditions `json:"conditions,omitempty"`
	// +optional
	LastSyncedTime *metav1.Time `json:"lastSyncedTime,omitempty"`
}

// SecretRefStatus records the secret and its resource version last used.
type SecretRefStatus struct {
	Secret          `json:",inline"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
}
