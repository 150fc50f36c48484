package validators_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

const (
	templateAnnotation = "spec.template.metadata.annotations[consul.hashicorp.com/connect-service-upstreams]"
	podAnnotation      = "metadata.annotations[consul.hashicorp.com/connect-service-upstreams]"
	cronJobAnnotation  = "spec.jobTemplate.spec.template.metadata.annotations[consul.hashicorp.com/connect-service-upstreams]"
)

func podTemplateWith(upstreams string, extra ...string) corev1.PodTemplateSpec {
	ann := map[string]string{validators.UpstreamsAnnotation: upstreams, validators.ConnectInjectAnnotation: "true"}
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
		p.OwnerReferences = []metav1.OwnerReference{controllerRef("ReplicaSet", "frontend-5d8f")}
	}
	return p
}

func controllerRef(kind, name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: name, UID: "1", Controller: ptr.To(true)}
}

// owned returns obj with an ownerReference to owner, a controller's when controller is set.
func owned[T metav1.Object](obj T, controller bool) T {
	ref := controllerRef("Deployment", "frontend")
	if !controller {
		ref.Controller = nil
	}
	obj.SetOwnerReferences([]metav1.OwnerReference{ref})
	return obj
}

func replicaSet(upstreams string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: objMeta("frontend-5d8f"), Spec: appsv1.ReplicaSetSpec{Template: podTemplateWith(upstreams)}}
}

func job(upstreams string) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: objMeta("report-29000"), Spec: batchv1.JobSpec{Template: podTemplateWith(upstreams)}}
}

// withoutInject returns a Deployment whose pod template has no connect-inject annotation.
func withoutInject(d *appsv1.Deployment) *appsv1.Deployment {
	delete(d.Spec.Template.Annotations, validators.ConnectInjectAnnotation)
	return d
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

// TestOnlyWhatPeopleWriteIsJudged: what a controller makes from a workload (a Deployment's
// ReplicaSet, a CronJob's Job, their Pods) is never judged, nor a pod consul-k8s does not
// inject, whatever its annotation says (section 6).
func TestOnlyWhatPeopleWriteIsJudged(t *testing.T) {
	broken := "backend.svc.cluster-02.peer" // no port: upstream-annotation-syntax
	injectByDefault := validators.Config{ConnectInjectDefault: true}
	runRuleCases(t, []ruleCase{
		{name: "replica set of a deployment", rule: "upstream-annotation-syntax", obj: owned(replicaSet(broken), true)},
		{name: "job of a cron job", rule: "upstream-annotation-syntax", obj: owned(job(broken), true)},
		{name: "deployment an operator made", rule: "upstream-annotation-syntax", obj: owned(deployment(broken), true)},
		{name: "replica set written by hand", rule: "upstream-annotation-syntax", obj: replicaSet(broken),
			want: []hit{deny(templateAnnotation)}},
		{name: "job with an owner that is no controller", rule: "upstream-annotation-syntax", obj: owned(job(broken), false),
			want: []hit{deny(templateAnnotation)}},
		{name: "pod with an owner that is no controller", rule: "upstream-annotation-syntax",
			obj: owned(barePod("backend:9090 billing:9091", false), false), want: []hit{deny(podAnnotation)}},

		// Which pods consul-k8s injects.
		{name: "no connect-inject annotation, injection off by default", rule: "upstream-annotation-syntax",
			obj: withoutInject(deployment(broken))},
		{name: "no connect-inject annotation, injection on by default", rule: "upstream-annotation-syntax",
			cfg: injectByDefault, obj: withoutInject(deployment(broken)), want: []hit{deny(templateAnnotation)}},
		{name: "opted out while injection is on by default", rule: "upstream-annotation-syntax",
			cfg: injectByDefault, obj: deployment(broken, validators.ConnectInjectAnnotation, "false")},
		{name: "connect-inject read as strconv.ParseBool reads it", rule: "upstream-annotation-syntax",
			obj: deployment(broken, validators.ConnectInjectAnnotation, "True"), want: []hit{deny(templateAnnotation)}},
		{name: "connect-inject that is no boolean", rule: "upstream-annotation-syntax",
			obj: deployment(broken, validators.ConnectInjectAnnotation, "yes")},
		{name: "kube-system is never injected", rule: "upstream-annotation-syntax",
			cfg: injectByDefault, obj: inNamespace("kube-system", deployment(broken))},

		// consul-k8s 2.x multiport: one service at several destination ports.
		{name: "multiport upstreams, labeled with options", rule: "upstream-annotation-duplicate", cfg: validators.Config{NamespacesEnabled: true, PartitionsEnabled: true},
			obj: deployment("multiport.svc.default.ns.default.ap:1234:destination_port=api-port,multiport.svc.default.ns.default.ap:2234:destination_port=metrics")},
		{name: "multiport upstreams, unlabeled", rule: "upstream-annotation-duplicate",
			obj: deployment("multiport:1234:destination_port=api,multiport:2234:destination_port=metrics")},
		{name: "multiport upstreams, labeled positional", rule: "upstream-annotation-duplicate",
			obj: deployment("backend.svc.cluster-02.peer:9090:api,backend.svc.cluster-02.peer:9091:admin")},
		{name: "same destination port twice", rule: "upstream-annotation-duplicate",
			obj:  deployment("multiport:1234:destination_port=api,multiport:2234:destination_port=api"),
			want: []hit{deny(templateAnnotation)}},
		{name: "same local port, other destination ports", rule: "upstream-annotation-duplicate",
			obj:  deployment("multiport:1234:destination_port=api,multiport:1234:destination_port=metrics"),
			want: []hit{deny(templateAnnotation)}},
		{name: "same destination port twice, labeled positional", rule: "upstream-annotation-duplicate",
			obj:  deployment("backend.svc.cluster-02.peer:9090:api,backend.svc.cluster-02.peer:9091:api"),
			want: []hit{deny(templateAnnotation)}},
		{name: "same destination port twice, labeled with options", rule: "upstream-annotation-duplicate", cfg: validators.Config{NamespacesEnabled: true, PartitionsEnabled: true},
			obj:  deployment("multiport.svc.default.ns.default.ap:1234:destination_port=api,multiport.svc.default.ns.default.ap:2234:port=api"),
			want: []hit{deny(templateAnnotation)}},
		{name: "one service twice, no destination port", rule: "upstream-annotation-duplicate",
			obj:  deployment("backend.svc.cluster-02.peer:9090,backend.svc.cluster-02.peer:9091"),
			want: []hit{deny(templateAnnotation)}},
		{name: "one service at a port and at no port", rule: "upstream-annotation-duplicate",
			obj: deployment("multiport:1234,multiport:2234:destination_port=metrics")},

		// A namespace named like a peer: ambiguous, not wrong.
		{name: "namespace that a peer is also called", rule: "upstream-annotation-unlabeled-peer", cfg: namespaces(),
			state: []runtime.Object{dialer("payments", k8sSecret())}, obj: deployment("ledger.payments:9096"),
			want: []hit{warn(templateAnnotation)}},
		{name: "namespace no peer is called", rule: "upstream-annotation-unlabeled-peer", cfg: namespaces(),
			state: []runtime.Object{dialer("payments", k8sSecret())}, obj: deployment("ledger.billing:9096")},
		{name: "peer name in a dotted service name, namespaces off", rule: "upstream-annotation-unlabeled-peer",
			state: []runtime.Object{dialer("payments", k8sSecret())}, obj: deployment("ledger.payments:9096"),
			want: []hit{deny(templateAnnotation)}},
	})
}
