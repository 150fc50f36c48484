// Package collect reads the current objects of a cluster for the `audit` command, the
// periodic audit of `serve` and `check --context`, so all of them judge the same snapshot.
package collect

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// DefaultChunkSize is how many objects one list request of the audit asks for, as
// Gatekeeper's --audit-chunk-size: memory then holds one page, not every object of a kind.
const DefaultChunkSize = 500

// EachPage lists the objects of the validated kinds one kind at a time, chunk objects per
// request (0: a kind in one request), and calls each with every page, what no rule reads
// dropped from its objects (stripUnread). A kind whose
// CustomResourceDefinition is not installed is skipped.
func EachPage(ctx context.Context, c client.Reader, chunk int64, each func([]runtime.Object) error) error {
	for _, k := range kinds.Consul {
		err := eachPageOf(ctx, c, k, chunk, func(objs []runtime.Object) error {
			for _, obj := range objs {
				if m, ok := obj.(metav1.Object); ok {
					stripUnread(m)
				}
			}
			if len(objs) == 0 {
				return nil
			}
			return each(objs)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// eachPageOf lists the objects of one kind, chunk objects per request (0: all in one), and
// calls each with every page. A Consul kind whose CustomResourceDefinition is not installed
// has none.
func eachPageOf(ctx context.Context, c client.Reader, k kinds.Kind, chunk int64, each func([]runtime.Object) error) error {
	info, _ := kinds.InfoOf(k)
	opts := []client.ListOption{}
	if chunk > 0 {
		opts = append(opts, client.Limit(chunk))
	}
	for {
		// A fresh list per page: decoding into the last one could leave its fields behind.
		raw, _ := kinds.NewList(k)
		l := raw.(client.ObjectList)
		if err := c.List(ctx, l, opts...); meta.IsNoMatchError(err) && !info.Workload() {
			return nil
		} else if err != nil {
			return fmt.Errorf("listing %T: %w", l, err)
		}
		objs, err := meta.ExtractList(l)
		if err != nil {
			return err
		}
		if err := each(objs); err != nil {
			return err
		}
		next := l.GetContinue()
		if next == "" {
			return nil
		}
		opts = append(opts[:0], client.Limit(chunk), client.Continue(next))
	}
}

// Objects lists every object of the validated kinds and the mesh gateway Deployments matching sel
// that are not scaled to zero, with their status. A kind whose CustomResourceDefinition is
// not installed has no objects and is skipped.
// With workloads, the workloads people write that carry the upstreams annotation are listed too.
func Objects(ctx context.Context, c client.Reader, sel labels.Selector, workloads bool) ([]snapshot.Item, []state.Gateway, error) {
	var items []snapshot.Item
	err := EachPage(ctx, c, DefaultChunkSize, func(objs []runtime.Object) error {
		for _, obj := range objs {
			items = append(items, snapshot.Item{Object: obj})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if workloads {
		if err := EachWorkload(ctx, c, func(obj runtime.Object) error {
			items = append(items, snapshot.Item{Object: obj})
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	gateways, err := Gateways(ctx, c, sel)
	return items, gateways, err
}

// Gateways lists the mesh gateway Deployments matching sel that are not scaled to zero.
func Gateways(ctx context.Context, c client.Reader, sel labels.Selector) ([]state.Gateway, error) {
	var deps appsv1.DeploymentList
	if err := c.List(ctx, &deps, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing mesh gateway Deployments: %w", err)
	}
	var gateways []state.Gateway
	for i := range deps.Items {
		if ref, st := state.GatewayOf(&deps.Items[i]); st != validators.GatewayMissing {
			gateways = append(gateways, state.Gateway{Ref: ref, Status: st})
		}
	}
	return gateways, nil
}

// stripUnread drops what no rule reads and what is often the largest part of an object: its
// managedFields and kubectl's last-applied-configuration annotation, a second copy of it.
func stripUnread(m metav1.Object) {
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a[corev1.LastAppliedConfigAnnotation] != "" {
		delete(a, corev1.LastAppliedConfigAnnotation)
		m.SetAnnotations(a)
	}
}
