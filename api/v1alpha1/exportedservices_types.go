package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ExportedServices is the exported-services config entry; its name is the admin partition
// ("default" without partitions) and there is one per cluster.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=exported-services
type ExportedServices struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExportedServicesSpec `json:"spec,omitempty"`
	Status `json:"status,omitempty"`
}

// ExportedServicesList is a list of ExportedServices.
//
// +kubebuilder:object:root=true
type ExportedServicesList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ExportedServices `json:"items"`
}

// ExportedServicesSpec lists the services made visible to other partitions or peers.
type ExportedServicesSpec struct {
	Services []ExportedService `json:"services,omitempty"`
}

// ExportedService is one exported service and who may consume it.
type ExportedService struct {
	Name      string            `json:"name,omitempty"`
	Namespace string            `json:"namespace,omitempty"`
	Consumers []ServiceConsumer `json:"consumers,omitempty"`
}

// ServiceConsumer names exactly one of a partition, a peer or a sameness group.
type ServiceConsumer struct {
	Partition     string `json:"partition,omitempty"`
	Peer          string `json:"peer,omitempty"`
	SamenessGroup string `json:"samenessGroup,omitempty"`
}
