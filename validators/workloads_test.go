package validators_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

const (
	templateAnnotation = "spec.template.metadata.annotations[consul.hashicorp.com/connect-service-upstreams]"
	podAnnotation      = "metadata.annotations[consul.hashicorp.com/connect-service-upstreams]"
	cronJobAnnotation  = "spec.jobTemplate.spec.template.metadata.annotations[consul.hashicorp.com/connect-service-upstreams]"
)

func podTemplateWith(upstreams string, extra ...string) corev1.PodTemplateSpec {
	ann := map[string]string{validators.UpstreamsAnnotation: upstreams}
	for i := 0; i+1 < len(extra); i += 2 {
		ann[extra[i]] = extra[i+1]
	}
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Annotations: ann},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
}

func deployment(upstreams string, extra ...string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: objMeta("frontend"), Spec: appsv1.DeploymentSpec{Template: podTemplateWith(upstreams, extra...)}}
}

func barePod(upstreams string, owned bool) *corev1.Pod {
	t := podTemplateWith(upstreams)
	p := &corev1.Pod{ObjectMeta: objMeta("frontend"), Spec: t.Spec}
	p.Annotations = t.Annotations
	if owned {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "frontend-5d8f", UID: "1"}}
	}
	return p
}

func cronJob(upstreams string) *batchv1.CronJob {
	return &batchv1.CronJob{ObjectMeta: objMeta("report"), Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{
		Spec: batchv1.JobSpec{Template: podTemplateWith(upstreams)}}}}
}

func TestWorkloadAnnotationRules(t *testing.T) {
	known := []runtime.Object{acceptor("cluster-02", k8sSecret())}
	runRuleCases(t, []ruleCase{
		// upstream-annotation-syntax
		{name: "labeled peer entry", rule: "upstream-annotation-syntax", obj: deployment("backend.svc.cluster-02.peer:9090")},
		{name: "injection turned off", rule: "upstream-annotation-syntax",
			obj: deployment("backend.svc.cluster-02.peer", validators.ConnectInjectAnnotation, "false")},
		{name: "pod owned by a controller", rule: "upstream-annotation-syntax", obj: barePod("backend", true)},
		{name: "missing port", rule: "upstream-annotation-syntax",
			obj: deployment("backend.svc.cluster-02.peer"), want: []hit{deny(templateAnnotation)}},
		{name: "entries separated by blanks, bare pod", rule: "upstream-annotation-syntax",
			obj: barePod("backend:9090 billing:9091", false), want: []hit{deny(podAnnotation)}},
		{name: "unknown named port in a CronJob", rule: "upstream-annotation-syntax",
			obj: cronJob("backend:grpc"), want: []hit{deny(cronJobAnnotation)}},
		{name: "named port of a container", rule: "upstream-annotation-syntax", obj: cronJob("backend:http")},

		// upstream-annotation-unlabeled-peer
		{name: "unlabeled local upstream", rule: "upstream-annotation-unlabeled-peer", state: known, obj: deployment("backend:9090")},
		{name: "peer written unlabeled", rule: "upstream-annotation-unlabeled-peer",
			obj: deployment("backend.cluster-02.peer:9090"), want: []hit{deny(templateAnnotation)}},

		// upstream-peer-datacenter-exclusive
		{name: "peer without datacenter", rule: "upstream-peer-datacenter-exclusive", obj: deployment("backend.svc.cluster-02.peer:9090")},
		{name: "peer with a datacenter option", rule: "upstream-peer-datacenter-exclusive",
			obj: deployment("backend.svc.cluster-02.peer:9090:dc=dc2"), want: []hit{deny(templateAnnotation)}},

		// upstream-annotation-duplicate
		{name: "two ports", rule: "upstream-annotation-duplicate", obj: deployment("backend:9090,billing:9091")},
		{name: "one port twice", rule: "upstream-annotation-duplicate",
			obj: deployment("backend:9090, billing:9090"), want: []hit{deny(templateAnnotation)}},

		// The upstream rules under their own names.
		{name: "annotation peer name", rule: "upstream-peer-name-syntax",
			obj: deployment("backend.svc.cluster_02.peer:9090"), want: []hit{deny(templateAnnotation)}},
		{name: "annotation peer with mode none", rule: "gateway-mode-none-peer-upstream",
			obj: deployment("backend.svc.cluster-02.peer:9090:mesh_gateway_mode=none"), want: []hit{deny(templateAnnotation)}},
		{name: "annotation peer known in another case", rule: "upstream-peer-known", state: known,
			obj: deployment("backend.svc.CLUSTER-02.peer:9090")},
		{name: "annotation peer unknown", rule: "upstream-peer-known", state: known,
			obj: deployment("backend.svc.cluster-09.peer:9090"), want: []hit{warn(templateAnnotation)}},
		{name: "annotation peer in mode local without a gateway", rule: "gateway-mode-local-needs-gateway",
			obj: deployment("backend.svc.cluster-02.peer:9090:mesh_gateway_mode=local"), want: []hit{deny(templateAnnotation)}},
		{name: "annotation peer in mode local with a gateway", rule: "gateway-mode-local-needs-gateway", gateway: true,
			obj: deployment("backend.svc.cluster-02.peer:9090:mesh_gateway_mode=local")},
		{name: "annotation kept with a new label", rule: "upstream-annotation-syntax",
			old: deployment("backend.svc.cluster-02.peer"), obj: labelled(deployment("backend.svc.cluster-02.peer")),
			want: []hit{warn(templateAnnotation)}},
	})
}
