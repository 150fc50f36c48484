package vap

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// TestMissingSettingsAreNotSilent: without the settings object, a deny rule's binding
// refuses every write it matches and says why (parameterNotFoundAction Deny), a warn rule's
// lets writes through; once the object exists, both judge as the engine does.
func TestMissingSettingsAreNotSilent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const label = "vap.consul-peering-guard.io/settings"
	if err := cluster.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "settings-missing",
		Labels: map[string]string{label: "true"}}}); err != nil {
		t.Fatal(err)
	}
	cfg := validators.Config{Actions: map[string]validators.Action{}}
	for _, r := range validators.Catalogue() {
		cfg.Actions[r.Name] = validators.Off
	}
	cfg.Actions["proxy-defaults-name"], cfg.Actions["mesh-name"] = validators.Deny, validators.Warn
	set, err := policies.Generate(cfg, "default")
	if err != nil {
		t.Fatal(err)
	}
	set = rename(set, ".missing")
	for _, p := range set.Policies {
		if p.Binding != nil {
			p.Binding.Spec.MatchResources = &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{label: "true"}}}
		}
	}
	for _, o := range set.Objects()[1:] { // everything but the settings
		if err := cluster.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitForPolicies(ctx, t, "vap-sentinel-settings")

	seen := &warnings{}
	withWarnings := rest.CopyConfig(cluster.Config)
	withWarnings.WarningHandler = seen
	c, err := client.New(withWarnings, client.Options{Scheme: kinds.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	proxyDefaults := func(name string) *v1alpha1.ProxyDefaults {
		return &v1alpha1.ProxyDefaults{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "settings-missing"}}
	}
	mesh := &v1alpha1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "settings-missing"}}
	create := func(o client.Object) ([]string, error) {
		seen.take()
		err := c.Create(ctx, o.DeepCopyObject().(client.Object), client.DryRunAll)
		return seen.take(), err
	}

	// Without the settings, the deny rule refuses even a valid object, naming the cause.
	for _, name := range []string{"global", "edge"} {
		_, err := create(proxyDefaults(name))
		if err == nil || !strings.Contains(err.Error(), "no params found") || !strings.Contains(err.Error(), policies.NamePrefix+"proxy-defaults-name") {
			t.Errorf("ProxyDefaults %s without the settings: want a refusal naming the missing parameter and the binding, got %v", name, err)
		}
	}
	if warned, err := create(mesh); err != nil || len(warned) != 0 {
		t.Errorf("a warn rule without the settings: want the write through without a warning, got %v %q", err, warned)
	}

	if err := cluster.Client.Create(ctx, set.Settings); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the settings read", func() bool {
		_, err := create(proxyDefaults("global"))
		return err == nil
	})
	if _, err := create(proxyDefaults("edge")); err == nil || !strings.Contains(err.Error(), "(proxy-defaults-name)") {
		t.Errorf("ProxyDefaults edge with the settings: want the rule's refusal, got %v", err)
	}
	if warned, err := create(mesh); err != nil || len(warned) != 1 || !strings.Contains(warned[0], "(mesh-name)") {
		t.Errorf("Mesh other with the settings: want one mesh-name warning, got %v %q", err, warned)
	}
}
