package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// SamenessGroup is the sameness-group config entry (Consul Enterprise): partitions and peers
// whose services of the same name are the same service, for failover and exports.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sameness-group
type SamenessGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SamenessGroupSpec `json:"spec,omitempty"`
	Status `json:"status,omitempty"`
}

// SamenessGroupList is a list of SamenessGroup.
//
// +kubebuilder:object:root=true
type SamenessGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SamenessGroup `json:"items"`
}

// SamenessGroupSpec is the spec of a SamenessGroup, every field of the consul-k8s schema.
type SamenessGroupSpec struct {
	DefaultForFailover bool                  `json:"defaultForFailover,omitempty"`
	IncludeLocal       bool                  `json:"includeLocal,omitempty"`
	Members            []SamenessGroupMember `json:"members,omitempty"`
}

// SamenessGroupMember is a partition of this Consul or a peer.
type SamenessGroupMember struct {
	Partition string `json:"partition,omitempty"`
	Peer      string `json:"peer,omitempty"`
}
