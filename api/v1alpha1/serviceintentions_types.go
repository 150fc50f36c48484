package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ServiceIntentions is the service-intentions config entry of one destination: which
// sources, possibly in peers, may call it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=service-intentions
type ServiceIntentions struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceIntentionsSpec `json:"spec,omitempty"`
	Status `json:"status,omitempty"`
}

// ServiceIntentionsList is a list of ServiceIntentions.
//
// +kubebuilder:object:root=true
type ServiceIntentionsList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceIntentions `json:"items"`
}

// ServiceIntentionsSpec is the spec of a ServiceIntentions, every field of the consul-k8s schema.
type ServiceIntentionsSpec struct {
	Destination IntentionDestination     `json:"destination,omitempty"`
	Sources     []*SourceIntention       `json:"sources,omitempty"`
	JWT         *IntentionJWTRequirement `json:"jwt,omitempty"`
}

// IntentionDestination is the service the intentions protect.
type IntentionDestination struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// SourceIntention is one source: a service, possibly in a peer, partition or sameness group.
type SourceIntention struct {
	Name          string                 `json:"name,omitempty"`
	Namespace     string                 `json:"namespace,omitempty"`
	Peer          string                 `json:"peer,omitempty"`
	Partition     string                 `json:"partition,omitempty"`
	SamenessGroup string                 `json:"samenessGroup,omitempty"`
	Action        string                 `json:"action,omitempty"`
	Permissions   []*IntentionPermission `json:"permissions,omitempty"`
	Description   string                 `json:"description,omitempty"`
}

// IntentionPermission is an L7 permission of a source.
type IntentionPermission struct {
	Action string                   `json:"action,omitempty"`
	HTTP   *IntentionHTTPPermission `json:"http,omitempty"`
	JWT    *IntentionJWTRequirement `json:"jwt,omitempty"`
}

// IntentionHTTPPermission matches HTTP requests.
type IntentionHTTPPermission struct {
	PathExact  string                          `json:"pathExact,omitempty"`
	PathPrefix string                          `json:"pathPrefix,omitempty"`
	PathRegex  string                          `json:"pathRegex,omitempty"`
	Header     []IntentionHTTPHeaderPermission `json:"header,omitempty"`
	Methods    []string                        `json:"methods,omitempty"`
}

// IntentionHTTPHeaderPermission matches one request header.
type IntentionHTTPHeaderPermission struct {
	Name       string `json:"name,omitempty"`
	Present    bool   `json:"present,omitempty"`
	Exact      string `json:"exact,omitempty"`
	Prefix     string `json:"prefix,omitempty"`
	Suffix     string `json:"suffix,omitempty"`
	Contains   string `json:"contains,omitempty"`
	Regex      string `json:"regex,omitempty"`
	Invert     bool   `json:"invert,omitempty"`
	IgnoreCase bool   `json:"ignoreCase,omitempty"`
}

// IntentionJWTRequirement lists the JWT providers a request must satisfy.
type IntentionJWTRequirement struct {
	Providers []*IntentionJWTProvider `json:"providers,omitempty"`
}

// IntentionJWTProvider is one JWT provider and the claims it must carry.
type IntentionJWTProvider struct {
	Name         string                           `json:"name,omitempty"`
	VerifyClaims []*IntentionJWTClaimVerification `json:"verifyClaims,omitempty"`
}

// IntentionJWTClaimVerification is one claim to verify.
type IntentionJWTClaimVerification struct {
	Path  []string `json:"path,omitempty"`
	Value string   `json:"value,omitempty"`
}
