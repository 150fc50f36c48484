package vap

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/test/rulecases"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// ruleCase is a table case of validators/*_test.go as validators writes it.
type ruleCase = rulecases.Case

// Labels of a case's namespace: a binding selects the namespaces of its configuration and
// rule, so each case meets exactly the policy of its rule under its configuration.
//
// Every case also runs in a mirror namespace where the same policies are bound with [Warn]
// only: the API server then reports every failing validation, not just the first denial, so
// the test sees each place a policy finds a violation and compares them with the engine's.
const (
	configLabel = "vap.consul-peering-guard.io/config"
	ruleLabel   = "vap.consul-peering-guard.io/rule"
	mirrorLabel = "vap.consul-peering-guard.io/mirror"
)

func loadCases(t *testing.T) []ruleCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/rulecases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []ruleCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// warnings collects the Warning headers of the API server's answers.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

func TestPoliciesAgreeWithTheEngine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cases := loadCases(t)
	if len(cases) == 0 {
		t.Fatal("no cases: run go test ./validators -update-vap-cases")
	}
	cfgRest := rest.CopyConfig(cluster.Config)
	seen := &warnings{}
	cfgRest.WarningHandler = seen
	dyn, err := dynamic.NewForConfig(cfgRest)
	if err != nil {
		t.Fatal(err)
	}

	// One set of policies per configuration the cases use.
	configIDs := map[string]string{}
	configs := map[string]validators.Config{}
	for _, c := range cases {
		key, _ := json.Marshal(c.Config)
		if _, ok := configIDs[string(key)]; ok {
			continue
		}
		cfg, err := c.Config, c.Config.Validate()
		if err != nil {
			t.Fatalf("%s/%s: %v", c.Rule, c.Name, err)
		}
		id := fmt.Sprintf("c%d", len(configIDs))
		configIDs[string(key)], configs[id] = id, cfg
	}
	idOf := func(c ruleCase) string {
		key, _ := json.Marshal(c.Config)
		return configIDs[string(key)]
	}

	// Namespaces, and the stored objects of the UPDATE cases, before any policy exists.
	for i, c := range cases {
		for _, mirror := range []string{"false", "true"} {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespaceOf(i, mirror == "true"),
				Labels: map[string]string{configLabel: idOf(c), ruleLabel: c.Rule, mirrorLabel: mirror}}}
			if err := cluster.Client.Create(ctx, ns); err != nil {
				t.Fatal(err)
			}
			if c.Old != nil {
				old, gvr := decode(t, c.Old, ns.Name)
				if _, err := dyn.Resource(gvr).Namespace(ns.Name).Create(ctx, old, metav1.CreateOptions{}); err != nil {
					t.Fatalf("%s/%s: storing the old object: %v", c.Rule, c.Name, err)
				}
			}
		}
	}

	// The policies, each bound to the namespaces of its configuration and rule.
	checker := typeChecker(t)
	checkTheTypeCheckerSeesEveryKind(t, checker)
	ids := make([]string, 0, len(configs))
	for id := range configs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		set, err := policies.Generate(configs[id], "default")
		if err != nil {
			t.Fatal(err)
		}
		set = rename(set, "."+id)
		if err := cluster.Client.Create(ctx, set.Settings); err != nil {
			t.Fatal(err)
		}
		for _, p := range set.Policies {
			if warns := checker.Check(p.Policy); len(warns) > 0 {
				t.Errorf("policy %s does not type-check against the CRDs: %v", p.Policy.Name, warns)
			}
			name := p.Policy.Name
			if err := cluster.Client.Create(ctx, p.Policy); err != nil {
				t.Fatalf("creating policy %s: %v", name, err)
			}
			if p.Binding == nil {
				continue // the rule is off in this configuration
			}
			mirror := p.Binding.DeepCopy()
			mirror.Name += ".mirror"
			mirror.Spec.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn}
			for b, m := range map[*admissionregistrationv1.ValidatingAdmissionPolicyBinding]string{p.Binding: "false", mirror: "true"} {
				b.Spec.MatchResources = &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
					MatchLabels: map[string]string{configLabel: id, ruleLabel: p.Rule, mirrorLabel: m}}}
			}
			for _, b := range []*admissionregistrationv1.ValidatingAdmissionPolicyBinding{p.Binding, mirror} {
				if err := cluster.Client.Create(ctx, b); err != nil {
					t.Fatalf("creating binding %s: %v", b.Name, err)
				}
			}
		}
	}
	waitForPolicies(ctx, t, "vap-sentinel-tables")

	for i, c := range cases {
		t.Run(c.Rule+"/"+c.Name, func(t *testing.T) {
			ns := namespaceOf(i, false)
			res, cfg, err := c.Judge()
			if err != nil {
				t.Fatal(err)
			}
			engine := rulecases.Verdict(res, c.Rule)
			want := rulecases.PolicyVerdict(engine, c.Rule, cfg)
			got, msgs := policyVerdict(ctx, t, dyn, seen, c, ns)
			if why, ok := rulecases.RefusedByTheAPIServer[c.Rule+"/"+c.Name]; ok {
				if got != "refused" {
					t.Fatalf("listed as refused by the API server (%s), but it answered %s %q", why, got, msgs)
				}
				return
			}
			if got == "refused" {
				t.Fatalf("the API server's own validation refused the object: %q", msgs)
			}
			if got != want {
				t.Fatalf("policy verdict %s, engine %s (want %s from the policy); engine hits %v; policy said %q", got, engine, want, c.Hits, msgs)
			}
			if got != "pass" && !namesAHit(msgs, c.Hits, got) {
				t.Errorf("policy message %q names none of the engine's %s fields %v", msgs, got, c.Hits)
			}
			compareSites(ctx, t, dyn, seen, c, i, cfg)
		})
	}
}

