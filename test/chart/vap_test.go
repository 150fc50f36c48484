package chart

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/consul-peering-guard/consul-peering-guard/cmd/consul-peering-guard/app"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// TestPoliciesFollowTheValues renders the chart's ValidatingAdmissionPolicies under several
// installations and requires, policy by policy, what `consul-peering-guard vap` prints for
// the same installation (the webhook's flags the chart derives from the same values).
func TestPoliciesFollowTheValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string
		cfg    validators.Config
		// scope is the webhook's, which the policies take too.
		scope policies.Scope
	}{
		{name: "defaults", values: "", cfg: validators.Config{}},
		{name: "partition ap1 with namespaces on Consul 1.14.2 and rule actions",
			values: `consul: {version: "1.14.2", enableConsulNamespaces: true, adminPartitions: {enabled: true, name: ap1}}
rules: {consumer-peer-name-syntax: warn, upstream-no-wildcard: off, export-consul-service: deny}`,
			cfg: config(t, validators.Config{PartitionsEnabled: true, Partition: "ap1", NamespacesEnabled: true}, "1.14.2",
				"consumer-peer-name-syntax", "warn", "upstream-no-wildcard", "off", "export-consul-service", "deny")},
		{name: "ce on Consul 1.12.0", values: `consul: {version: "1.12.0", edition: ce}`,
			cfg: config(t, validators.Config{Edition: validators.EditionCE}, "1.12.0")},
		{name: "Consul v1.14.1+ent written as Consul prints it", values: `consul: {version: "v1.14.1+ent"}`,
			cfg: config(t, validators.Config{}, "v1.14.1+ent")},
		{name: "enterprise in the default partition on Consul 1.15.1",
			values: `consul: {version: "1.15.1", edition: enterprise, adminPartitions: {enabled: true, name: default}}`,
			cfg:    config(t, validators.Config{Edition: validators.EditionEnterprise, PartitionsEnabled: true, Partition: "default"}, "1.15.1")},
		{name: "Consul 1.13.0", values: `consul: {version: "1.13.0"}`, cfg: config(t, validators.Config{}, "1.13.0")},
		{name: "break glass and a list bound",
			values: `validatingAdmissionPolicies: {enabled: true, maxListItems: 250}
webhook:
  exemptNamespaces: [restore]
  namespaceSelector: {matchLabels: {consul: "true"}}
  objectSelector: {matchLabels: {team: a}}
  matchConditions: [{name: not-argocd, expression: "request.userInfo.username != 'argocd'"}]`,
			cfg: validators.Config{PolicyMaxListItems: 250},
			scope: policies.Scope{ExemptNamespaces: []string{"restore"},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"consul": "true"}},
				ObjectSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
				MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "not-argocd",
					Expression: "request.userInfo.username != 'argocd'"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "values.yaml")
			values := tc.values
			if !strings.Contains(values, "validatingAdmissionPolicies:") {
				values = "validatingAdmissionPolicies: {enabled: true}\n" + values
			}
			if err := os.WriteFile(file, []byte(values+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r := helm(t, "template", release, chartDir, "--namespace", namespace, "-f", file)
			if r.code != 0 {
				t.Fatalf("helm template: %s", r)
			}
			objs := decode(t, []byte(r.stdout))
			checkLabels(t, objs)
			gotPolicies := only[*admissionregistrationv1.ValidatingAdmissionPolicy](objs)
			gotBindings := only[*admissionregistrationv1.ValidatingAdmissionPolicyBinding](objs)
			want, err := policies.Generate(tc.cfg, namespace)
			if err != nil {
				t.Fatal(err)
			}
			tc.scope.Apply(want.Policies)
			var wantBindings []*admissionregistrationv1.ValidatingAdmissionPolicyBinding
			for _, w := range want.Policies {
				if w.Binding != nil {
					wantBindings = append(wantBindings, w.Binding)
				}
			}
			if len(gotPolicies) != len(want.Policies) || len(gotBindings) != len(wantBindings) {
				t.Fatalf("rendered %d policies and %d bindings, vap prints %d and %d", len(gotPolicies), len(gotBindings),
					len(want.Policies), len(wantBindings))
			}
			for i, w := range want.Policies {
				if p := gotPolicies[i]; p.Name != w.Policy.Name || !reflect.DeepEqual(p.Spec, w.Policy.Spec) {
					t.Errorf("policy %d: rendered %s with spec\n %+v\nvap prints %s with\n %+v", i, p.Name, p.Spec, w.Policy.Name, w.Policy.Spec)
				}
			}
			for i, w := range wantBindings {
				if b := gotBindings[i]; b.Name != w.Name || !reflect.DeepEqual(b.Spec, w.Spec) {
					t.Errorf("binding %d: rendered %s %+v, vap prints %s %+v", i, b.Name, b.Spec, w.Name, w.Spec)
				}
			}
			var settings *corev1.ConfigMap
			for _, cm := range only[*corev1.ConfigMap](objs) {
				if cm.Name == policies.SettingsName {
					settings = cm
				}
			}
			if settings == nil {
				t.Fatalf("no ConfigMap %s rendered", policies.SettingsName)
			}
			if settings.Namespace != namespace || !reflect.DeepEqual(settings.Data, want.Settings.Data) {
				t.Errorf("rendered settings %+v, vap prints %+v", settings, want.Settings)
			}
			var args []string
			for _, c := range one[*appsv1.Deployment](t, objs).Spec.Template.Spec.Containers {
				args = append(args, c.Args...)
			}
			// The webhook and the policies judge one installation: the settings the chart
			// passes serve are those its policies read.
			served := validators.PolicyParams(servedConfig(t, args))
			for _, key := range slices.Sorted(maps.Keys(served)) {
				if got, ok := settings.Data[key]; !ok || got != served[key] {
					t.Errorf("serve is started with %s %q, the policies read %q", key, served[key], got)
				}
			}
			if len(settings.Data) != len(served) {
				t.Errorf("the policies read %d settings, serve's arguments make %d", len(settings.Data), len(served))
			}
			bound := tc.cfg.PolicyMaxListItems
			if bound == 0 {
				bound = validators.DefaultPolicyMaxListItems
			}
			if !slices.Contains(args, "--skip-object-rules") || !slices.Contains(args, fmt.Sprintf("--policy-max-list-items=%d", bound)) {
				t.Errorf("the webhook is not started with --skip-object-rules --policy-max-list-items=%d: %v", bound, args)
			}
		})
	}
}

