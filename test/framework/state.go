package framework

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// Reset deletes every object of the validated Consul kinds and every Deployment matching the mesh
// gateway selector, in all namespaces, and waits until they are gone.
func (c *Cluster) Reset(ctx context.Context, gatewaySelector labels.Selector) error {
	var lists []client.ObjectList
	for _, k := range kinds.Consul {
		l, _ := kinds.NewList(k)
		lists = append(lists, l.(client.ObjectList))
	}
	lists = append(lists, &appsv1.DeploymentList{})
	for _, l := range lists {
		opts := []client.ListOption{}
		if _, ok := l.(*appsv1.DeploymentList); ok {
			opts = append(opts, client.MatchingLabelsSelector{Selector: gatewaySelector})
		}
		if err := c.Client.List(ctx, l, opts...); err != nil {
			return err
		}
		items, err := itemsOf(l)
		if err != nil {
			return err
		}
		for _, obj := range items {
			if err := client.IgnoreNotFound(c.Client.Delete(ctx, obj)); err != nil {
				return fmt.Errorf("deleting %s: %w", obj.GetName(), err)
			}
		}
	}
	return poll(ctx, func() (bool, error) {
		for _, l := range lists {
			opts := []client.ListOption{}
			if _, ok := l.(*appsv1.DeploymentList); ok {
				opts = append(opts, client.MatchingLabelsSelector{Selector: gatewaySelector})
			}
			if err := c.Client.List(ctx, l, opts...); err != nil {
				return false, err
			}
			items, err := itemsOf(l)
			if err != nil || len(items) > 0 {
				return false, err
			}
		}
		return true, nil
	})
}

func itemsOf(l client.ObjectList) ([]client.Object, error) {
	objs, err := meta.ExtractList(l)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		co, ok := o.(client.Object)
		if !ok {
			return nil, fmt.Errorf("unexpected item %T", o)
		}
		out = append(out, co)
	}
	return out, nil
}

// MarkDeploymentReady sets status.readyReplicas through the status subresource, as the
// deployment controller would once a pod is ready (envtest runs no controllers).
func (c *Cluster) MarkDeploymentReady(ctx context.Context, namespace, name string, ready int32) error {
	var d appsv1.Deployment
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &d); err != nil {
		return err
	}
	d.Status.Replicas = ready
	d.Status.ReadyReplicas = ready
	d.Status.AvailableReplicas = ready
	d.Status.UpdatedReplicas = ready
	d.Status.ObservedGeneration = d.Generation
	return c.Client.Status().Update(ctx, &d)
}

// WaitForState waits until the webhook's state index, as exported on its metrics endpoint,
// holds want objects of kind. It is the barrier between writing an object and relying on it.
func (w *Webhook) WaitForState(ctx context.Context, kind kinds.Kind, want int) error {
	return poll(ctx, func() (bool, error) {
		return w.MetricValue(fmt.Sprintf(`consul_peering_guard_state_objects{kind="%s"}`, kind)) == float64(want), nil
	})
}

// WaitForGateways waits until the webhook sees want ready mesh gateways.
func (w *Webhook) WaitForGateways(ctx context.Context, want int) error {
	return poll(ctx, func() (bool, error) {
		return w.MetricValue("consul_peering_guard_mesh_gateways_ready") == float64(want), nil
	})
}

// WaitForNotReadyGateways waits until the webhook sees want mesh gateways that ask for
// replicas with none ready.
func (w *Webhook) WaitForNotReadyGateways(ctx context.Context, want int) error {
	return poll(ctx, func() (bool, error) {
		return w.MetricValue("consul_peering_guard_mesh_gateways_not_ready") == float64(want), nil
	})
}

func poll(ctx context.Context, cond func() (bool, error)) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("condition not met: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