func namespaceOf(i int, mirror bool) string {
	if mirror {
		return fmt.Sprintf("case-%03d-mirror", i)
	}
	return fmt.Sprintf("case-%03d", i)
}

// compareSites runs the case where every validation only warns: each warning must name a
// field the engine reported, and each field the engine reports as a new violation (denied,
// or warned by a warn rule) must be named by a warning, list indexes and map keys aside (a
// validation names the first new violation of its field).
func compareSites(ctx context.Context, t *testing.T, dyn dynamic.Interface, seen *warnings, c ruleCase, i int, cfg validators.Config) {
	t.Helper()
	got, msgs := policyVerdict(ctx, t, dyn, seen, c, namespaceOf(i, true))
	if got == "deny" {
		t.Fatalf("a warn-only binding refused the object: %q", msgs)
	}
	warned := map[string]bool{}
	for _, m := range msgs {
		field, ok := warnedField(m)
		if !ok {
			t.Errorf("warning %q does not read <field path>: <message> (%s)", m, c.Rule)
			continue
		}
		if !slices.ContainsFunc(c.Hits, func(h string) bool { _, f, _ := strings.Cut(h, " "); return f == field }) {
			t.Errorf("a policy reports %s, which the engine does not (engine: %v)", field, c.Hits)
		}
		warned[site(field)] = true
	}
	ruleWarns := cfg.ActionFor(validators.RuleByName(c.Rule)) == validators.Warn
	for _, h := range c.Hits {
		action, field, _ := strings.Cut(h, " ")
		if (action == "deny" || ruleWarns) && !warned[site(field)] {
			t.Errorf("the engine reports %s %s, no validation does (policies: %q)", action, field, msgs)
		}
	}
}

// warnedField is the field path a policy warning starts with, after the API server's prefix
// ("Validation failed for ValidatingAdmissionPolicy '...' with binding '...': ").
func warnedField(w string) (string, bool) {
	if i := strings.Index(w, "': "); i >= 0 {
		w = w[i+3:]
	}
	field, _, ok := strings.Cut(w, ": ")
	return field, ok
}

var brackets = regexp.MustCompile(`\[[^\]]*\]`)

// site is a field path without list indexes and map keys.
func site(field string) string { return brackets.ReplaceAllString(field, "[*]") }

// decode is the case's object as the API server is sent it, in namespace ns.
func decode(t *testing.T, raw json.RawMessage, ns string) (*unstructured.Unstructured, schema.GroupVersionResource) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(ns)
	return u, v1alpha1.GroupVersion.WithResource(kinds.Plural(kinds.Kind(u.GetKind())))
}

