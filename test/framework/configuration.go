package framework

import (
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// WebhookEntryName is the name of the webhook entry of a kind in the configuration.
func WebhookEntryName(kind kinds.Kind) string {
	return strings.ToLower(string(kind)) + ".consul-peering-guard.io"
}

// ExemptNamespaceLabel is the label the API server sets on every namespace to its name;
// exempt namespaces are excluded through it.
const ExemptNamespaceLabel = policies.ExemptNamespaceLabel

// WebhookConfigurationOptions are the settings of the ValidatingWebhookConfiguration.
type WebhookConfigurationOptions struct {
	Name string
	// ClientConfig returns where the API server sends reviews for a path.
	ClientConfig      func(path string) admissionregistrationv1.WebhookClientConfig
	FailurePolicy     admissionregistrationv1.FailurePolicyType
	TimeoutSeconds    int32
	NamespaceSelector *metav1.LabelSelector
	ObjectSelector    *metav1.LabelSelector
	// ExemptNamespaces are never sent to the webhook: a NotIn requirement on
	// ExemptNamespaceLabel is added to NamespaceSelector.
	ExemptNamespaces []string
	// MatchConditions are added after webhook.NotBeingDeletedCondition.
	MatchConditions []admissionregistrationv1.MatchCondition
	// Workloads adds the entries of the workload kinds, whose pods may carry the upstreams
	// annotation. Their match conditions send only objects carrying it that no controller
	// made, so the many other pod writes never reach the webhook; they take
	// WorkloadFailurePolicy, Ignore when empty: an outage must never stop pods from being
	// scheduled.
	Workloads             bool
	WorkloadFailurePolicy admissionregistrationv1.FailurePolicyType
}

// HasUpstreamsCondition is the name of the match condition that sends a workload only when its
// pod carries the upstreams annotation, and NoControllerCondition the one that sends only
// objects no controller made (a ReplicaSet of a Deployment, a Job of a CronJob, a Pod of
// either): their owner was judged when it was written, and judging the copy freezes rollouts.
const (
	HasUpstreamsCondition = "has-upstreams-annotation"
	NoControllerCondition = "no-controller-owner"
	// NoControllerExpression is true for an object without an ownerReference that says
	// controller: true.
	NoControllerExpression = "!has(object.metadata.ownerReferences) || !object.metadata.ownerReferences.exists(r, has(r.controller) && r.controller)"
)

// workloadConditions are the match conditions of a workload kind's entry.
func workloadConditions(kind kinds.Kind) []admissionregistrationv1.MatchCondition {
	info, _ := kinds.InfoOf(kind)
	meta := info.PodMeta
	return []admissionregistrationv1.MatchCondition{{
		Name:       HasUpstreamsCondition,
		Expression: "has(" + meta + ".annotations) && '" + validators.UpstreamsAnnotation + "' in " + meta + ".annotations",
	}, {Name: NoControllerCondition, Expression: NoControllerExpression}}
}

// namespaceSelector merges the exempt namespaces into the configured selector, as the
// policies' bindings do.
func (o WebhookConfigurationOptions) namespaceSelector() *metav1.LabelSelector {
	return policies.NamespaceSelectorWithExemptions(o.NamespaceSelector, o.ExemptNamespaces)
}

// WebhookConfiguration returns the ValidatingWebhookConfiguration that routes the Consul kinds (and,
// with Workloads, the workload kinds) to the webhook. The Helm chart renders the same entries;
// a test keeps the two in step.
func WebhookConfiguration(o WebhookConfigurationOptions) *admissionregistrationv1.ValidatingWebhookConfiguration {
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
	}
	for _, kind := range kinds.Consul {
		vwc.Webhooks = append(vwc.Webhooks, o.entry(kind, o.FailurePolicy, nil))
	}
	if !o.Workloads {
		return vwc
	}
	fp := o.WorkloadFailurePolicy
	if fp == "" {
		fp = admissionregistrationv1.Ignore
	}
	for _, kind := range kinds.Workloads {
		vwc.Webhooks = append(vwc.Webhooks, o.entry(kind, fp, workloadConditions(kind)))
	}
	return vwc
}

// entry is the webhook entry of one kind: CREATE and UPDATE of its resource, the settings
// every entry shares, and the match conditions every entry carries followed by extra.
func (o WebhookConfigurationOptions) entry(kind kinds.Kind, fp admissionregistrationv1.FailurePolicyType,
	extra []admissionregistrationv1.MatchCondition) admissionregistrationv1.ValidatingWebhook {
	sideEffects := admissionregistrationv1.SideEffectClassNone
	matchPolicy := admissionregistrationv1.Equivalent
	scope := admissionregistrationv1.NamespacedScope
	gv, timeout := kinds.GroupVersion(kind), o.TimeoutSeconds
	conditions := append([]admissionregistrationv1.MatchCondition{{
		Name: webhook.NotBeingDeletedCondition, Expression: webhook.NotBeingDeletedExpression,
	}}, o.MatchConditions...)
	return admissionregistrationv1.ValidatingWebhook{
		Name:         WebhookEntryName(kind),
		ClientConfig: o.ClientConfig(webhook.Path(kind)),
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{gv.Group}, APIVersions: []string{gv.Version},
				Resources: []string{kinds.Plural(kind)}, Scope: &scope,
			},
		}},
		FailurePolicy:           &fp,
		MatchPolicy:             &matchPolicy,
		SideEffects:             &sideEffects,
		TimeoutSeconds:          &timeout,
		AdmissionReviewVersions: []string{"v1"},
		NamespaceSelector:       o.namespaceSelector().DeepCopy(),
		ObjectSelector:          o.ObjectSelector,
		MatchConditions:         append(conditions, extra...),
	}
}
