// Package audit reads the current objects of a cluster for the `audit` command and the
// periodic audit of `serve`, so both feed the offline check the same way.
package audit

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/offline"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// ConsulLists returns an empty list of each validated kind.
func ConsulLists() []client.ObjectList {
	return []client.ObjectList{
		&v1alpha1.MeshList{}, &v1alpha1.ProxyDefaultsList{}, &v1alpha1.ServiceDefaultsList{},
		&v1alpha1.ExportedServicesList{}, &v1alpha1.PeeringAcceptorList{}, &v1alpha1.PeeringDialerList{},
		&v1alpha1.ServiceResolverList{}, &v1alpha1.ServiceIntentionsList{}, &v1alpha1.SamenessGroupList{},
	}
}

// Collect lists every object of the validated kinds and the mesh gateway Deployments matching sel
// that are not scaled to zero, with their status. A kind whose CustomResourceDefinition is
// not installed has no objects and is skipped.
// With workloads, the workloads people write that carry the upstreams annotation are listed too.
func Collect(ctx context.Context, c client.Reader, sel labels.Selector, workloads bool) ([]offline.Item, []state.Gateway, error) {
	var items []offline.Item
	for _, l := range ConsulLists() {
		if err := c.List(ctx, l); meta.IsNoMatchError(err) {
			continue
		} else if err != nil {
			return nil, nil, fmt.Errorf("listing %T: %w", l, err)
		}
		objs, err := meta.ExtractList(l)
		if err != nil {
			return nil, nil, err
		}
		for _, obj := range objs {
			items = append(items, offline.Item{Object: obj})
		}
	}
	if workloads {
		if err := EachWorkload(ctx, c, func(obj runtime.Object) error {
			items = append(items, offline.Item{Object: obj})
			return nil
		}); err != nil {
			return nil, nil, err
		}
	}
	var deps appsv1.DeploymentList
	if err := c.List(ctx, &deps, client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, nil, fmt.Errorf("listing mesh gateway Deployments: %w", err)
	}
	var gateways []state.Gateway
	for i := range deps.Items {
		if ref, st := state.GatewayOf(&deps.Items[i]); st != validators.GatewayMissing {
			gateways = append(gateways, state.Gateway{Ref: ref, Status: st})
		}
	}
	return items, gateways, nil
}
