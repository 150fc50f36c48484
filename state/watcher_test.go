package state_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllertest"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
)

// fakeInformers serves fake informers by kind; a kind marked missing answers as the REST
// mapper does for a CRD that is not installed.
type fakeInformers struct {
	cache.Informers
	mu        sync.Mutex
	informers map[string]*controllertest.FakeInformer
	missing   map[string]bool
}

func kindOf(obj client.Object) string {
	if k, ok := kinds.Of(obj); ok {
		return string(k)
	}
	return state.DeploymentKind
}

func (f *fakeInformers) GetInformer(_ context.Context, obj client.Object, _ ...cache.InformerGetOption) (cache.Informer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kind := kindOf(obj)
	if f.missing[kind] {
		return nil, &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: v1alpha1.Group, Kind: kind}, SearchedVersions: []string{"v1alpha1"}}
	}
	if f.informers[kind] == nil {
		f.informers[kind] = controllertest.NewFakeInformer()
	}
	return f.informers[kind], nil
}

func (f *fakeInformers) informer(kind string) *controllertest.FakeInformer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.informers[kind]
}

func (f *fakeInformers) setMissing(kind string, missing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.missing[kind] = missing
}

func gauge(t *testing.T, reg *prometheus.Registry, name, kind string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			matches := kind == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					matches = true
				}
			}
			if matches {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
	}
}

// A kind without its CRD is unwatched and the rest syncs without it; once the CRD appears
// the kind is watched, and the state counts as synced again only when it has synced too.
func TestWatcherFollowsCRDs(t *testing.T) {
	informers := &fakeInformers{informers: map[string]*controllertest.FakeInformer{}, missing: map[string]bool{"PeeringDialer": true}}
	reg := prometheus.NewRegistry()
	synced := prometheus.NewGauge(prometheus.GaugeOpts{Name: "synced"})
	reg.MustRegister(synced)
	idx := state.NewIndex()
	w := state.NewWatcher(informers, idx, state.WatcherOptions{Recheck: 20 * time.Millisecond, Registerer: reg, Synced: synced, Log: logr.Discard()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	defer cancel()

	const watched = "consul_peering_guard_kind_watched"
	present := []string{"Mesh", "ProxyDefaults", "ExportedServices", "PeeringAcceptor", "SamenessGroup", state.DeploymentKind}
	eventually(t, "the present kinds watched", func() bool {
		for _, k := range present {
			if !w.Watched(k) {
				return false
			}
		}
		return true
	})
	for _, k := range present {
		if v := gauge(t, reg, watched, k); v != 1 {
			t.Errorf("kind_watched{%s} = %v, want 1", k, v)
		}
	}
	if w.Watched("PeeringDialer") || gauge(t, reg, watched, "PeeringDialer") != 0 {
		t.Fatalf("PeeringDialer watched without its CRD")
	}
	// Not synced until every watched informer has delivered its list.
	if w.Synced() || gauge(t, reg, "synced", "") != 0 {
		t.Fatal("synced before any informer synced")
	}
	for _, k := range present[:len(present)-1] {
		informers.informer(k).Synced()
	}
	time.Sleep(300 * time.Millisecond)
	if w.Synced() {
		t.Fatal("synced while the Deployment informer has not")
	}
	informers.informer(state.DeploymentKind).Synced()
	eventually(t, "synced without the missing kind", w.Synced)
	eventually(t, "the synced gauge at 1", func() bool { return gauge(t, reg, "synced", "") == 1 })

	// Events reach the index.
	informers.informer("Mesh").Add(&v1alpha1.Mesh{ObjectMeta: metav1.ObjectMeta{Name: "mesh", Namespace: "default"}})
	if n := idx.Count(kinds.Mesh); n != 1 {
		t.Errorf("index holds %d Mesh objects after an add, want 1", n)
	}

	// The CRD appears: watched at the next recheck, and not synced until it has synced.
	informers.setMissing("PeeringDialer", false)
	eventually(t, "PeeringDialer watched once its CRD exists", func() bool { return w.Watched("PeeringDialer") })
	if v := gauge(t, reg, watched, "PeeringDialer"); v != 1 {
		t.Errorf("kind_watched{PeeringDialer} = %v, want 1", v)
	}
	if w.Synced() {
		t.Fatal("synced before the new kind's informer synced")
	}
	informers.informer("PeeringDialer").Synced()
	eventually(t, "synced with the new kind", w.Synced)
	informers.informer("PeeringDialer").Add(&v1alpha1.PeeringDialer{ObjectMeta: metav1.ObjectMeta{Name: "dc2", Namespace: "default"}})
	if !idx.HasPeer("dc2") {
		t.Error("the new kind's objects do not reach the index")
	}

	// Start returns promptly when its context ends.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Start: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return after its context ended")
	}
}
