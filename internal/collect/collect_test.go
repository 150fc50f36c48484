package collect_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/collect"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func deployment(name string, lbls map[string]string, replicas, ready int32) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "consul", Name: name, Labels: lbls},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas}, Status: appsv1.DeploymentStatus{ReadyReplicas: ready}}
}

// testScheme knows the Kubernetes kinds and the Consul kinds, as the audit's client does.
func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

func TestCollect(t *testing.T) {
	scheme := testScheme(t)
	gw := map[string]string{"component": "mesh-gateway"}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&v1alpha1.Mesh{ObjectMeta: metav1.ObjectMeta{Namespace: "consul", Name: "mesh"}},
		&v1alpha1.PeeringDialer{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "dc2"}},
		&v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}},
		deployment("ready-gateway", gw, 2, 1),
		deployment("rolling-out", gw, 1, 0),
		deployment("scaled-down", gw, 0, 0),
		deployment("web", map[string]string{"app": "web"}, 1, 1),
	).Build()

	items, gateways, err := collect.Objects(context.Background(), c, labels.SelectorFromSet(gw), false)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, it := range items {
		ref, ok := kinds.RefOf(it.Object)
		if !ok {
			t.Fatalf("not one of the Consul kinds: %T", it.Object)
		}
		refs = append(refs, ref.String())
	}
	sort.Strings(refs)
	if want := []string{"Mesh consul/mesh", "PeeringDialer team-a/dc2", "ServiceDefaults default/web"}; !reflect.DeepEqual(refs, want) {
		t.Errorf("items %v, want %v", refs, want)
	}
	sort.Slice(gateways, func(i, j int) bool { return gateways[i].Ref.Name < gateways[j].Ref.Name })
	want := []state.Gateway{
		{Ref: state.GatewayRef{Namespace: "consul", Name: "ready-gateway"}, Status: validators.GatewayReady},
		{Ref: state.GatewayRef{Namespace: "consul", Name: "rolling-out"}, Status: validators.GatewayNotReady},
	}
	if !reflect.DeepEqual(gateways, want) {
		t.Errorf("gateways %+v, want %+v", gateways, want)
	}
}

// pagedReader serves n ServiceDefaults, each with managedFields, in pages as the API server
// does (limit and continue), and records the limit of every list request.
type pagedReader struct {
	client.Reader
	n      int
	limits []int64
}

func (r *pagedReader) List(_ context.Context, l client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	r.limits = append(r.limits, o.Limit)
	sds, ok := l.(*v1alpha1.ServiceDefaultsList)
	if !ok {
		return nil
	}
	start := 0
	if o.Continue != "" {
		start, _ = strconv.Atoi(o.Continue)
	}
	end := r.n
	if o.Limit > 0 {
		end = min(r.n, start+int(o.Limit))
	}
	for i := start; i < end; i++ {
		sds.Items = append(sds.Items, v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("web-%d", i),
			Annotations:   map[string]string{corev1.LastAppliedConfigAnnotation: `{"kind":"ServiceDefaults"}`, "team": "web"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}}})
	}
	if end < r.n {
		sds.Continue = strconv.Itoa(end)
	}
	return nil
}

// The audit reads one kind at a time in pages of the chunk size, without managedFields and
// kubectl's last-applied-configuration, and with every other annotation.
func TestEachPagePagesOneKindAtATime(t *testing.T) {
	r := &pagedReader{n: 1234}
	var pages []int
	seen := map[string]bool{}
	err := collect.EachPage(context.Background(), r, 500, func(objs []runtime.Object) error {
		pages = append(pages, len(objs))
		for _, obj := range objs {
			sd := obj.(*v1alpha1.ServiceDefaults)
			if sd.ManagedFields != nil {
				t.Fatalf("%s kept its managedFields", sd.Name)
			}
			if want := map[string]string{"team": "web"}; !reflect.DeepEqual(sd.Annotations, want) {
				t.Fatalf("%s annotations %v, want %v", sd.Name, sd.Annotations, want)
			}
			seen[sd.Name] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{500, 500, 234}; !reflect.DeepEqual(pages, want) || len(seen) != 1234 {
		t.Errorf("pages of ServiceDefaults %v with %d distinct objects, want %v and 1234", pages, len(seen), want)
	}
	for _, l := range r.limits {
		if l != 500 {
			t.Errorf("a list request asked for %d objects, want 500", l)
		}
	}
	// Eight kinds in one request each, ServiceDefaults in three.
	if len(r.limits) != len(kinds.Consul)-1+3 {
		t.Errorf("%d list requests, want %d", len(r.limits), len(kinds.Consul)+2)
	}
}

// With workloads, the audit reads the workloads people write that carry the upstreams
// annotation, and nothing a controller made.
func TestCollectWorkloads(t *testing.T) {
	scheme := testScheme(t)
	annotated := func(d *appsv1.Deployment) *appsv1.Deployment {
		d.Spec.Template.Annotations = map[string]string{validators.UpstreamsAnnotation: "backend.svc.dc2.peer:9090"}
		return d
	}
	yes := true
	madeByAController := annotated(deployment("made-by-an-operator", nil, 1, 1))
	madeByAController.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "App", Name: "a", UID: "1", Controller: &yes}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "consul", Name: "web-5d8f",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "2", Controller: &yes}}}}
	rs.Spec.Template.Annotations = map[string]string{validators.UpstreamsAnnotation: "backend.svc.dc2.peer:9090"}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		annotated(deployment("web", nil, 1, 1)),
		deployment("plain", nil, 1, 1),
		madeByAController, rs,
	).Build()
	for _, workloads := range []bool{false, true} {
		items, _, err := collect.Objects(context.Background(), c, labels.Everything(), workloads)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, it := range items {
			ref, _ := kinds.RefOf(it.Object)
			names = append(names, ref.String())
		}
		var want []string
		if workloads {
			want = []string{"Deployment consul/web"}
		}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("workloads %v: items %v, want %v", workloads, names, want)
		}
	}
}