// servedConfig is the configuration serve reads from args, through the flags it binds
// (BindConfig, and the policies' list bound as serve and vap add it).
func servedConfig(t *testing.T, args []string) validators.Config {
	t.Helper()
	var cfg validators.Config
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	app.BindConfig(fs, &cfg)
	app.AddPolicyMaxListItems(fs, &cfg.PolicyMaxListItems)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("serve's arguments %v: %v", args, err)
	}
	return cfg
}

func config(t *testing.T, cfg validators.Config, version string, actions ...string) validators.Config {
	t.Helper()
	if version != "" {
		v, err := validators.ParseConsulVersion(version)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ConsulVersion = v
	}
	for i := 0; i+1 < len(actions); i += 2 {
		if cfg.Actions == nil {
			cfg.Actions = map[string]validators.Action{}
		}
		cfg.Actions[actions[i]] = validators.Action(actions[i+1])
	}
	return cfg
}

func TestSchemaChecksTheValidatingAdmissionPoliciesValues(t *testing.T) {
	for _, tc := range []struct{ set, want string }{
		{"validatingAdmissionPolicies.enabled=yes", "at '/validatingAdmissionPolicies/enabled': got string, want boolean"},
		{"validatingAdmissionPolicies.enable=true", "additional properties 'enable' not allowed"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			r := helm(t, "lint", chartDir, "--set", tc.set)
			if r.code == 0 || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Errorf("want the schema to refuse %s with %q, got %s", tc.set, tc.want, r)
			}
		})
	}
}

func TestPoliciesAreOffByDefault(t *testing.T) {
	objs := decode(t, render(t, ""))
	if n := len(only[*admissionregistrationv1.ValidatingAdmissionPolicy](objs)); n != 0 {
		t.Errorf("default values render %d ValidatingAdmissionPolicies, want none", n)
	}
	for _, c := range one[*appsv1.Deployment](t, objs).Spec.Template.Spec.Containers {
		if slices.Contains(c.Args, "--skip-object-rules") {
			t.Error("default values start the webhook with --skip-object-rules")
		}
	}
}
