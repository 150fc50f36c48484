package policies_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func generate(t *testing.T, cfg validators.Config) map[string][]policies.Policy {
	t.Helper()
	set, err := policies.Generate(cfg, "consul")
	if err != nil {
		t.Fatal(err)
	}
	byRule := map[string][]policies.Policy{}
	for _, p := range set.Policies {
		byRule[p.Rule] = append(byRule[p.Rule], p)
	}
	return byRule
}

func TestActionsBindAsSpecified(t *testing.T) {
	cfg := validators.Config{Actions: map[string]validators.Action{
		"upstream-no-wildcard": validators.Deny, "consumer-no-wildcard": validators.Warn, "mesh-name": validators.Off,
	}}
	byRule := generate(t, cfg)
	for _, tc := range []struct {
		rule     string
		want     []admissionregistrationv1.ValidationAction
		notFound admissionregistrationv1.ParameterNotFoundActionType
	}{
		{"upstream-no-wildcard", []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}, admissionregistrationv1.AllowAction},
		{"consumer-no-wildcard", []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn, admissionregistrationv1.Audit},
			admissionregistrationv1.AllowAction},
		{"mesh-name", nil, ""},
	} {
		ps := byRule[tc.rule]
		if len(ps) != 1 {
			t.Fatalf("%s: %d policies, want 1", tc.rule, len(ps))
		}
		b := ps[0].Binding
		if tc.want == nil {
			if b != nil {
				t.Errorf("%s is off but renders a binding", tc.rule)
			}
			continue
		}
		if b == nil {
			t.Fatalf("%s renders no binding", tc.rule)
		}
		if got := b.Spec.ValidationActions; !slices.Equal(got, tc.want) {
			t.Errorf("%s binds %v, want %v", tc.rule, got, tc.want)
		}
		want := admissionregistrationv1.ParamRef{Name: policies.SettingsName, Namespace: "consul", ParameterNotFoundAction: &tc.notFound}
		if ref := b.Spec.ParamRef; ref == nil || !equality.Semantic.DeepEqual(*ref, want) {
			t.Errorf("%s reads its parameter from %+v, want %+v", tc.rule, ref, want)
		}
	}
}

