package state

import (
	"context"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// ConfirmedGateways is a ClusterState whose "no mesh gateway" answers are confirmed by a live
// read. The informer cache is eventually consistent: in one `kubectl apply -f` (or an Argo CD
// sync) the gateway Deployment is created a few milliseconds before the ExportedServices
// that needs it, and the watch event may not have reached the index yet. Denying then would
// make apply order matter, so before answering "missing" it lists the gateway Deployments
// once. Only that answer costs a request; a recent confirmation is reused for ConfirmTTL so a
// flood of refused objects does not become a flood of lists.
type ConfirmedGateways struct {
	validators.ClusterState
	reader   client.Reader
	selector labels.Selector
	// namespace limits the list when the gateway's namespace is known ("" lists all).
	namespace string
	timeout   time.Duration

	mu        sync.Mutex
	checkedAt time.Time
	last      validators.GatewayStatus
}

// ConfirmTTL is how long a live "missing" answer is reused.
const ConfirmTTL = time.Second

// NewConfirmedGateways wraps st; reader reads the API server directly (not the cache).
func NewConfirmedGateways(st validators.ClusterState, reader client.Reader, selector labels.Selector, namespace string) *ConfirmedGateways {
	return &ConfirmedGateways{ClusterState: st, reader: reader, selector: selector, namespace: namespace, timeout: 2 * time.Second}
}

// MeshGateway implements validators.ClusterState.
func (c *ConfirmedGateways) MeshGateway() validators.GatewayStatus {
	if st := c.ClusterState.MeshGateway(); st != validators.GatewayMissing {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checkedAt) < ConfirmTTL {
		return c.last
	}
	c.last, c.checkedAt = c.list(), time.Now()
	return c.last
}

// list returns the best status of the gateway Deployments the API server holds; an error
// answers missing, the answer the cache already gave.
func (c *ConfirmedGateways) list() validators.GatewayStatus {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var deps appsv1.DeploymentList
	opts := []client.ListOption{client.MatchingLabelsSelector{Selector: c.selector}}
	if c.namespace != "" {
		opts = append(opts, client.InNamespace(c.namespace))
	}
	if err := c.reader.List(ctx, &deps, opts...); err != nil {
		return validators.GatewayMissing
	}
	best := validators.GatewayMissing
	for i := range deps.Items {
		if _, st := GatewayOf(&deps.Items[i]); st > best {
			best = st
		}
	}
	return best
}
