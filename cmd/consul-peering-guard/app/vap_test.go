package app

import (
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func TestVAPPrintsThePoliciesOfTheInstallation(t *testing.T) {
	code, out, stderr := runCLI(t, "vap", "--partitions-enabled", "--partition", "ap1", "--namespaces-enabled",
		"--consul-edition", "enterprise", "--consul-version", "1.14", "--rule", "mesh-name=off", "--rule", "consumer-no-wildcard=warn",
		"--settings-namespace", "consul")
	if code != exitAllowed {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	v, err := validators.ParseConsulVersion("1.14")
	if err != nil {
		t.Fatal(err)
	}
	set, err := policies.Generate(validators.Config{PartitionsEnabled: true, Partition: "ap1", NamespacesEnabled: true,
		Edition: validators.EditionEnterprise, ConsulVersion: v,
		Actions: map[string]validators.Action{"mesh-name": validators.Off, "consumer-no-wildcard": validators.Warn}}, "consul")
	if err != nil {
		t.Fatal(err)
	}
	want, err := set.Render()
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("vap printed something else than the policies of its flags:\n%s", out)
	}
	if strings.Contains(out, "policyName: consul-peering-guard.mesh-name\n") {
		t.Error("a rule set to off was bound")
	}
	for _, setting := range []string{"partition: ap1", "namespace: consul", "consulVersion: \"1.14\""} {
		if !strings.Contains(out, setting) {
			t.Errorf("the settings object lacks %s", setting)
		}
	}
}

func TestVAPRefusesBadFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown rule":           {"vap", "--rule", "no-such-rule=deny"},
		"partition only":         {"vap", "--partition", "ap1"},
		"bad edition":            {"vap", "--consul-edition", "oss"},
		"a file":                 {"vap", "-f", examples},
		"bad exempt namespace":   {"vap", "--exempt-namespace", "Not_A_Namespace"},
		"bad selector":           {"vap", "--namespace-selector", "a in (b"},
		"condition without name": {"vap", "--match-condition", "=true"},
		"negative list bound":    {"vap", "--policy-max-list-items", "-1"},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _, _ := runCLI(t, args...); code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
		})
	}
}

// The webhook's scope and list bound given to vap reach what it prints, as Scope.Apply and
// the configuration render them.
func TestVAPTakesTheWebhooksScopeAndListBound(t *testing.T) {
	code, out, stderr := runCLI(t, "vap", "--exempt-namespace", "restore", "--namespace-selector", "consul=true",
		"--object-selector", "team=a", "--match-condition", "not-argocd=request.userInfo.username != 'argocd'",
		"--policy-max-list-items", "250")
	if code != exitAllowed {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	set, err := policies.Generate(validators.Config{PolicyMaxListItems: 250}, policies.DefaultSettingsNamespace)
	if err != nil {
		t.Fatal(err)
	}
	policies.Scope{ExemptNamespaces: []string{"restore"},
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"consul": "true"}},
		ObjectSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}},
		MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "not-argocd",
			Expression: "request.userInfo.username != 'argocd'"}}}.Apply(set.Policies)
	want, err := set.Render()
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("vap printed something else than the scoped policies:\n%s", out)
	}
	if !strings.Contains(out, "policyMaxListItems: \"250\"") || !strings.Contains(out, "- restore") {
		t.Error("the list bound or the exempt namespace is missing")
	}
}
