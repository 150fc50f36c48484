package state_test

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

var gatewayLabels = labels.Set{"component": "mesh-gateway"}

func gatewayDeployment(name string, lbls labels.Set, ready int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "consul", Name: name, Labels: lbls},
		Status:     appsv1.DeploymentStatus{ReadyReplicas: ready},
	}
}

// confirmed returns the wrapper over an empty index, a fake API server holding objs, and a
// counter of the lists it served.
func confirmed(t *testing.T, objs ...client.Object) (*state.ConfirmedGateways, *int) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	lists := 0
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			lists++
			return c.List(ctx, list, opts...)
		},
	}).Build()
	return state.NewConfirmedGateways(state.NewIndex(), c, labels.SelectorFromSet(gatewayLabels), ""), &lists
}

func TestConfirmedGatewaysSeesWhatTheCacheHasNotYet(t *testing.T) {
	for _, tc := range []struct {
		name string
		objs []client.Object
		want validators.GatewayStatus
	}{
		{"nothing anywhere", nil, validators.GatewayMissing},
		{"created in the same apply, not ready", []client.Object{gatewayDeployment("mesh-gateway", gatewayLabels, 0)}, validators.GatewayNotReady},
		{"ready", []client.Object{gatewayDeployment("mesh-gateway", gatewayLabels, 1)}, validators.GatewayReady},
		{"another Deployment", []client.Object{gatewayDeployment("web", labels.Set{"app": "web"}, 1)}, validators.GatewayMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, lists := confirmed(t, tc.objs...)
			if got := st.MeshGateway(); got != tc.want {
				t.Errorf("MeshGateway() = %v, want %v", got, tc.want)
			}
			if *lists != 1 {
				t.Errorf("%d live lists, want 1", *lists)
			}
		})
	}
}

func TestConfirmedGatewaysTrustsTheCacheAndReusesAnswers(t *testing.T) {
	st, lists := confirmed(t)
	st.ClusterState.(*state.Index).SetGateway(state.GatewayRef{Namespace: "consul", Name: "gw"}, validators.GatewayReady)
	if st.MeshGateway() != validators.GatewayReady || *lists != 0 {
		t.Fatalf("a gateway in the cache must be answered without a list (%d lists)", *lists)
	}
	st, lists = confirmed(t)
	for i := 0; i < 100; i++ {
		if st.MeshGateway() != validators.GatewayMissing {
			t.Fatal("want missing")
		}
	}
	if *lists != 1 {
		t.Errorf("%d lists for 100 questions within %v, want 1", *lists, state.ConfirmTTL)
	}
}
