// Package policies renders the object-only rules of the catalogue as ValidatingAdmissionPolicies
// and their bindings: the same checks as the webhook's, run by the API server itself.
package policies

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// NamePrefix starts the name of every policy and binding.
const NamePrefix = "consul-peering-guard."

// The label `vap` puts on what it prints; the chart puts its own labels instead.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "consul-peering-guard"
)

// RuleAnnotation names, on each policy and binding, the rule it enforces.
const RuleAnnotation = "consul-peering-guard.io/rule"

// Policy is one rule's policy and binding, nil for a rule set to off. A rule whose checks
// differ between its kinds (their schemas differ, and a policy type-checks against every
// kind it matches) has one Policy per group of kinds that share the same validations.
type Policy struct {
	Rule    string
	Policy  *admissionregistrationv1.ValidatingAdmissionPolicy
	Binding *admissionregistrationv1.ValidatingAdmissionPolicyBinding
}

// Set is what `vap` prints: the policies and the one parameter object they read the
// installation from.
type Set struct {
	Settings *corev1.ConfigMap
	Policies []Policy
}

// SettingsName names the ConfigMap that holds the policies' parameters.
const SettingsName = "consul-peering-guard-policies"

// DefaultSettingsNamespace is where `vap` puts it unless told otherwise: the namespace the
// chart's documentation installs into.
const DefaultSettingsNamespace = "consul-peering-guard"

// ParamNotFoundAction is what every binding does while the settings object is missing: it
// lets the write through. Kubernetes' default, Deny, would refuse every write of the Consul
// kinds the bindings match, finalizer removals included, so a deleted ConfigMap (a namespace
// removed before the cluster-scoped policies, a pruning GitOps sync) would freeze every
// Consul object's update and deletion; the policies never block a cluster by accident
// (docs/policies.md).
const ParamNotFoundAction = admissionregistrationv1.AllowAction

// Settings is the parameter object of the policies for cfg, in namespace ns.
func Settings(cfg validators.Config, ns string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: SettingsName, Namespace: ns,
			Labels: map[string]string{managedByLabel: managedBy}},
		Data: validators.PolicyParams(cfg),
	}
}

// ValidationActions returns the binding's actions for a rule action: deny refuses, warn
// returns a warning and records an audit annotation; off has none.
func ValidationActions(a validators.Action) []admissionregistrationv1.ValidationAction {
	switch a {
	case validators.Deny:
		return []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}
	case validators.Warn:
		return []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn, admissionregistrationv1.Audit}
	}
	return nil
}

// Enforced reports whether a rule is enforced by a policy when it is on: an object-only rule
// that CEL expresses. serve --skip-object-rules leaves exactly these to the policies on the
// Consul kinds (on workloads only the webhook can read the upstreams annotation).
func Enforced(r *validators.Rule) bool {
	return r.ObjectOnly() && r.WebhookOnly() == ""
}

// Generate returns the policy of every object-only rule with CEL, in catalogue order, bound
// as cfg sets the rule (no binding when off), and the settings object in namespace ns that
// every binding reads the installation of cfg from.
func Generate(cfg validators.Config, ns string) (Set, error) {
	if err := cfg.Validate(); err != nil {
		return Set{}, err
	}
	set := Set{Settings: Settings(cfg, ns)}
	for _, r := range validators.Catalogue() {
		if !Enforced(r) {
			continue
		}
		groups := kindGroups(r)
		for _, g := range groups {
			name := NamePrefix + r.Name
			if len(groups) > 1 {
				name += "." + strings.ToLower(string(g.kinds[0]))
			}
			set.Policies = append(set.Policies, build(r.Name, name, cfg.ActionFor(r), g, ns))
		}
	}
	return set, nil
}

// kindGroup is the kinds of a rule that share one list of validations.
type kindGroup struct {
	kinds       []kinds.Kind
	validations []validators.CELValidation
}

func kindGroups(r *validators.Rule) []kindGroup {
	var groups []kindGroup
next:
	for _, k := range r.Kinds {
		vs, _ := r.CEL(k)
		if len(vs) == 0 {
			continue
		}
		for i := range groups {
			if slices.Equal(groups[i].validations, vs) {
				groups[i].kinds = append(groups[i].kinds, k)
				continue next
			}
		}
		groups = append(groups, kindGroup{kinds: []kinds.Kind{k}, validations: vs})
	}
	return groups
}

func build(rule, name string, action validators.Action, g kindGroup, ns string) Policy {
	fail := admissionregistrationv1.Fail
	invalid := metav1.StatusReasonInvalid // a denial is a 422, as the webhook answers
	scope := admissionregistrationv1.NamespacedScope
	resources := make([]string, len(g.kinds))
	for i, k := range g.kinds {
		resources[i] = kinds.Plural(k)
	}
	validations := make([]admissionregistrationv1.Validation, len(g.validations))
	for i, v := range g.validations {
		validations[i] = admissionregistrationv1.Validation{Expression: v.Expression, MessageExpression: v.MessageExpression,
			Reason: &invalid}
	}
	conditions := []admissionregistrationv1.MatchCondition{{
		Name: webhook.NotBeingDeletedCondition, Expression: webhook.NotBeingDeletedExpression,
	}}
	if bound := boundCondition(g.kinds); bound != "" {
		conditions = append(conditions, admissionregistrationv1.MatchCondition{Name: validators.PolicyBoundCondition, Expression: bound})
	}
	meta := metav1.ObjectMeta{Name: name, Labels: map[string]string{managedByLabel: managedBy},
		Annotations: map[string]string{RuleAnnotation: rule}}
	p := Policy{
		Rule: rule,
		Policy: &admissionregistrationv1.ValidatingAdmissionPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
			ObjectMeta: meta,
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				FailurePolicy: &fail,
				ParamKind:     &admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"},
				MatchConstraints: &admissionregistrationv1.MatchResources{
					ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
						RuleWithOperations: admissionregistrationv1.RuleWithOperations{
							Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
							Rule: admissionregistrationv1.Rule{APIGroups: []string{v1alpha1.GroupVersion.Group},
								APIVersions: []string{v1alpha1.GroupVersion.Version}, Resources: resources, Scope: &scope},
						},
					}},
				},
				MatchConditions: conditions,
				Validations:     validations,
			},
		},
	}
	if action == validators.Off {
		return p
	}
	notFound := ParamNotFoundAction
	p.Binding = &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: *meta.DeepCopy(),
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ParamRef:          &admissionregistrationv1.ParamRef{Name: SettingsName, Namespace: ns, ParameterNotFoundAction: &notFound},
			ValidationActions: ValidationActions(action),
		},
	}
	return p
}

