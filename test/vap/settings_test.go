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

// TestMissingSettingsNeverBlock: without the settings object every binding lets writes
// through (parameterNotFoundAction Allow), the mistake of a deny rule included, so a deleted
// ConfigMap never freezes the Consul kinds; once the object exists, both rules judge as the
// engine does.
func TestMissingSettingsNeverBlock(t *testing.T) {
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

	// Without the settings, nothing is refused: not the valid object, not the deny rule's
	// mistake.
	for _, name := range []string{"global", "edge"} {
		if _, err := create(proxyDefaults(name)); err != nil {
			t.Errorf("ProxyDefaults %s without the settings: want the write through, got %v", name, err)
		}
	}
	if warned, err := create(mesh); err != nil || len(warned) != 0 {
		t.Errorf("a warn rule without the settings: want the write through without a warning, got %v %q", err, warned)
	}

	if err := cluster.Client.Create(ctx, set.Settings); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the settings read", func() bool {
		_, err := create(proxyDefaults("edge"))
		return err != nil && strings.Contains(err.Error(), "(proxy-defaults-name)")
	})
	if _, err := create(proxyDefaults("global")); err != nil {
		t.Errorf("ProxyDefaults global with the settings: want the write through, got %v", err)
	}
	if warned, err := create(mesh); err != nil || len(warned) != 1 || !strings.Contains(warned[0], "(mesh-name)") {
		t.Errorf("Mesh other with the settings: want one mesh-name warning, got %v %q", err, warned)
	}
}
