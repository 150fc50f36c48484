package audit

import (
	"context"
	"testing"
	"time"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/internal/openreports"
	"github.com/consul-peering-guard/consul-peering-guard/internal/server"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Issue 23, item 1: a workload that a state rule finds after it was admitted (here an
// upstream to a peer no PeeringAcceptor or PeeringDialer names) is reported by the periodic
// audit, never by refusing its rollout: an Event regarding the Deployment and a result in
// its namespace's Report whose subject is the apps/v1 Deployment. The ReplicaSet its
// controller made carries the same pod template and is never judged.
func TestAuditReportsWorkloadsItNeverRefuses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const ns, upstreams = "workloads", "api.svc.dc9.peer:9090"
	c := reportClient(t)
	if err := eventsv1.AddToScheme(c.Scheme()); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
			validators.ConnectInjectAnnotation: "true", validators.UpstreamsAnnotation: upstreams}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
	}
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}
	if err := c.Create(ctx, deploy); err != nil {
		t.Fatal(err)
	}
	controller := true
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-5d8f7c",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: deploy.Name, UID: deploy.UID, Controller: &controller}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template}}
	if err := c.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}

	bin, certs := binaryAndCerts(t)
	w := startServe(t, bin, certs, "--audit-interval=1s", "--reports", "--audit-lease-namespace="+ns)
	defer func() { _ = w.Stop() }()

	var report orv1alpha1.Report
	if !waitFor(time.Minute, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: openreports.Name}, &report) == nil && len(report.Results) > 0
	}) {
		t.Fatalf("no Report with a result in %s within a minute:\n%s", ns, w.Logs())
	}
	if len(report.Results) != 1 {
		t.Fatalf("Report results %+v, want one, for the Deployment", report.Results)
	}
	res := report.Results[0]
	want := corev1.ObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: deploy.Name, UID: deploy.UID}
	if res.Policy != "upstream-peer-known" || res.Result != "warn" || len(res.Subjects) != 1 || res.Subjects[0] != want {
		t.Errorf("result %s %s on %+v, want upstream-peer-known warn on %+v", res.Policy, res.Result, res.Subjects, want)
	}
	if field := res.Properties[openreports.FieldProperty]; field != "spec.template.metadata.annotations["+validators.UpstreamsAnnotation+"]" {
		t.Errorf("result field %q, want the Deployment's pod template annotation", field)
	}

	var events eventsv1.EventList
	regarding := map[string]bool{}
	if !waitFor(time.Minute, func() bool {
		if err := c.List(ctx, &events, client.InNamespace(ns)); err != nil {
			return false
		}
		for _, e := range events.Items {
			if e.Reason == server.EventReason {
				regarding[e.Regarding.Kind+"/"+e.Regarding.Name] = true
			}
		}
		return regarding["Deployment/"+deploy.Name]
	}) {
		t.Fatalf("no %s Event regarding Deployment %s within a minute: %v", server.EventReason, deploy.Name, regarding)
	}
	if regarding["ReplicaSet/"+rs.Name] {
		t.Errorf("an Event regards the ReplicaSet %s, which its Deployment's controller made", rs.Name)
	}
}
