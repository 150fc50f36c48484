package vap

import (
	"context"
	"fmt"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// TestLargeValidObjectsStayWithinTheCostLimit: a policy whose evaluation exceeds the API
// server's CEL cost limit refuses the write, where the webhook would allow a valid object.
// Every check must stay linear on valid objects, so large ones pass (every rule set to deny,
// every list long).
func TestLargeValidObjectsStayWithinTheCostLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const label = "vap.consul-peering-guard.io/large"
	if err := cluster.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "large",
		Labels: map[string]string{label: "true"}}}); err != nil {
		t.Fatal(err)
	}
	cfg := validators.Config{Actions: map[string]validators.Action{}}
	for _, r := range validators.Catalogue() {
		cfg.Actions[r.Name] = validators.Deny
	}
	set, err := policies.Generate(cfg, "default")
	if err != nil {
		t.Fatal(err)
	}
	set = rename(set, ".large")
	for _, p := range set.Policies {
		p.Binding.Spec.MatchResources = &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{label: "true"}}}
	}
	for _, o := range set.Objects() {
		if err := cluster.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitForPolicies(ctx, t, "vap-sentinel-large")

	const n = 5000
	sd := &v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "large"}}
	sd.Spec.UpstreamConfig = &v1alpha1.Upstreams{}
	for i := 0; i < n; i++ {
		u := &v1alpha1.Upstream{Name: fmt.Sprintf("api-%d", i), Peer: fmt.Sprintf("dc%d", i%7)}
		u.MeshGateway.Mode = "remote"
		sd.Spec.UpstreamConfig.Overrides = append(sd.Spec.UpstreamConfig.Overrides, u)
	}
	es := &v1alpha1.ExportedServices{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "large"}}
	for i := 0; i < n/10; i++ {
		svc := v1alpha1.ExportedService{Name: fmt.Sprintf("api-%d", i)}
		for j := 0; j < 10; j++ {
			svc.Consumers = append(svc.Consumers, v1alpha1.ServiceConsumer{Peer: fmt.Sprintf("dc%d", j)})
		}
		es.Spec.Services = append(es.Spec.Services, svc)
	}
	for _, obj := range []client.Object{sd, es} {
		if err := cluster.Client.Create(ctx, obj); err != nil {
			t.Errorf("a valid %T was refused: %.300v", obj, err)
			continue
		}
		// An update re-checks against the stored object (the ratchet's comparisons).
		obj.SetLabels(map[string]string{"team": "platform"})
		if err := cluster.Client.Update(ctx, obj); err != nil {
			t.Errorf("a valid update of %T was refused: %.300v", obj, err)
		}
	}
}
