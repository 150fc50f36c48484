package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ServiceResolver is the service-resolver config entry of the service it is named after:
// subsets, redirects and failover, possibly to a peer.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=service-resolver
type ServiceResolver struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceResolverSpec `json:"spec,omitempty"`
	Status `json:"status,omitempty"`
}

// ServiceResolverList is a list of ServiceResolver.
//
// +kubebuilder:object:root=true
type ServiceResolverList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceResolver `json:"items"`
}

// ServiceResolverSpec is the spec of a ServiceResolver, every field of the consul-k8s schema.
type ServiceResolverSpec struct {
	DefaultSubset        string                             `json:"defaultSubset,omitempty"`
	Subsets              map[string]ServiceResolverSubset   `json:"subsets,omitempty"`
	Redirect             *ServiceResolverRedirect           `json:"redirect,omitempty"`
	Failover             map[string]ServiceResolverFailover `json:"failover,omitempty"`
	PrioritizeByLocality *PrioritizeByLocality              `json:"prioritizeByLocality,omitempty"`
	ConnectTimeout       metav1.Duration                    `json:"connectTimeout,omitempty"`
	RequestTimeout       metav1.Duration                    `json:"requestTimeout,omitempty"`
	LoadBalancer         *LoadBalancer                      `json:"loadBalancer,omitempty"`
}

// ServiceResolverSubset selects a subset of the service's instances.
type ServiceResolverSubset struct {
	Filter      string `json:"filter,omitempty"`
	OnlyPassing bool   `json:"onlyPassing,omitempty"`
}

// ServiceResolverRedirect sends all traffic to another service, possibly in a peer.
type ServiceResolverRedirect struct {
	Service       string `json:"service,omitempty"`
	ServiceSubset string `json:"serviceSubset,omitempty"`
	Namespace     string `json:"namespace,omitempty"`
	Partition     string `json:"partition,omitempty"`
	SamenessGroup string `json:"samenessGroup,omitempty"`
	Datacenter    string `json:"datacenter,omitempty"`
	Peer          string `json:"peer,omitempty"`
}

// ServiceResolverFailover is where traffic goes when a subset has no healthy instance.
type ServiceResolverFailover struct {
	Service       string                          `json:"service,omitempty"`
	ServiceSubset string                          `json:"serviceSubset,omitempty"`
	Namespace     string                          `json:"namespace,omitempty"`
	SamenessGroup string                          `json:"samenessGroup,omitempty"`
	Datacenters   []string                        `json:"datacenters,omitempty"`
	Targets       []ServiceResolverFailoverTarget `json:"targets,omitempty"`
	Policy        *FailoverPolicy                 `json:"policy,omitempty"`
}

// ServiceResolverFailoverTarget is one failover target, possibly in a peer.
type ServiceResolverFailoverTarget struct {
	Service       string `json:"service,omitempty"`
	ServiceSubset string `json:"serviceSubset,omitempty"`
	Partition     string `json:"partition,omitempty"`
	Namespace     string `json:"namespace,omitempty"`
	Datacenter    string `json:"datacenter,omitempty"`
	Peer          string `json:"peer,omitempty"`
}

// LoadBalancer selects the load-balancing policy of the service's upstream clusters.
type LoadBalancer struct {
	Policy             string              `json:"policy,omitempty"`
	RingHashConfig     *RingHashConfig     `json:"ringHashConfig,omitempty"`
	LeastRequestConfig *LeastRequestConfig `json:"leastRequestConfig,omitempty"`
	HashPolicies       []HashPolicy        `json:"hashPolicies,omitempty"`
}

// RingHashConfig configures the ring_hash policy.
type RingHashConfig struct {
	MinimumRingSize uint64 `json:"minimumRingSize,omitempty"`
	MaximumRingSize uint64 `json:"maximumRingSize,omitempty"`
}

// LeastRequestConfig configures the least_request policy.
type LeastRequestConfig struct {
	ChoiceCount uint32 `json:"choiceCount,omitempty"`
}

// HashPolicy is one hash input of a hashing load-balancing policy.
type HashPolicy struct {
	Field        string        `json:"field,omitempty"`
	FieldValue   string        `json:"fieldValue,omitempty"`
	CookieConfig *CookieConfig `json:"cookieConfig,omitempty"`
	SourceIP     bool          `json:"sourceIP,omitempty"`
	Terminal     bool          `json:"terminal,omitempty"`
}

// CookieConfig configures a cookie hash input.
type CookieConfig struct {
	Session bool            `json:"session,omitempty"`
	TTL     metav1.Duration `json:"ttl,omitempty"`
	Path    string          `json:"path,omitempty"`
}