// boundCondition is the match condition that leaves to the webhook an object whose lists
// are longer than the policies of kinds afford ("" when they iterate no list): each kind's
// bound, for a policy that matches several kinds (a kind's lists are absent from another's
// objects, so its bound holds there).
func boundCondition(ks []kinds.Kind) string {
	var parts []string
	for _, k := range ks {
		if expr, ok := validators.PolicyBound(k); ok {
			parts = append(parts, expr)
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	for i := range parts {
		parts[i] = "(" + parts[i] + ")"
	}
	return strings.Join(parts, " && ")
}

// Objects are the settings object, then each policy followed by its binding: the order to
// create them in.
func (s Set) Objects() []client.Object {
	objs := []client.Object{s.Settings}
	for _, p := range s.Policies {
		objs = append(objs, p.Policy)
		if p.Binding != nil {
			objs = append(objs, p.Binding)
		}
	}
	return objs
}

// Render writes the settings object, then the policies and bindings, as one YAML stream:
// kubectl apply creates the parameter before any binding reads it.
func (s Set) Render() ([]byte, error) {
	var b bytes.Buffer
	for _, obj := range s.Objects() {
		y, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("rendering the policies: %w", err)
		}
		b.WriteString("---\n")
		b.Write(stripStatus(y))
	}
	return b.Bytes(), nil
}

// stripStatus drops the empty status and creationTimestamp the API types always marshal.
func stripStatus(y []byte) []byte {
	var out []string
	skip := false
	for _, line := range strings.SplitAfter(string(y), "\n") {
		switch {
		case line == "status: {}\n", strings.TrimSpace(line) == "creationTimestamp: null":
			continue
		case line == "status:\n":
			skip = true
			continue
		case skip && strings.HasPrefix(line, " "):
			continue
		}
		skip = false
		out = append(out, line)
	}
	return []byte(strings.Join(out, ""))
}

// SkipEnforced turns off in cfg every rule the policies enforce, for a webhook installed
// beside them: each violation is then reported once, by the API server.
func SkipEnforced(cfg *validators.Config) {
	enforced := map[string]bool{}
	for _, r := range validators.Catalogue() {
		if Enforced(r) {
			enforced[r.Name] = true
		}
	}
	cfg.EnforcedByPolicies = enforced
}

// Scope is where the webhook entries apply, for policies installed beside them: break glass
// must reach both, or a write the webhook lets through (an exempt namespace, a namespace
// outside the selector, a request a match condition excludes) is still refused by a policy.
type Scope struct {
	// ExemptNamespaces are left out as the webhook entries leave them out: a NotIn
	// requirement on ExemptNamespaceLabel added to NamespaceSelector.
	ExemptNamespaces  []string
	NamespaceSelector *metav1.LabelSelector
	ObjectSelector    *metav1.LabelSelector
	// MatchConditions are added to each policy's own.
	MatchConditions []admissionregistrationv1.MatchCondition
}

// ExemptNamespaceLabel is the label the API server sets on every namespace to its name.
const ExemptNamespaceLabel = "kubernetes.io/metadata.name"

// NamespaceSelectorWithExemptions is sel with the exempt namespaces excluded, nil when both
// are empty: the selector of the webhook entries and of the bindings.
func NamespaceSelectorWithExemptions(sel *metav1.LabelSelector, exempt []string) *metav1.LabelSelector {
	if len(exempt) == 0 {
		return sel.DeepCopy()
	}
	out := &metav1.LabelSelector{}
	if sel != nil {
		out = sel.DeepCopy()
	}
	out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{
		Key: ExemptNamespaceLabel, Operator: metav1.LabelSelectorOpNotIn, Values: append([]string(nil), exempt...),
	})
	return out
}

// Apply restricts every binding to the scope's namespaces and objects and adds its match
// conditions to every policy.
func (s Scope) Apply(ps []Policy) {
	ns := NamespaceSelectorWithExemptions(s.NamespaceSelector, s.ExemptNamespaces)
	for _, p := range ps {
		if p.Binding != nil && (ns != nil || s.ObjectSelector != nil) {
			p.Binding.Spec.MatchResources = &admissionregistrationv1.MatchResources{
				NamespaceSelector: ns.DeepCopy(), ObjectSelector: s.ObjectSelector.DeepCopy(),
			}
		}
		p.Policy.Spec.MatchConditions = append(p.Policy.Spec.MatchConditions, s.MatchConditions...)
	}
}
