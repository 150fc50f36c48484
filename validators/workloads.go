package validators

import (
	"fmt"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ConnectInjectAnnotation on a pod says whether consul-k8s injects it: "true" or "false" as
// strconv.ParseBool reads them; without it the Consul chart's connectInject.default decides.
// The upstreams annotation of a pod consul-k8s does not inject is never read.
const ConnectInjectAnnotation = "consul.hashicorp.com/connect-inject"

// neverInjected are the namespaces consul-k8s never injects, whatever the annotations say.
var neverInjected = []string{"kube-system", "kube-public"}

var (
	podMetadataPath     = field.NewPath("metadata")
	templateMetadata    = field.NewPath("spec", "template", "metadata")
	jobTemplateMetadata = field.NewPath("spec", "jobTemplate", "spec", "template", "metadata")
)

// podTemplate is the pod a workload runs: its metadata, spec and where its metadata is.
type podTemplate struct {
	meta *metav1.ObjectMeta
	spec *corev1.PodSpec
	at   *field.Path
}

// podTemplateOf returns the pod of a workload whose upstreams consul-k8s would read, as a
// person or a GitOps tool wrote it: never an object a controller made (a ReplicaSet of a
// Deployment, a Job of a CronJob, a Pod of any of them: its owner was judged when it was
// written, and judging the copy against today's state freezes rollouts), never a pod
// consul-k8s does not inject, never one without the annotation.
func podTemplateOf(obj runtime.Object, cfg *Config) (podTemplate, bool) {
	var t podTemplate
	switch o := obj.(type) {
	case *corev1.Pod:
		t = podTemplate{&o.ObjectMeta, &o.Spec, podMetadataPath}
	case *appsv1.Deployment:
		t = podTemplate{&o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, templateMetadata}
	case *appsv1.StatefulSet:
		t = podTemplate{&o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, templateMetadata}
	case *appsv1.DaemonSet:
		t = podTemplate{&o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, templateMetadata}
	case *appsv1.ReplicaSet:
		t = podTemplate{&o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, templateMetadata}
	case *batchv1.Job:
		t = podTemplate{&o.Spec.Template.ObjectMeta, &o.Spec.Template.Spec, templateMetadata}
	case *batchv1.CronJob:
		t = podTemplate{&o.Spec.JobTemplate.Spec.Template.ObjectMeta, &o.Spec.JobTemplate.Spec.Template.Spec, jobTemplateMetadata}
	default:
		return t, false
	}
	m := metaOf(obj)
	if HasControllerOwner(m) || slices.Contains(neverInjected, m.GetNamespace()) || !injected(t.meta, cfg.ConnectInjectDefault) {
		return t, false
	}
	_, ok := t.meta.Annotations[UpstreamsAnnotation]
	return t, ok
}

// CarriesUpstreams reports whether a workload's pod (template) carries the upstreams
// annotation, whoever made it and whether or not consul-k8s injects it.
func CarriesUpstreams(obj runtime.Object) bool {
	t, _ := podTemplateOf(obj, &Config{})
	if t.meta == nil {
		return false
	}
	_, ok := t.meta.Annotations[UpstreamsAnnotation]
	return ok
}

// HasControllerOwner reports whether a controller made the object (an ownerReference with
// controller: true): such an object is a copy of what its owner says, never judged itself.
func HasControllerOwner(m metav1.Object) bool {
	return metav1.GetControllerOfNoCopy(m) != nil
}

// injected reports whether consul-k8s injects a pod with this metadata: an explicit
// connect-inject annotation decides (a value ParseBool refuses makes consul-k8s's own
// webhook refuse the pod), else the chart's connectInject.default.
func injected(meta *metav1.ObjectMeta, byDefault bool) bool {
	raw, ok := meta.Annotations[ConnectInjectAnnotation]
	if !ok {
		return byDefault
	}
	on, err := strconv.ParseBool(raw)
	return err == nil && on
}

// annotationOptions reads an annotation as this installation's consul-k8s would.
func (in *ObjectInput) annotationOptions(spec *corev1.PodSpec) AnnotationOptions {
	return AnnotationOptions{
		NamespacesEnabled: in.Config.NamespacesEnabled,
		PartitionsEnabled: in.Config.PartitionsEnabled,
		Grammar:           in.Config.AnnotationGrammar,
		ContainerPorts:    ContainerPorts(spec),
	}
}

// upstreamEntries parses the upstreams annotation of a workload once per input (several rules
// read it); ok is false for an object without one.
func (in *ObjectInput) upstreamEntries() (entries []AnnotationEntry, at *field.Path, ok bool) {
	if !in.annotation.parsed {
		a := parsedAnnotation{parsed: true}
		if t, found := podTemplateOf(in.Object, in.Config); found {
			a.entries = ParseUpstreamAnnotation(t.meta.Annotations[UpstreamsAnnotation], in.annotationOptions(t.spec))
			a.at, a.found = AnnotationPath(t.at), true
		}
		in.annotation = a
	}
	return in.annotation.entries, in.annotation.at, in.annotation.found
}

type parsedAnnotation struct {
	parsed  bool // read once per input, by the first rule that asks
	entries []AnnotationEntry
	at      *field.Path
	found   bool
}

// annotationRule returns a check that reports the annotation problems of one rule, and
// defers to objectRule for every other object.
func annotationRule(rule string, objectRule func(in *ObjectInput) field.ErrorList) func(in *ObjectInput) field.ErrorList {
	return func(in *ObjectInput) field.ErrorList {
		if entries, at, ok := in.upstreamEntries(); ok {
			return AnnotationErrors(at, entries, rule)
		}
		if objectRule == nil {
			return nil
		}
		return objectRule(in)
	}
}

// checkAnnotationUnlabeledPeer reads the annotation again with the known peers: an
// unlabeled entry whose middle part names one was meant as a peer. Where that part is also
// a namespace or partition as consul-k8s reads it, the entry is ambiguous, not wrong: warn.
func checkAnnotationUnlabeledPeer(in *Input) field.ErrorList {
	t, ok := podTemplateOf(in.Object, in.Config)
	if !ok {
		return nil
	}
	opts := in.annotationOptions(t.spec)
	opts.IsKnownPeer = in.State.HasPeer
	entries := ParseUpstreamAnnotation(t.meta.Annotations[UpstreamsAnnotation], opts)
	at := AnnotationPath(t.at).String()
	var errs, ambiguous field.ErrorList
	for i := range entries {
		for _, p := range entries[i].Problems {
			if p.Rule != ruleAnnotationUnlabeledPeer {
				continue
			}
			fe := &field.Error{Type: p.Type, Field: at, BadValue: field.OmitValueType{}, Detail: p.Detail}
			errs = append(errs, fe)
			if p.Ambiguous {
				ambiguous = append(ambiguous, fe)
			}
		}
	}
	in.warnOnly(ambiguous)
	return errs
}

// annotationPeerUnknown reports the annotation's peer upstreams that no acceptor or dialer
// of this cluster names.
func annotationPeerUnknown(in *Input) (field.ErrorList, bool) {
	entries, at, ok := in.upstreamEntries()
	if !ok {
		return nil, false
	}
	var errs field.ErrorList
	for i := range entries {
		e := &entries[i]
		if e.Peer != "" && ValidPeerName(e.Peer) && !in.State.HasPeer(e.Peer) {
			errs = append(errs, &field.Error{Type: field.ErrorTypeNotFound, Field: at.String(), BadValue: field.OmitValueType{},
				Detail: fmt.Sprintf("%s: peer %q: %s", e.Quoted(), e.Peer, unknownPeer)})
		}
	}
	return errs, true
}

// annotationLocalModeWithoutGateway reports peer upstreams in mode local without a ready
// mesh gateway in this partition.
func annotationLocalModeWithoutGateway(in *Input) (field.ErrorList, bool) {
	entries, at, ok := in.upstreamEntries()
	if !ok {
		return nil, false
	}
	var local []*AnnotationEntry
	for i := range entries {
		if entries[i].Peer != "" && entries[i].MeshGatewayMode == modeLocal {
			local = append(local, &entries[i])
		}
	}
	if len(local) == 0 {
		return nil, true
	}
	gw := in.State.MeshGateway()
	if gw == GatewayReady {
		return nil, true
	}
	var errs field.ErrorList
	for _, e := range local {
		errs = append(errs, &field.Error{Type: field.ErrorTypeInvalid, Field: at.String(), BadValue: field.OmitValueType{},
			Detail: e.Quoted() + ": " + in.gatewayDetail(gw, "mode local needs it; use remote")})
	}
	return in.unlessGatewayComing(gw, errs), true
}

// withAnnotation checks a workload's annotation with annotationCheck and every other object
// with objectRule.
func withAnnotation(annotationCheck func(in *Input) (field.ErrorList, bool), objectRule func(in *Input) field.ErrorList) func(in *Input) field.ErrorList {
	return func(in *Input) field.ErrorList {
		if errs, ok := annotationCheck(in); ok {
			return errs
		}
		return objectRule(in)
	}
}