func TestSettingsCarryTheInstallation(t *testing.T) {
	v, err := validators.ParseConsulVersion("v1.15.2+ent")
	if err != nil {
		t.Fatal(err)
	}
	cm := policies.Settings(validators.Config{PartitionsEnabled: true, Partition: "ap1", NamespacesEnabled: true,
		Edition: validators.EditionEnterprise, ConsulVersion: v, Actions: map[string]validators.Action{"mesh-name": validators.Warn}}, "consul")
	if cm.Namespace != "consul" || cm.Name != policies.SettingsName {
		t.Errorf("settings object %s/%s, want consul/%s", cm.Namespace, cm.Name, policies.SettingsName)
	}
	for key, want := range map[string]string{
		validators.ParamPartition: "ap1", validators.ParamPartitionsEnabled: "true", validators.ParamNamespacesEnabled: "true",
		validators.ParamEdition: "enterprise", validators.ParamConsulVersion: "1.15.2",
		validators.ParamRulePrefix + "mesh-name": "warn", validators.ParamRulePrefix + "upstream-no-wildcard": "deny",
	} {
		if got, ok := cm.Data[key]; !ok || got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
	for key := range cm.Data {
		if rule, ok := strings.CutPrefix(key, validators.ParamRulePrefix); ok && !policies.Enforced(validators.RuleByName(rule)) {
			t.Errorf("%s: %s enforces no policy", key, rule)
		}
	}
	if got := policies.Settings(validators.Config{}, "consul").Data; got[validators.ParamPartition] != validators.DefaultPartition ||
		got[validators.ParamConsulVersion] != "" || got[validators.ParamEdition] != "" ||
		got[validators.ParamPolicyMaxListItems] != fmt.Sprint(validators.DefaultPolicyMaxListItems) {
		t.Errorf("default settings %v: want partition default, no version, no edition, the default list bound", got)
	}
}

func TestOnlyObjectRulesWithCELRender(t *testing.T) {
	byRule := generate(t, validators.Config{PartitionsEnabled: true, Partition: "ap1", Edition: validators.EditionEnterprise})
	for _, r := range validators.Catalogue() {
		_, rendered := byRule[r.Name]
		switch {
		case !r.ObjectOnly() && rendered:
			t.Errorf("%s reads other objects but renders a policy", r.Name)
		case r.WebhookOnly() != "" && rendered:
			t.Errorf("%s is webhook-only but renders a policy", r.Name)
		}
	}
	for _, rule := range []string{"partition-placement", "peer-through-gateways-default-partition", "upstream-no-wildcard"} {
		if _, ok := byRule[rule]; !ok {
			t.Errorf("%s renders no policy", rule)
		}
	}
}

func TestPoliciesMatchWritesAndSkipObjectsBeingDeleted(t *testing.T) {
	set, err := policies.Generate(validators.Config{}, "consul")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range set.Policies {
		spec := p.Policy.Spec
		if len(spec.MatchConstraints.ResourceRules) != 1 ||
			!slices.Equal(spec.MatchConstraints.ResourceRules[0].Operations,
				[]admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}) {
			t.Errorf("%s: match %+v, want CREATE and UPDATE", p.Policy.Name, spec.MatchConstraints)
		}
		if len(spec.MatchConditions) == 0 || !strings.Contains(spec.MatchConditions[0].Expression, "deletionTimestamp") {
			t.Errorf("%s: match conditions %+v do not skip objects being deleted", p.Policy.Name, spec.MatchConditions)
		}
		// A policy iterating a list skips objects whose lists exceed the bound.
		iterates := false
		for _, v := range spec.Validations {
			iterates = iterates || strings.Contains(v.Expression, ".exists(") || strings.Contains(v.Expression, ".filter(")
		}
		bounded := len(spec.MatchConditions) == 2 && spec.MatchConditions[1].Name == validators.PolicyBoundCondition &&
			strings.Contains(spec.MatchConditions[1].Expression, "<= int(params.data['"+validators.ParamPolicyMaxListItems+"'])")
		if iterates && !bounded {
			t.Errorf("%s: iterates a list, match conditions %+v: want the list bound", p.Policy.Name, spec.MatchConditions)
		}
		if spec.ParamKind == nil || *spec.ParamKind != (admissionregistrationv1.ParamKind{APIVersion: "v1", Kind: "ConfigMap"}) {
			t.Errorf("%s: parameter %+v, want a ConfigMap", p.Policy.Name, spec.ParamKind)
		}
		ratchets := false
		for _, v := range spec.Validations {
			// A deny rule ratchets against the stored object; a warn rule warns about every
			// violation, old or new, as the engine does: the action is a parameter.
			ratchets = ratchets || strings.Contains(v.Expression, "params.data['"+validators.ParamRulePrefix+p.Rule+"'] == 'deny'")
			if !strings.HasSuffix(v.MessageExpression, "' ("+p.Rule+")'") {
				t.Errorf("%s: message %q does not end with the rule", p.Policy.Name, v.MessageExpression)
			}
		}
		if !ratchets {
			t.Errorf("%s: no validation reads whether its rule is set to deny, to ratchet", p.Policy.Name)
		}
	}
}

