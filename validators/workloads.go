package validators

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

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

// The rules of the upstreams annotation alone; the upstream rules that judge its entries as
// they judge ServiceDefaults overrides are in upstreams.go and gateway.go.

const webhookOnlyAnnotation = "the upstreams annotation is one string in consul-k8s's own grammar (labels, named ports, " +
	"options), which the webhook parses as consul-k8s does; CEL has no parser for it"

func checkAnnotationSyntax(in *ObjectInput) field.ErrorList {
	entries := in.annotationEntries()
	var errs field.ErrorList
	for i := range entries {
		for _, detail := range entries[i].Syntax {
			errs = append(errs, in.entryError(&entries[i], field.ErrorTypeInvalid, detail))
		}
	}
	return errs
}

func checkPeerDatacenterExclusive(in *ObjectInput) field.ErrorList {
	entries := in.annotationEntries()
	var errs field.ErrorList
	for i := range entries {
		if e := &entries[i]; e.PeerForm && e.Datacenter != "" {
			errs = append(errs, in.entryError(e, field.ErrorTypeForbidden, e.Quoted()+": Consul refuses a peer upstream with a datacenter; drop dc"))
		}
	}
	return errs
}

// dottedName reports whether an entry is unlabeled with a dotted name written neither as a
// peer nor as labels (which other rules report): consul-k8s reads the parts after the first
// as a namespace and a partition, or, with both off, as one service name.
func dottedName(e *AnnotationEntry) bool {
	if e.Labeled || len(e.nameParts) < 2 {
		return false
	}
	if len(e.nameParts) >= 3 {
		switch strings.ToLower(e.nameParts[len(e.nameParts)-1]) {
		case "peer", "ns", "ap", "dc", "svc":
			return false
		}
	}
	return true
}

// checkAnnotationUnlabeledPeer reports an unlabeled entry written as a peer
// (svc.peer-name.peer) or with a part naming a known peer: consul-k8s has no unlabeled peer
// form and reads such parts as a namespace, a partition or a piece of the service name.
// Where that part is also a namespace or partition as consul-k8s reads it, the entry is
// ambiguous, not wrong: warn.
func checkAnnotationUnlabeledPeer(in *Input) field.ErrorList {
	entries := in.annotationEntries()
	var errs field.ErrorList
	for i := range entries {
		e, parts := &entries[i], entries[i].nameParts
		if !e.Labeled && len(parts) >= 3 && strings.EqualFold(parts[len(parts)-1], "peer") {
			errs = append(errs, in.entryError(e, field.ErrorTypeInvalid,
				fmt.Sprintf("%s is %s; for a peer write %s", e.Quoted(), in.reading(e), in.peerHint(e, parts[len(parts)-2]))))
			continue
		}
		if !dottedName(e) {
			continue // labels without .svc: a syntax problem
		}
		for _, part := range parts[1:] {
			switch {
			case part == "" || !in.State.HasPeer(part):
				continue
			case in.Config.NamespacesEnabled || in.Config.PartitionsEnabled:
				errs = append(errs, in.warnOnly(field.ErrorList{in.entryError(e, field.ErrorTypeInvalid,
					fmt.Sprintf("%s is %s, also a peer's name; if the peer was meant, write %s", e.Quoted(), in.reading(e), in.peerHint(e, part)))})...)
			default:
				errs = append(errs, in.entryError(e, field.ErrorTypeInvalid,
					fmt.Sprintf("%s is %s; for peer %s write %s", e.Quoted(), in.reading(e), quoteShort(part), in.peerHint(e, part))))
			}
			break
		}
	}
	return errs
}

// reading says what consul-k8s makes of an unlabeled entry.
func (in *ObjectInput) reading(e *AnnotationEntry) string {
	if !in.Config.NamespacesEnabled && !in.Config.PartitionsEnabled {
		return "service " + quoteShort(e.Service)
	}
	s := "namespace " + quoteShort(e.Namespace)
	if e.Partition != "" {
		s += ", partition " + quoteShort(e.Partition)
	}
	return s
}

// peerHint is the labeled peer form of an unlabeled entry, in the install's grammar: the
// first dotted part is the service, a part between it and the peer the namespace.
func (in *ObjectInput) peerHint(e *AnnotationEntry, peer string) string {
	svc := word(e.nameParts[0], 16, "svc")
	peer = word(peer, 16, "X")
	port := ":" + word(e.port, 8, "<port>")
	if !in.Config.NamespacesEnabled && !in.Config.PartitionsEnabled {
		return svc + ".svc." + peer + ".peer" + port
	}
	ns := "default"
	if len(e.nameParts) == 4 && e.nameParts[1] != "" {
		ns = word(e.nameParts[1], 16, "ns")
	}
	return svc + ".svc." + ns + ".ns." + peer + ".peer" + port
}

// destinationKey is what Consul tells upstreams apart by: type, name, namespace, partition,
// peer, datacenter and destination port, exactly as set.
type destinationKey struct {
	query                                bool
	name, namespace, partition, peer, dc string
	// port is the destination port (consul-k8s 2.x multiport): one service at several ports
	// is several upstreams.
	port string
}

// checkAnnotationDuplicate reports entries Consul refuses as duplicates of an earlier one:
// the same destination at the same destination port, or the same local address and port
// (127.0.0.1 when unset). Entries consul-k8s cannot parse are left out: registration fails
// on them already.
func checkAnnotationDuplicate(in *ObjectInput) field.ErrorList {
	entries := in.annotationEntries()
	if len(entries) < 2 {
		return nil
	}
	var errs field.ErrorList
	dests := make(map[destinationKey]int, len(entries))
	binds := make(map[string]int, len(entries))
	for i := range entries {
		e := &entries[i]
		if len(e.Syntax) > 0 || e.LocalBindPort <= 0 {
			continue
		}
		k := destinationKey{query: e.PreparedQuery != "", name: e.Service, namespace: e.Namespace,
			partition: e.Partition, peer: e.Peer, dc: e.Datacenter, port: e.DestinationPort}
		if k.query {
			k.name = e.PreparedQuery
		}
		if first, dup := dests[k]; dup {
			errs = append(errs, in.entryError(e, field.ErrorTypeDuplicate,
				fmt.Sprintf("%s: same upstream as %s; Consul refuses both, drop one", e.Quoted(), entries[first].Quoted())))
			continue
		}
		dests[k] = i
		bind := net.JoinHostPort(cmp.Or(e.LocalBindAddress, "127.0.0.1"), strconv.Itoa(int(e.LocalBindPort)))
		if first, dup := binds[bind]; dup {
			errs = append(errs, in.entryError(e, field.ErrorTypeDuplicate,
				fmt.Sprintf("%s: port %d also bound by %s; Consul refuses both", e.Quoted(), e.LocalBindPort, entries[first].Quoted())))
			continue
		}
		binds[bind] = i
	}
	return errs
}