// policyVerdict sends the case to the API server as a dry run: deny when it refuses the
// object with the rule's message, warn when it warns with it, refused when its own
// validation refuses the object, pass otherwise.
func policyVerdict(ctx context.Context, t *testing.T, dyn dynamic.Interface, seen *warnings, c ruleCase, ns string) (string, []string) {
	t.Helper()
	err := dryRun(ctx, t, dyn, seen, c, ns)
	suffix := "(" + c.Rule + ")"
	if err != nil {
		if !strings.Contains(err.Error(), suffix) {
			if apierrors.IsInvalid(err) && !strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
				return "refused", []string{err.Error()}
			}
			t.Fatalf("the API server refused the object for another reason than the rule: %v", err)
		}
		if !apierrors.IsInvalid(err) {
			t.Errorf("refused with %v, want 422 Invalid as the webhook answers", apierrors.ReasonForError(err))
		}
		return "deny", []string{err.Error()}
	}
	var mine []string
	for _, w := range seen.take() {
		if strings.Contains(w, suffix) {
			mine = append(mine, w)
		}
	}
	if len(mine) > 0 {
		return "warn", mine
	}
	return "pass", nil
}

// dryRun sends a case's object through the API server as a server-side dry run: a create,
// or an update of the stored old object when the case has one. Warnings seen before are
// dropped, so that seen then holds this call's.
func dryRun(ctx context.Context, t *testing.T, dyn dynamic.Interface, seen *warnings, c ruleCase, ns string) error {
	t.Helper()
	obj, gvr := decode(t, c.Object, ns)
	res := dyn.Resource(gvr).Namespace(ns)
	seen.take()
	if c.Old == nil {
		_, err := res.Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	stored, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj.SetResourceVersion(stored.GetResourceVersion())
	_, err = res.Update(ctx, obj, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// namesAHit reports whether a message names the field of one of the engine's hits with
// that action ("deny spec.x" or "warn spec.x").
func namesAHit(msgs, hits []string, action string) bool {
	for _, h := range hits {
		a, field, _ := strings.Cut(h, " ")
		if a != action {
			continue
		}
		for _, m := range msgs {
			if strings.Contains(m, field+": ") {
				return true
			}
		}
	}
	return false
}

// typeChecker checks policies against the CRD schemas the API server publishes, as the
// controller filling status.typeChecking does (envtest runs no controller manager).
func typeChecker(t *testing.T) *validating.TypeChecker {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cluster.Config, hc)
	if err != nil {
		t.Fatal(err)
	}
	return &validating.TypeChecker{SchemaResolver: &resolver.ClientDiscoveryResolver{Discovery: dc}, RestMapper: mapper}
}

// checkTheTypeCheckerSeesEveryKind is the negative control of the type check, which skips
// silently a kind whose schema it cannot resolve: a field no CRD has must be reported for
// every kind.
func checkTheTypeCheckerSeesEveryKind(t *testing.T, checker *validating.TypeChecker) {
	t.Helper()
	scope := admissionregistrationv1.NamespacedScope
	for _, k := range kinds.Consul {
		p := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "control"},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule: admissionregistrationv1.Rule{APIGroups: []string{v1alpha1.GroupVersion.Group},
							APIVersions: []string{v1alpha1.GroupVersion.Version}, Resources: []string{kinds.Plural(k)}, Scope: &scope},
					},
				}}},
				Validations: []admissionregistrationv1.Validation{{Expression: "object.spec.noSuchFieldInAnyCRD == 'x'"}},
			}}
		if warns := checker.Check(p); len(warns) == 0 {
			t.Fatalf("the type checker finds nothing wrong with an unknown field of %s: it did not resolve its schema", k)
		}
	}
}

// waitForPolicies waits until the API server enforces the policies just created: a last
// sentinel policy refusing one ConfigMap name takes effect only after every earlier one.
func waitForPolicies(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	fail := admissionregistrationv1.Fail
	p := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "object.metadata.name != '" + name + "'"}},
		}}
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}}}
	for _, o := range []client.Object{p, b} {
		if err := cluster.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
		err := cluster.Client.Create(ctx, cm, client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), name) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the policies did not take effect within a minute (last answer: %v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
