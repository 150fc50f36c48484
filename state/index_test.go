package state_test

import (
	"fmt"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func dialer(ns, name string) *v1alpha1.PeeringDialer {
	return &v1alpha1.PeeringDialer{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func exported(ns, name string, consumers ...v1alpha1.ServiceConsumer) *v1alpha1.ExportedServices {
	es := &v1alpha1.ExportedServices{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	es.Spec.Services = []v1alpha1.ExportedService{{Name: "api", Consumers: consumers}}
	return es
}

func TestIndexFollowsUpsertsAndDeletes(t *testing.T) {
	idx := state.NewIndex()
	idx.Upsert(dialer("a", "dc2"))
	idx.Upsert(dialer("a", "dc2")) // an update is not a second object
	idx.Upsert(&v1alpha1.PeeringAcceptor{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "dc2"}})
	if got := idx.PeersNamed("dc2"); len(got) != 2 || !idx.HasPeer("dc2") || !idx.AnyPeer() {
		t.Fatalf("PeersNamed(dc2) = %v", got)
	}
	if idx.Count(kinds.PeeringDialer) != 1 || idx.Count(kinds.PeeringAcceptor) != 1 {
		t.Fatalf("counts %d/%d", idx.Count(kinds.PeeringDialer), idx.Count(kinds.PeeringAcceptor))
	}

	idx.Upsert(exported("a", "default", v1alpha1.ServiceConsumer{Peer: "dc2"}))
	if !idx.ExportsToPeer() {
		t.Fatal("a peer consumer was not seen")
	}
	idx.Upsert(exported("a", "default", v1alpha1.ServiceConsumer{Partition: "ap1"}))
	if idx.ExportsToPeer() || idx.Count(kinds.ExportedServices) != 1 {
		t.Fatal("an update that drops the peer consumer was not seen")
	}

	pd := &v1alpha1.ProxyDefaults{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "global"}}
	pd.Spec.MeshGateway.Mode = "none"
	idx.Upsert(pd)
	if idx.ProxyDefaultsGatewayMode() != "none" || len(idx.Existing(kinds.ProxyDefaults)) != 1 {
		t.Fatal("ProxyDefaults not indexed")
	}
	idx.Delete(pd)
	if idx.ProxyDefaultsGatewayMode() != "" || idx.Count(kinds.ProxyDefaults) != 0 {
		t.Fatal("ProxyDefaults not forgotten")
	}

	idx.Delete(dialer("a", "dc2"))
	idx.Delete(dialer("a", "dc2")) // deleting twice is harmless
	if got := idx.PeersNamed("dc2"); len(got) != 1 || got[0].Kind != kinds.PeeringAcceptor {
		t.Fatalf("after deleting the dialer: %v", got)
	}
	if idx.Count(kinds.PeeringDialer) != 0 {
		t.Fatalf("dialer count %d", idx.Count(kinds.PeeringDialer))
	}

	gw := state.GatewayRef{Namespace: "consul", Name: "mesh-gateway"}
	idx.SetGateway(gw, validators.GatewayReady)
	if idx.MeshGateway() != validators.GatewayReady || idx.ReadyGateways() != 1 {
		t.Fatal("gateway not seen")
	}
	idx.SetGateway(gw, validators.GatewayNotReady)
	if idx.MeshGateway() != validators.GatewayNotReady || idx.ReadyGateways() != 0 {
		t.Fatal("a gateway without a ready replica counts as ready")
	}
	idx.SetGateway(gw, validators.GatewayMissing)
	if idx.MeshGateway() != validators.GatewayMissing {
		t.Fatal("a missing gateway still counts")
	}
}

func TestPeersMatchCaseInsensitively(t *testing.T) {
	idx := state.NewIndex()
	idx.Upsert(dialer("a", "dc2"))
	for _, name := range []string{"dc2", "DC2", "Dc2"} {
		if !idx.HasPeer(name) || len(idx.PeersNamed(name)) != 1 {
			t.Errorf("peer %q not found for dialer dc2", name)
		}
	}
	idx.Delete(dialer("a", "dc2"))
	if idx.HasPeer("DC2") || idx.AnyPeer() {
		t.Error("deleted dialer still known")
	}
}

func TestGatewayOf(t *testing.T) {
	replicas := func(n int32) *int32 { return &n }
	for _, tc := range []struct {
		name     string
		replicas *int32
		ready    int32
		want     validators.GatewayStatus
	}{
		{"ready replica", replicas(2), 1, validators.GatewayReady},
		{"asks for replicas, none ready yet", replicas(1), 0, validators.GatewayNotReady},
		{"replicas unset (defaults to one), none ready", nil, 0, validators.GatewayNotReady},
		{"scaled to zero", replicas(0), 0, validators.GatewayMissing},
	} {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "consul", Name: "mesh-gateway"},
			Spec: appsv1.DeploymentSpec{Replicas: tc.replicas}, Status: appsv1.DeploymentStatus{ReadyReplicas: tc.ready}}
		ref, got := state.GatewayOf(d)
		if got != tc.want || ref != (state.GatewayRef{Namespace: "consul", Name: "mesh-gateway"}) {
			t.Errorf("%s: GatewayOf = %v %v, want %v", tc.name, ref, got, tc.want)
		}
	}
}

// Informer handlers write while admission requests read: run with -race.
func TestIndexIsSafeForConcurrentUse(t *testing.T) {
	idx := state.NewIndex()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				d := dialer("ns", fmt.Sprintf("dc%d-%d", w, i%20))
				idx.Upsert(d)
				idx.SetGateway(state.GatewayRef{Name: fmt.Sprint(w)}, validators.GatewayStatus(i%3))
				if i%3 == 0 {
					idx.Delete(d)
				}
			}
		}(w)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				_ = idx.HasPeer(fmt.Sprintf("dc%d-%d", w, i%20))
				_ = idx.PeersNamed("dc0-1")
				_ = idx.MeshGateway()
				_ = idx.Count(kinds.PeeringDialer)
			}
		}(w)
	}
	wg.Wait()
	n := 0
	for w := 0; w < 4; w++ {
		for i := 0; i < 20; i++ {
			if idx.HasPeer(fmt.Sprintf("dc%d-%d", w, i)) {
				n++
			}
		}
	}
	if got := idx.Count(kinds.PeeringDialer); got != n {
		t.Fatalf("count %d, but %d peers are present", got, n)
	}
}
