package vap

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// hugeOverrides is the list length the attack review stored (1.31 MB): without the bound its
// policies cost the API server 34 s and the create timed out.
const hugeOverrides = 20000

// TestPolicyListBound: the API server's CEL cost tracker makes the policies' list checks cost
// CPU quadratic in a list's length, so each policy skips an object whose lists are longer than
// validators.DefaultPolicyMaxListItems, leaving it to the webhook. A valid ServiceDefaults
// with 20,000 overrides is then created (and labelled) in about the time it takes without
// the policies; up to the bound the policies evaluate it. The API server's own admission
// time (apiserver_admission_controller_admission_duration_seconds of the
// ValidatingAdmissionPolicy plugin) and each create's time are printed as ratios to the same
// object in a namespace without policies, measured in this run.
func TestPolicyListBound(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	const label = "vap.consul-peering-guard.io/bound"
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "bound-policies", Labels: map[string]string{label: "true"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "bound-none"}},
	} {
		if err := cluster.Client.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	cfg := validators.Config{Actions: map[string]validators.Action{}}
	for _, r := range validators.Catalogue() {
		cfg.Actions[r.Name] = validators.Deny
	}
	set, err := policies.Generate(cfg, "default")
	if err != nil {
		t.Fatal(err)
	}
	set = rename(set, ".bound")
	for _, p := range set.Policies {
		p.Binding.Spec.MatchResources = &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{label: "true"}}}
	}
	for _, o := range set.Objects() {
		if err := cluster.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitForPolicies(ctx, t, "vap-sentinel-bound")
	kube, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}

	// The policies are in effect: the mistake is refused by one within the bound.
	small := serviceDefaultsWith("bound-policies", "small", 10, "*")
	if err := cluster.Client.Create(ctx, small, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "(upstream-no-wildcard)") {
		t.Fatalf("a wildcard override within the bound: want the policy's refusal, got %v", err)
	}

	bound := validators.DefaultPolicyMaxListItems
	t.Logf("%-9s %-28s %-28s %s", "overrides", "admission s (none/policies)", "create s (none/policies)", "ratios admission, create")
	var withinBound float64 // the policies' admission time of the object at the bound
	for _, n := range []int{bound / 4, bound, hugeOverrides} {
		var admission, took [2]float64
		for i, ns := range []string{"bound-none", "bound-policies"} {
			sd := serviceDefaultsWith(ns, fmt.Sprintf("valid-%d", n), n, "")
			before := policyAdmissionSeconds(ctx, t, kube)
			start := time.Now()
			if err := cluster.Client.Create(ctx, sd); err != nil {
				t.Fatalf("a valid ServiceDefaults with %d overrides in %s: %.300v", n, ns, err)
			}
			took[i] = time.Since(start).Seconds()
			admission[i] = policyAdmissionSeconds(ctx, t, kube) - before
			// Once stored it can still be labelled (consul-k8s adds its finalizer the same way).
			sd.Labels = map[string]string{"team": "platform"}
			if err := cluster.Client.Update(ctx, sd); err != nil {
				t.Errorf("labelling the ServiceDefaults with %d overrides in %s: %.300v", n, ns, err)
			}
		}
		t.Logf("%-9d %-28s %-28s %.1f, %.1f", n, fmt.Sprintf("%.4f / %.4f", admission[0], admission[1]),
			fmt.Sprintf("%.3f / %.3f", took[0], took[1]), admission[1]/max(admission[0], 1e-6), took[1]/took[0])
		switch n {
		case bound:
			withinBound = admission[1]
		case hugeOverrides:
			// Beyond the bound the policies skip the object: its admission costs less than one
			// they evaluate, and it is created in about the time it takes without them (the
			// attack review measured 16 s against 1.7 s at 15,000 and a timeout at 20,000).
			if admission[1] >= withinBound {
				t.Errorf("%d overrides: the policies' admission took %.4fs, the object at the bound %.4fs; beyond the bound it must be skipped", n, admission[1], withinBound)
			}
			if took[1] > 5*took[0] {
				t.Errorf("%d overrides: created in %.2fs with the policies, %.2fs without; want about the same", n, took[1], took[0])
			}
		}
	}

	// The other objects of the attack review: an export with 20,000 consumers timed out and a
	// SamenessGroup of 50,000 members exceeded the CEL cost limit; beyond the bound both pass.
	es := &v1alpha1.ExportedServices{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "bound-policies"}}
	es.Spec.Services = []v1alpha1.ExportedService{{Name: "api"}}
	for i := range hugeOverrides {
		es.Spec.Services[0].Consumers = append(es.Spec.Services[0].Consumers, v1alpha1.ServiceConsumer{Peer: fmt.Sprintf("dc%d", i)})
	}
	sg := &v1alpha1.SamenessGroup{ObjectMeta: metav1.ObjectMeta{Name: "everyone", Namespace: "bound-policies"}}
	for i := range 50000 {
		sg.Spec.Members = append(sg.Spec.Members, v1alpha1.SamenessGroupMember{Peer: fmt.Sprintf("dc%d", i)})
	}
	for _, obj := range []client.Object{es, sg} {
		start := time.Now()
		if err := cluster.Client.Create(ctx, obj, client.DryRunAll); err != nil {
			t.Errorf("a valid %T beyond the bound: %.300v", obj, err)
		}
		t.Logf("a valid %T beyond the bound admitted (dry run) in %.2fs", obj, time.Since(start).Seconds())
	}

	// Beyond the bound the policies skip the object: with no webhook here, the same mistake
	// is stored (TestPoliciesBesideTheWebhook shows the webhook refusing it).
	huge := serviceDefaultsWith("bound-policies", "huge-wildcard", hugeOverrides, "*")
	if err := cluster.Client.Create(ctx, huge, client.DryRunAll); err != nil {
		t.Errorf("a wildcard override in a list beyond the bound was refused by a policy: %.300v", err)
	}
}

// serviceDefaultsWith is a ServiceDefaults with n overrides to peers, the first named first
// when not empty.
func serviceDefaultsWith(namespace, name string, n int, first string) *v1alpha1.ServiceDefaults {
	sd := &v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	sd.Spec.UpstreamConfig = &v1alpha1.Upstreams{}
	for i := 0; i < n; i++ {
		u := &v1alpha1.Upstream{Name: fmt.Sprintf("api-%d", i), Peer: fmt.Sprintf("dc%d", i%7)}
		if i == 0 && first != "" {
			u.Name = first
		}
		u.MeshGateway.Mode = "remote"
		sd.Spec.UpstreamConfig.Overrides = append(sd.Spec.UpstreamConfig.Overrides, u)
	}
	return sd
}

// policyAdmissionSeconds is the time the API server has spent in its ValidatingAdmissionPolicy
// plugin on creates, from its own metrics.
func policyAdmissionSeconds(ctx context.Context, t *testing.T, kube kubernetes.Interface) float64 {
	t.Helper()
	raw, err := kube.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	f, ok := families["apiserver_admission_controller_admission_duration_seconds"]
	if !ok {
		t.Fatal("the API server exports no apiserver_admission_controller_admission_duration_seconds")
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["name"] == "ValidatingAdmissionPolicy" && labels["operation"] == "CREATE" {
			sum += m.GetHistogram().GetSampleSum()
		}
	}
	return sum
}
