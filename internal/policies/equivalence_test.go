package policies_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/test/rulecases"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// compile builds the evaluator the API server's ValidatingAdmissionPolicy plugin builds for
// a policy (validating.compilePolicy, unexported): the same environment, compiler, match
// conditions and message expressions, so that a plain go test runs the policies' CEL as a
// kube-apiserver would.
func compile(t *testing.T, p *admissionregistrationv1.ValidatingAdmissionPolicy) validating.Validator {
	t.Helper()
	compiler, err := cel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		t.Fatal(err)
	}
	vars := cel.OptionalVariableDeclarations{HasParams: p.Spec.ParamKind != nil, HasAuthorizer: true}
	messageVars := cel.OptionalVariableDeclarations{HasParams: p.Spec.ParamKind != nil}
	conditions := make([]cel.ExpressionAccessor, len(p.Spec.MatchConditions))
	for i := range p.Spec.MatchConditions {
		conditions[i] = (*matchconditions.MatchCondition)(&p.Spec.MatchConditions[i])
	}
	validations := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	messages := make([]cel.ExpressionAccessor, len(p.Spec.Validations))
	for i, v := range p.Spec.Validations {
		validations[i] = &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason}
		messages[i] = &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}
	}
	matcher := matchconditions.NewMatcher(compiler.CompileCondition(conditions, vars, environment.StoredExpressions),
		p.Spec.FailurePolicy, "policy", "validate", p.Name)
	v := validating.NewValidator(compiler.CompileCondition(validations, vars, environment.StoredExpressions), matcher,
		compiler.CompileCondition(nil, vars, environment.StoredExpressions),
		compiler.CompileCondition(messages, messageVars, environment.StoredExpressions), p.Spec.FailurePolicy, nil)
	if err := v.CompileError(); err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
	return v
}

// TestPoliciesAgreeWithTheGoChecks binds every object-only rule's Go check to its CEL, as
// Kubernetes' VerifyValidationEquivalence binds a handwritten check to its declarative
// form: every table case of the rules (test/vap/testdata/rulecases.json, which go test
// ./validators keeps current) goes through the engine and through the rule's policies in the
// API server's own evaluator, with the case's installation as the policies' parameter. Both
// must give the same verdict for the rule, each failing validation must say exactly what
// the engine says about that field ("<field>: <detail> (<rule>)"), and each place the
// engine finds a new violation must be named by a validation. test/vap proves the same
// through a real API server.
func TestPoliciesAgreeWithTheGoChecks(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "test", "vap", "testdata", "rulecases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []rulecases.Case
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	set, err := policies.Generate(validators.Config{}, "consul")
	if err != nil {
		t.Fatal(err)
	}
	type compiled struct {
		policy    *admissionregistrationv1.ValidatingAdmissionPolicy
		validator validating.Validator
	}
	byRule := map[string][]compiled{}
	for _, p := range set.Policies {
		byRule[p.Rule] = append(byRule[p.Rule], compiled{p.Policy, compile(t, p.Policy)})
	}
	covered := map[string]bool{}
	for _, c := range cases {
		t.Run(c.Rule+"/"+c.Name, func(t *testing.T) {
			if _, ok := rulecases.RefusedByTheAPIServer[c.Rule+"/"+c.Name]; ok {
				return // no API server lets such an object reach a policy
			}
			res, cfg, err := c.Judge()
			if err != nil {
				t.Fatal(err)
			}
			obj, old, err := c.Unstructured()
			if err != nil {
				t.Fatal(err)
			}
			kind := kinds.Kind(obj.GetKind())
			var failed []string
			for _, p := range byRule[c.Rule] {
				if !slices.Contains(p.policy.Spec.MatchConstraints.ResourceRules[0].Resources, kinds.Plural(kind)) {
					continue
				}
				covered[c.Rule] = true
				for _, d := range evaluate(t, p.validator, kind, obj, old, policies.Settings(cfg, "consul")).Decisions {
					if d.Evaluation == validating.EvalError {
						t.Errorf("%s: CEL error: %s", p.policy.Name, d.Message)
					} else if d.Action == validating.ActionDeny {
						failed = append(failed, d.Message)
					}
				}
			}
			action := cfg.ActionFor(validators.RuleByName(c.Rule))
			if action == validators.Off {
				failed = nil // off renders no binding: the policy is never evaluated
			}
			got := "pass"
			if len(failed) > 0 {
				got = string(action)
			}
			engine := rulecases.Verdict(res, c.Rule)
			if want := rulecases.PolicyVerdict(engine, c.Rule, cfg); got != want {
				t.Fatalf("policy verdict %s, engine %s (want %s); engine: %v; policy: %q", got, engine, want, engineMessages(res, c.Rule), failed)
			}
			said := engineMessages(res, c.Rule)
			named := map[string]bool{}
			for _, m := range failed {
				if !slices.Contains(said, m) {
					t.Errorf("a policy says %q, the engine does not (engine: %q)", m, said)
				}
				field, _, _ := strings.Cut(m, ": ")
				named[site(field)] = true
			}
			for _, v := range res.Violations {
				if v.Rule == c.Rule && (v.Action == validators.Deny || action == validators.Warn) && !named[site(v.Error.Field)] {
					t.Errorf("the engine reports %s %s, no validation does (policies: %q)", v.Action, v.Error.Field, failed)
				}
			}
		})
	}
	for _, p := range set.Policies {
		if !covered[p.Rule] {
			t.Errorf("%s: no table case reaches its policy", p.Rule)
		}
	}
}

// evaluate runs one policy on a request for obj (an update of old when not nil) with
// settings as its parameter, as the API server's dispatcher does.
func evaluate(t *testing.T, v validating.Validator, kind kinds.Kind, obj, old *unstructured.Unstructured, settings *corev1.ConfigMap) validating.ValidateResult {
	t.Helper()
	gvk := v1alpha1.GroupVersion.WithKind(string(kind))
	gvr := v1alpha1.GroupVersion.WithResource(kinds.Plural(kind))
	op, stored := admission.Create, runtime.Object(nil)
	if old != nil {
		op, stored = admission.Update, old
	}
	attrs := admission.NewAttributesRecord(obj, stored, gvk, "default", "", gvr, "", op, nil, false, &user.DefaultInfo{Name: "test"})
	versioned, err := admission.NewVersionedAttributes(attrs, gvk, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	return v.Validate(context.Background(), gvr, versioned, settings, ns, celconfig.RuntimeCELCostBudget, nil)
}

// engineMessages are the engine's violations of rule as a policy words them.
func engineMessages(res validators.Result, rule string) []string {
	var out []string
	for _, v := range res.Violations {
		if v.Rule == rule {
			out = append(out, v.Error.Field+": "+v.Error.Detail)
		}
	}
	return out
}

var brackets = regexp.MustCompile(`\[[^\]]*\]`)

// site is a field path without list indexes and map keys: a validation names the first new
// violation of its field.
func site(field string) string { return brackets.ReplaceAllString(field, "[*]") }
