// Package kinds is what consul-peering-guard knows about each kind it validates: one table
// (Table) of its name, API group and version, resource and role, and the scheme that holds
// their Go types and answers the new-object and kind-of-object questions.
//
// Adding a kind is one row of Table, once its Go type is in the scheme (api/v1alpha1 for a
// Consul kind): the handler registration of the webhook, the audit's lists, the manifest
// reader, the state index (Watched), the webhook entries of the chart and of the tests
// (make generate writes the chart's), the README and the --help of validate all follow
// from the row. A Kind constant is only needed where code names the kind.
package kinds

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// Kind is one of the kinds the engine validates, spelled as its Kubernetes Kind.
type Kind string

// The consul.hashicorp.com kinds.
const (
	Mesh             Kind = "Mesh"
	ProxyDefaults    Kind = "ProxyDefaults"
	ServiceDefaults  Kind = "ServiceDefaults"
	ExportedServices Kind = "ExportedServices"
	PeeringAcceptor  Kind = "PeeringAcceptor"
	PeeringDialer    Kind = "PeeringDialer"
	// The config entries that name peers (section 7 of the specification). Their CRDs may
	// be absent.
	ServiceResolver   Kind = "ServiceResolver"
	ServiceIntentions Kind = "ServiceIntentions"
	SamenessGroup     Kind = "SamenessGroup"
)

// The workload kinds whose pods may carry the upstreams annotation (section 6 of the
// specification): bare Pods and the pod templates of the controllers that create pods.
const (
	Pod         Kind = "Pod"
	Deployment  Kind = "Deployment"
	StatefulSet Kind = "StatefulSet"
	DaemonSet   Kind = "DaemonSet"
	ReplicaSet  Kind = "ReplicaSet"
	Job         Kind = "Job"
	CronJob     Kind = "CronJob"
)

// Info is one row of the kind table.
type Info struct {
	Kind         Kind
	GroupVersion schema.GroupVersion
	// Plural is the resource name (meshes, proxydefaults, ...).
	Plural string
	// PodMeta is, for a workload kind, the CEL path of the metadata of the pods it makes,
	// where its webhook entry looks for the upstreams annotation; empty for a Consul kind.
	PodMeta string
	// Watched says the state rules read objects of the kind (the singletons, ProxyDefaults'
	// mode, the exports to peers, the peers, the sameness groups), so the webhook keeps them
	// in its state index (informers, list and watch in the chart's RBAC). No rule reads other
	// ServiceDefaults, so they are not watched: they are the many.
	Watched bool
}

// Workload says whether the kind is a workload (whose pods may carry the upstreams
// annotation) rather than a Consul kind.
func (i Info) Workload() bool { return i.PodMeta != "" }

// Table is every kind consul-peering-guard judges, in a stable order: the six of the peering
// specification, the config entries that only name peers, then the workloads.
var Table = []Info{
	{Kind: Mesh, GroupVersion: v1alpha1.GroupVersion, Plural: "meshes", Watched: true},
	{Kind: ProxyDefaults, GroupVersion: v1alpha1.GroupVersion, Plural: "proxydefaults", Watched: true},
	{Kind: ServiceDefaults, GroupVersion: v1alpha1.GroupVersion, Plural: "servicedefaults"},
	{Kind: ExportedServices, GroupVersion: v1alpha1.GroupVersion, Plural: "exportedservices", Watched: true},
	{Kind: PeeringAcceptor, GroupVersion: v1alpha1.GroupVersion, Plural: "peeringacceptors", Watched: true},
	{Kind: PeeringDialer, GroupVersion: v1alpha1.GroupVersion, Plural: "peeringdialers", Watched: true},
	{Kind: ServiceResolver, GroupVersion: v1alpha1.GroupVersion, Plural: "serviceresolvers"},
	{Kind: ServiceIntentions, GroupVersion: v1alpha1.GroupVersion, Plural: "serviceintentions"},
	{Kind: SamenessGroup, GroupVersion: v1alpha1.GroupVersion, Plural: "samenessgroups", Watched: true},
	{Kind: Pod, GroupVersion: corev1.SchemeGroupVersion, Plural: "pods", PodMeta: "object.metadata"},
	{Kind: Deployment, GroupVersion: appsv1.SchemeGroupVersion, Plural: "deployments", PodMeta: "object.spec.template.metadata"},
	{Kind: StatefulSet, GroupVersion: appsv1.SchemeGroupVersion, Plural: "statefulsets", PodMeta: "object.spec.template.metadata"},
	{Kind: DaemonSet, GroupVersion: appsv1.SchemeGroupVersion, Plural: "daemonsets", PodMeta: "object.spec.template.metadata"},
	{Kind: ReplicaSet, GroupVersion: appsv1.SchemeGroupVersion, Plural: "replicasets", PodMeta: "object.spec.template.metadata"},
	{Kind: Job, GroupVersion: batchv1.SchemeGroupVersion, Plural: "jobs", PodMeta: "object.spec.template.metadata"},
	{Kind: CronJob, GroupVersion: batchv1.SchemeGroupVersion, Plural: "cronjobs", PodMeta: "object.spec.jobTemplate.spec.template.metadata"},
}

