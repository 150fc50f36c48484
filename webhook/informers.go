package webhook

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// WatchedObjects returns one empty object of every type the state index is fed from:
// the six Consul kinds and Deployments (mesh gateways; the cache restricts them by label).
func WatchedObjects() []client.Object {
	out := make([]client.Object, 0, len(validators.Kinds)+1)
	for _, k := range validators.Kinds {
		obj, _ := validators.NewObject(k)
		out = append(out, obj.(client.Object))
	}
	return append(out, &appsv1.Deployment{})
}

// FeedIndex registers informer handlers that keep idx in step with the cache. Call it
// before the cache starts; requests are only served as ready once the cache has synced.
func FeedIndex(ctx context.Context, informers cache.Informers, idx *state.Index) error {
	for _, obj := range WatchedObjects() {
		inf, err := informers.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("informer for %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(indexHandler(idx)); err != nil {
			return fmt.Errorf("event handler for %T: %w", obj, err)
		}
	}
	return nil
}

func indexHandler(idx *state.Index) toolscache.ResourceEventHandler {
	upsert := func(obj interface{}) {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			idx.SetGateway(state.GatewayOf(o))
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
				ref, _ := state.GatewayOf(o)
				idx.SetGateway(ref, validators.GatewayMissing)
			case runtime.Object:
				idx.Delete(o)
			}
		},
	}
}
