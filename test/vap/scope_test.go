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

// TestBreakGlassReachesThePolicies: the policies take the webhook's scope, so a write the
// webhook is configured to let through unchecked (an exempt namespace, a namespace outside
// its selector, a request its match conditions exclude) is not refused by a policy either,
// while the same write elsewhere is.
func TestBreakGlassReachesThePolicies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const label = "vap.consul-peering-guard.io/glass"
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "glass-checked", Labels: map[string]string{label: "true"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "glass-exempt", Labels: map[string]string{label: "true"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "glass-outside"}},
	} {
		if err := cluster.Client.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	set, err := policies.Generate(validators.Config{}, "default")
	if err != nil {
		t.Fatal(err)
	}
	set = rename(set, ".glass")
	policies.Scope{
		ExemptNamespaces:  []string{"glass-exempt"},
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{label: "true"}},
		MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "not-the-restore-job",
			Expression: "request.userInfo.username != 'restore-job'"}},
	}.Apply(set.Policies)
	for _, o := range set.Objects() {
		if err := cluster.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	restoreConfig := rest.CopyConfig(cluster.Config)
	restoreConfig.Impersonate = rest.ImpersonationConfig{UserName: "restore-job", Groups: []string{"system:masters"}}
	restore, err := client.New(restoreConfig, client.Options{Scheme: kinds.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	// A ProxyDefaults not named global breaks proxy-defaults-name, which a policy enforces.
	edge := func(ns string) *v1alpha1.ProxyDefaults {
		return &v1alpha1.ProxyDefaults{ObjectMeta: metav1.ObjectMeta{Name: "edge", Namespace: ns}}
	}
	eventually(t, "the scoped policies in effect", func() bool {
		err := cluster.Client.Create(ctx, edge("glass-checked"), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), "(proxy-defaults-name)")
	})
	for _, tc := range []struct {
		name string
		c    client.Client
		ns   string
	}{
		{"an exempt namespace", cluster.Client, "glass-exempt"},
		{"a namespace outside the selector", cluster.Client, "glass-outside"},
		{"a user the match condition excludes", restore, "glass-checked"},
	} {
		if err := tc.c.Create(ctx, edge(tc.ns), client.DryRunAll); err != nil {
			t.Errorf("%s: refused: %.300v", tc.name, err)
		}
	}
}