// Object is what every kind's Go type is: a runtime.Object with metadata.
type Object interface {
	runtime.Object
	metav1.Object
}

var (
	// Consul lists every validated Consul kind in table order.
	Consul = selected(func(i Info) bool { return !i.Workload() })
	// Workloads lists the workload kinds in table order.
	Workloads = selected(Info.Workload)
	// All lists every kind in table order: the kinds the webhook reviews.
	All = selected(func(Info) bool { return true })
	// Watched lists the kinds the state index is fed from, in table order.
	Watched = selected(func(i Info) bool { return i.Watched })

	scheme = NewScheme()
	byKind = map[Kind]Info{}
	byType = map[reflect.Type]Kind{}
)

func init() {
	for _, i := range Table {
		byKind[i.Kind] = i
		obj, err := scheme.New(i.GroupVersion.WithKind(string(i.Kind)))
		if err != nil {
			panic(err) // a row whose type is not in the scheme: caught by every test
		}
		byType[reflect.TypeOf(obj)] = i.Kind
	}
}

func selected(keep func(Info) bool) []Kind {
	var out []Kind
	for _, i := range Table {
		if keep(i) {
			out = append(out, i.Kind)
		}
	}
	return out
}

// Names spells the kinds, in order.
func Names(list []Kind) []string {
	out := make([]string, len(list))
	for i, k := range list {
		out[i] = string(k)
	}
	return out
}

// InfoOf returns the row of a kind.
func InfoOf(kind Kind) (Info, bool) {
	i, ok := byKind[kind]
	return i, ok
}

// Of returns the kind of a typed object, or false when it is not one of ours.
func Of(obj runtime.Object) (Kind, bool) {
	k, ok := byType[reflect.TypeOf(obj)]
	return k, ok
}

// New returns an empty typed object of the kind.
func New(kind Kind) (Object, bool) {
	obj, _ := newOf(kind, "")
	o, ok := obj.(Object)
	return o, ok
}

// NewList returns an empty typed list of the kind.
func NewList(kind Kind) (runtime.Object, bool) {
	return newOf(kind, "List")
}

func newOf(kind Kind, suffix string) (runtime.Object, bool) {
	i, ok := byKind[kind]
	if !ok {
		return nil, false
	}
	obj, err := scheme.New(i.GroupVersion.WithKind(string(kind) + suffix))
	return obj, err == nil
}

// ObjectRef identifies one object of a kind.
type ObjectRef struct {
	Kind      Kind
	Namespace string
	Name      string
}

func (r ObjectRef) String() string {
	return string(r.Kind) + " " + r.Namespace + "/" + r.Name
}

// RefOf names an object of a validated kind, or returns false for any other object.
func RefOf(obj runtime.Object) (ObjectRef, bool) {
	kind, ok := Of(obj)
	if !ok {
		return ObjectRef{}, false
	}
	m, ok := obj.(interface {
		GetNamespace() string
		GetName() string
	})
	if !ok {
		return ObjectRef{}, false
	}
	return ObjectRef{Kind: kind, Namespace: m.GetNamespace(), Name: m.GetName()}, true
}
