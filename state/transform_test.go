package state_test

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func bulkyMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: "consul", Name: name, UID: "u-" + "1", ResourceVersion: "7",
		Labels:      map[string]string{"app": "consul"},
		Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 4096)}}
}

// The index answers the same questions from stripped objects as from whole ones.
func TestStripForIndexKeepsWhatTheIndexReads(t *testing.T) {
	replicas := int32(2)
	objs := []runtime.Object{
		&v1alpha1.Mesh{ObjectMeta: bulkyMeta("mesh"), Spec: v1alpha1.MeshSpec{Peering: &v1alpha1.PeeringMeshConfig{PeerThroughMeshGateways: true}}},
		&v1alpha1.ProxyDefaults{ObjectMeta: bulkyMeta("global"), Spec: v1alpha1.ProxyDefaultsSpec{MeshGateway: v1alpha1.MeshGateway{Mode: "local"}, Config: []byte(`{"protocol":"http"}`)}},
		&v1alpha1.ServiceDefaults{ObjectMeta: bulkyMeta("web"), Spec: v1alpha1.ServiceDefaultsSpec{Protocol: "http"}},
		&v1alpha1.ExportedServices{ObjectMeta: bulkyMeta("default"), Spec: v1alpha1.ExportedServicesSpec{Services: []v1alpha1.ExportedService{
			{Name: "api", Consumers: []v1alpha1.ServiceConsumer{{Partition: "ap2"}}},
			{Name: "db", Consumers: []v1alpha1.ServiceConsumer{{Peer: "dc2"}}},
		}}},
		&v1alpha1.PeeringDialer{ObjectMeta: bulkyMeta("DC2-lower"), Spec: v1alpha1.PeeringSpec{Peer: &v1alpha1.Peer{Secret: &v1alpha1.Secret{Name: "t"}}}},
	}
	whole, stripped := state.NewIndex(), state.NewIndex()
	for _, o := range objs {
		whole.Upsert(o)
		s, err := state.StripForIndex(o)
		if err != nil {
			t.Fatal(err)
		}
		m := s.(metav1.Object)
		if len(m.GetAnnotations()) != 0 || len(m.GetLabels()) != 0 {
			t.Errorf("%T kept labels or annotations", s)
		}
		stripped.Upsert(s.(runtime.Object))
	}
	for _, k := range kinds.Watched {
		if !reflect.DeepEqual(whole.Existing(k), stripped.Existing(k)) {
			t.Errorf("%s: %v, stripped %v", k, whole.Existing(k), stripped.Existing(k))
		}
	}
	if whole.ProxyDefaultsGatewayMode() != stripped.ProxyDefaultsGatewayMode() || whole.ExportsToPeer() != stripped.ExportsToPeer() ||
		!stripped.ExportsToPeer() || whole.HasPeer("dc2-lower") != stripped.HasPeer("dc2-lower") {
		t.Error("the stripped index answers differently")
	}

	d := &appsv1.Deployment{ObjectMeta: bulkyMeta("mesh-gateway"), Spec: appsv1.DeploymentSpec{Replicas: &replicas,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "gw", Image: "consul-dataplane"}}}}},
		Status: appsv1.DeploymentStatus{ReadyReplicas: 1}}
	s, _ := state.StripForIndex(d)
	sd := s.(*appsv1.Deployment)
	if len(sd.Spec.Template.Spec.Containers) != 0 {
		t.Error("the pod template was kept")
	}
	if ref, st := state.GatewayOf(sd); st != validators.GatewayReady || ref.Name != "mesh-gateway" {
		t.Errorf("stripped gateway: %v %v", ref, st)
	}
}
