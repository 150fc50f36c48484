package state

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Metric names of the watcher.
const (
	metricKindWatched = "consul_peering_guard_kind_watched"
	// DeploymentKind is the kind label of the mesh gateway Deployments in kind_watched.
	DeploymentKind = "Deployment"
)

// WatchedObjects returns one empty object of every type the index is fed from:
// the Consul kinds the state rules read and Deployments (mesh gateways; the cache restricts them by label
// and, when configured, to the gateway's namespace).
func WatchedObjects() []client.Object {
	out := make([]client.Object, 0, len(kinds.Watched)+1)
	for _, k := range kinds.Watched {
		obj, _ := kinds.New(k)
		out = append(out, obj.(client.Object))
	}
	return append(out, &appsv1.Deployment{})
}

// kindName is the kind label of a watched object.
func kindName(obj client.Object) string {
	if k, ok := kinds.Of(obj); ok {
		return string(k)
	}
	return DeploymentKind
}

// watchedType is one type the index is fed from; reg is nil while it is not watched.
type watchedType struct {
	kind          string
	obj           client.Object
	reg           toolscache.ResourceEventHandlerRegistration
	reportedUnmet bool
}

// WatcherOptions configure a Watcher.
type WatcherOptions struct {
	// Recheck is how often kinds whose CustomResourceDefinition is missing are looked for again.
	Recheck time.Duration
	// Registerer receives the kind_watched gauge.
	Registerer prometheus.Registerer
	// Synced, when set, is kept at 1 while every watched kind has synced and 0 otherwise.
	Synced prometheus.Gauge
	Log    logr.Logger
}

// Watcher keeps the state index in step with the cluster. It is a manager runnable, so it
// registers its informers only once the cache runs and never makes the manager wait for
// a sync: a SIGTERM is honoured however long a list is refused. A kind whose
// CustomResourceDefinition is not installed is not watched (there can be no objects of it)
// and is looked for again every Recheck, so installing the CRD later needs no restart.
type Watcher struct {
	informers cache.Informers
	idx       *Index
	o         WatcherOptions
	watched   *prometheus.GaugeVec

	mu    sync.Mutex
	types []*watchedType
	// synced is true once every watched kind's handler has seen its initial list.
	synced atomic.Bool
}

// NewWatcher returns a Watcher of WatchedObjects feeding idx from informers.
func NewWatcher(informers cache.Informers, idx *Index, o WatcherOptions) *Watcher {
	if o.Recheck <= 0 {
		o.Recheck = 10 * time.Second
	}
	w := &Watcher{
		informers: informers, idx: idx, o: o,
		watched: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricKindWatched,
			Help: "1 when the webhook watches a kind, 0 while its CustomResourceDefinition is not installed (looked for again periodically).",
		}, []string{"kind"}),
	}
	for _, obj := range WatchedObjects() {
		t := &watchedType{kind: kindName(obj), obj: obj}
		w.types = append(w.types, t)
		w.watched.WithLabelValues(t.kind).Set(0)
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(w.watched)
	}
	return w
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica serves.
func (w *Watcher) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable. It returns when ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	syncTick := time.NewTicker(100 * time.Millisecond)
	defer syncTick.Stop()
	recheck := time.NewTicker(w.o.Recheck)
	defer recheck.Stop()
	w.watchMissing(ctx)
	for {
		w.updateSynced()
		select {
		case <-ctx.Done():
			return nil
		case <-syncTick.C:
		case <-recheck.C:
			w.watchMissing(ctx)
		}
	}
}

// watchMissing starts an informer for every kind not yet watched whose type the API server
// now serves.
func (w *Watcher) watchMissing(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range w.types {
		if t.reg != nil {
			continue
		}
		inf, err := w.informers.GetInformer(ctx, t.obj, cache.BlockUntilSynced(false))
		if err != nil {
			if !t.reportedUnmet {
				t.reportedUnmet = true
				if meta.IsNoMatchError(err) {
					w.o.Log.Info("not watching a kind: its CustomResourceDefinition is not installed, so no object of it can exist; looking for it again periodically",
						"kind", t.kind, "recheck", w.o.Recheck.String())
				} else {
					w.o.Log.Error(err, "not watching a kind: cannot start its informer; trying again periodically", "kind", t.kind, "recheck", w.o.Recheck.String())
				}
			}
			continue
		}
		reg, err := inf.AddEventHandler(indexHandler(w.idx))
		if err != nil {
			w.o.Log.Error(err, "not watching a kind: cannot add the event handler; trying again periodically", "kind", t.kind)
			continue
		}
		t.reg = reg
		w.watched.WithLabelValues(t.kind).Set(1)
		if t.reportedUnmet {
			w.o.Log.Info("watching a kind whose CustomResourceDefinition appeared", "kind", t.kind)
		}
	}
	// A newly watched kind has not synced yet.
	w.updateSyncedLocked()
}

func (w *Watcher) updateSynced() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.updateSyncedLocked()
}

func (w *Watcher) updateSyncedLocked() {
	synced := true
	for _, t := range w.types {
		if t.reg != nil && !t.reg.HasSynced() {
			synced = false
			break
		}
	}
	if was := w.synced.Swap(synced); was != synced {
		w.o.Log.Info("state index", "synced", synced)
	}
	if w.o.Synced != nil {
		if synced {
			w.o.Synced.Set(1)
		} else {
			w.o.Synced.Set(0)
		}
	}
}

// Synced reports whether every watched kind's informer has delivered its initial list to
// the index, so that a state rule's lookup reflects the cluster.
func (w *Watcher) Synced() bool { return w.synced.Load() }

// Watched reports whether a kind (kinds.Kind or DeploymentKind) is watched.
func (w *Watcher) Watched(kind string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range w.types {
		if t.kind == kind {
			return t.reg != nil
		}
	}
	return false
}

func indexHandler(idx *Index) toolscache.ResourceEventHandler {
	upsert := func(obj interface{}) {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			idx.SetGateway(GatewayOf(o))
		case runtime.Object:
			idx.Upsert(o)
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    upsert,
		UpdateFunc: func(_, newObj interface{}) { upsert(newObj) },
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				ref, _ := GatewayOf(o)
				idx.SetGateway(ref, validators.GatewayMissing)
			case runtime.Object:
				idx.Delete(o)
			}
		},
	}
}
