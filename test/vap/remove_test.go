package vap

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// The command docs/policies.md gives to remove what `vap` printed removes every policy and
// binding of it, and nothing else.
func TestDocumentedRemovalRemovesThePolicies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	page, err := os.ReadFile(filepath.Join(cluster.Root, "docs", "policies.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- remove-vap -->\\s*```sh\\n(.*?)```").FindSubmatch(page)
	if m == nil {
		t.Fatal("docs/policies.md shows no command after <!-- remove-vap -->")
	}
	command := strings.TrimSpace(string(m[1]))

	// The other tests of this package leave their policies behind (one per table case, thousands):
	// each kind is cleared in one call, so the documented command removes only what this test
	// applies, as it would in a cluster.
	managed := client.MatchingLabels{"app.kubernetes.io/managed-by": "consul-peering-guard"}
	if err := cluster.Client.DeleteAllOf(ctx, &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}, managed); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.DeleteAllOf(ctx, &admissionregistrationv1.ValidatingAdmissionPolicy{}, managed); err != nil {
		t.Fatal(err)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: policies.DefaultSettingsNamespace}}
	if err := cluster.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	set, err := policies.Generate(validators.Config{}, policies.DefaultSettingsNamespace)
	if err != nil {
		t.Fatal(err)
	}
	out, err := set.Render()
	if err != nil {
		t.Fatal(err)
	}
	if r := cluster.Apply(string(out)); r.Code != 0 {
		t.Fatalf("kubectl apply of vap's output: %s", r.Stderr)
	}
	other := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "someone-elses-policy"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "true"}},
		},
	}
	if err := cluster.Client.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cluster.Client.Delete(context.Background(), other) }()

	ours := func() (policyCount, bindingCount int) {
		var pl admissionregistrationv1.ValidatingAdmissionPolicyList
		var bl admissionregistrationv1.ValidatingAdmissionPolicyBindingList
		if err := cluster.Client.List(ctx, &pl, managed); err != nil {
			t.Fatal(err)
		}
		if err := cluster.Client.List(ctx, &bl, managed); err != nil {
			t.Fatal(err)
		}
		for _, p := range pl.Items {
			if strings.HasPrefix(p.Name, policies.NamePrefix) {
				policyCount++
			}
		}
		for _, b := range bl.Items {
			if strings.HasPrefix(b.Name, policies.NamePrefix) {
				bindingCount++
			}
		}
		return policyCount, bindingCount
	}
	settings := client.ObjectKeyFromObject(set.Settings)
	if p, b := ours(); p == 0 || b == 0 {
		t.Fatalf("after applying vap's output: %d policies, %d bindings", p, b)
	}
	if err := cluster.Client.Get(ctx, settings, &corev1.ConfigMap{}); err != nil {
		t.Fatalf("after applying vap's output, its settings: %v", err)
	}

	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.Kubeconfig, "PATH="+filepath.Join(cluster.Root, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	if p, b := ours(); p != 0 || b != 0 {
		t.Errorf("after %s: %d policies and %d bindings of vap left", command, p, b)
	}
	if err := cluster.Client.Get(ctx, settings, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
		t.Errorf("after %s, the settings of vap: %v, want not found", command, err)
	}
	if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(other), &admissionregistrationv1.ValidatingAdmissionPolicy{}); err != nil {
		t.Errorf("a policy vap did not print is gone too: %v", err)
	}
}