func TestRenderIsTheSettingsThenPoliciesAndBindings(t *testing.T) {
	set, err := policies.Generate(validators.Config{}, "consul")
	if err != nil {
		t.Fatal(err)
	}
	out, err := set.Render()
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(strings.TrimPrefix(string(out), "---\n"), "---\n")
	if len(docs) != 1+2*len(set.Policies) {
		t.Fatalf("%d documents for %d policies", len(docs), len(set.Policies))
	}
	for i, doc := range docs {
		var meta struct {
			Kind   string         `json:"kind"`
			Status map[string]any `json:"status"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		want := "ValidatingAdmissionPolicy"
		switch {
		case i == 0:
			want = "ConfigMap"
		case i%2 == 0:
			want += "Binding"
		}
		if meta.Kind != want || meta.Status != nil {
			t.Errorf("document %d: kind %q status %v, want kind %s without status", i, meta.Kind, meta.Status, want)
		}
	}
}

func TestSkipEnforcedLeavesTheWebhookOnlyRules(t *testing.T) {
	cfg := validators.Config{Actions: map[string]validators.Action{"upstream-peer-known": validators.Deny}}
	policies.SkipEnforced(&cfg)
	for _, r := range validators.Catalogue() {
		if got := cfg.EnforcedByPolicies[r.Name]; policies.Enforced(r) != got {
			t.Errorf("%s: left to the policies %v, enforced by a policy %v", r.Name, got, policies.Enforced(r))
		}
	}
	if cfg.ActionFor(validators.RuleByName("upstream-peer-known")) != validators.Deny {
		t.Error("SkipEnforced changed a state rule's action")
	}
}

// With the policies installed, the engine still judges workloads with the rules the policies
// enforce on ServiceDefaults: only the webhook parses the upstreams annotation.
func TestSkipEnforcedKeepsWorkloadsInTheWebhook(t *testing.T) {
	var cfg validators.Config
	policies.SkipEnforced(&cfg)
	engine, err := validators.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sd := &v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1alpha1.ServiceDefaultsSpec{UpstreamConfig: &v1alpha1.Upstreams{Overrides: []*v1alpha1.Upstream{{Name: "api", Peer: "dc_2"}}}}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}}
	dep.Spec.Template.Annotations = map[string]string{validators.UpstreamsAnnotation: "api.svc.dc_2.peer:9090", validators.ConnectInjectAnnotation: "true"}
	for _, tc := range []struct {
		obj  runtime.Object
		want bool
	}{{sd, false}, {dep, true}} {
		res, err := engine.Validate(validators.Create, tc.obj, nil, state.NewIndex())
		if err != nil {
			t.Fatal(err)
		}
		got := false
		for _, v := range res.Violations {
			got = got || v.Rule == "upstream-peer-name-syntax"
		}
		if got != tc.want {
			t.Errorf("%T: upstream-peer-name-syntax reported %v, want %v", tc.obj, got, tc.want)
		}
	}
}

// An object whose lists exceed the bound skips the policies (their match condition), so the
// engine beside them judges it with the rules they enforce; the stored object counts too,
// as the ratchet reads it.
func TestSkipEnforcedJudgesObjectsBeyondThePolicyBound(t *testing.T) {
	cfg := validators.Config{PolicyMaxListItems: 3}
	policies.SkipEnforced(&cfg)
	engine, err := validators.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withOverrides := func(n int) *v1alpha1.ServiceDefaults {
		sd := &v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: v1alpha1.ServiceDefaultsSpec{UpstreamConfig: &v1alpha1.Upstreams{Overrides: []*v1alpha1.Upstream{{Name: "*"}}}}}
		for i := 1; i < n; i++ {
			sd.Spec.UpstreamConfig.Overrides = append(sd.Spec.UpstreamConfig.Overrides, &v1alpha1.Upstream{Name: fmt.Sprintf("api-%d", i)})
		}
		return sd
	}
	for _, tc := range []struct {
		name     string
		op       validators.Operation
		obj, old runtime.Object
		want     bool
	}{
		{"within the bound: the policy's", validators.Create, withOverrides(3), nil, false},
		{"beyond the bound: the webhook's", validators.Create, withOverrides(4), nil, true},
		{"stored object beyond the bound", validators.Update, withOverrides(2), withOverrides(5), true},
	} {
		res, err := engine.Validate(tc.op, tc.obj, tc.old, state.NewIndex())
		if err != nil {
			t.Fatal(err)
		}
		got := false
		for _, v := range res.Violations {
			got = got || (v.Rule == "upstream-no-wildcard" && v.Error.Field == "spec.upstreamConfig.overrides[0].name")
		}
		if got != tc.want {
			t.Errorf("%s: upstream-no-wildcard at spec.upstreamConfig.overrides[0].name reported %v, want %v", tc.name, got, tc.want)
		}
	}
	if cfg.BeyondPolicyBound(withOverrides(3), nil) || !cfg.BeyondPolicyBound(withOverrides(4), nil) {
		t.Error("BeyondPolicyBound disagrees with the bound of 3")
	}
}

// Break glass reaches the policies: the bindings select what the webhook entries select,
// exempt namespaces excluded, and the policies carry the webhook's match conditions.
func TestScopeAppliesTheWebhooksExemptions(t *testing.T) {
	set, err := policies.Generate(validators.Config{}, "consul")
	if err != nil {
		t.Fatal(err)
	}
	ps := set.Policies
	condition := admissionregistrationv1.MatchCondition{Name: "not-argocd", Expression: "request.userInfo.username != 'argocd'"}
	policies.Scope{
		ExemptNamespaces:  []string{"restore"},
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"consul": "true"}},
		ObjectSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
		MatchConditions:   []admissionregistrationv1.MatchCondition{condition},
	}.Apply(ps)
	wantNS := &metav1.LabelSelector{MatchLabels: map[string]string{"consul": "true"}, MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"restore"}}}}
	for _, p := range ps {
		mr := p.Binding.Spec.MatchResources
		if mr == nil || !equality.Semantic.DeepEqual(mr.NamespaceSelector, wantNS) || mr.ObjectSelector.MatchLabels["team"] != "a" {
			t.Errorf("%s: binding matches %+v, want namespaces %+v and objects team=a", p.Binding.Name, mr, wantNS)
		}
		if !slices.Contains(p.Policy.Spec.MatchConditions, condition) {
			t.Errorf("%s: match conditions %+v lack %s", p.Policy.Name, p.Policy.Spec.MatchConditions, condition.Name)
		}
	}
}

// TestChartTemplateIsCurrent fails when the chart's template is not what the generator
// writes from the catalogue (make generate rewrites it).
func TestChartTemplateIsCurrent(t *testing.T) {
	want, err := policies.HelmTemplate()
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join("..", "..", "charts", "consul-peering-guard", "templates", "validatingadmissionpolicies.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, want) {
		t.Fatal("the chart's validatingadmissionpolicies.yaml is stale: run make generate and commit it")
	}
}

// TestDocsNameTheWebhookOnlyRules keeps the prose of docs/policies.md, which lists the
// object-only rules that run only in the webhook, in step with the catalogue.
func TestDocsNameTheWebhookOnlyRules(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "policies.md"))
	if err != nil {
		t.Fatal(err)
	}
	prose, _, ok := strings.Cut(string(raw), "\n## Rule by rule")
	if !ok {
		t.Fatal("docs/policies.md has no section Rule by rule")
	}
	for _, r := range validators.Catalogue() {
		if r.ObjectOnly() && r.WebhookOnly() != "" && !strings.Contains(prose, "`"+r.Name+"`") {
			t.Errorf("docs/policies.md does not say that %s runs only in the webhook", r.Name)
		}
	}
}

// TestDocsPageIsCurrent fails when the table of docs/policies.md is not what the generator
// writes.
func TestDocsPageIsCurrent(t *testing.T) {
	table, err := policies.Table()
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(filepath.Join("..", "..", "docs", "policies.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(have), "<!-- policies:begin -->\n"+table+"<!-- policies:end -->") {
		t.Fatal("the table of docs/policies.md is stale: run make generate and commit it")
	}
}
