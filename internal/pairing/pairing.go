// Package pairing gathers what `check` compares across clusters: one validators.ClusterSource
// per cluster, from a cluster folder of manifests or from a live API server, plus the
// single-cluster items of the same objects. The comparison itself is validators.CheckPairs.
package pairing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/collect"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Cluster is one cluster of a check: what its single-cluster rules check and what pairing reads.
type Cluster struct {
	Name string
	// Cluster is the engine, objects and gateways, built as validate builds them.
	snapshot.Cluster
	// Tokens are digests of the peering tokens in the acceptors' and dialers' Secrets (live only).
	Tokens map[kinds.ObjectRef]string
	Peers  map[string]string
}

// Source returns the cluster as pairing sees it. The mesh gateway status is the best of its
// gateways: one ready gateway serves the peering.
func (c *Cluster) Source() validators.ClusterSource {
	objs := make([]runtime.Object, len(c.Items))
	for i, it := range c.Items {
		objs[i] = it.Object
	}
	cfg := c.Engine.Config()
	return validators.ClusterSource{Name: c.Name, Config: &cfg, Peers: c.Peers, Objects: objs,
		Gateway: BestGateway(c.Gateways), Tokens: c.Tokens}
}

// BestGateway is the status of the most advanced gateway, GatewayMissing for none.
func BestGateway(gateways []state.Gateway) validators.GatewayStatus {
	best := validators.GatewayMissing
	for _, g := range gateways {
		if g.Status > best {
			best = g.Status
		}
	}
	return best
}

// Collect reads a live cluster as audit does, plus the digests of the peering tokens the
// acceptors and dialers point at. A Secret that cannot be read (not there yet, or not
// allowed) leaves that object to be paired by name.
func Collect(ctx context.Context, c client.Reader, sel labels.Selector) ([]snapshot.Item, []state.Gateway, map[kinds.ObjectRef]string, error) {
	items, gateways, err := collect.Objects(ctx, c, sel, true)
	if err != nil {
		return nil, nil, nil, err
	}
	tokens := map[kinds.ObjectRef]string{}
	for _, it := range items {
		ref, _ := kinds.RefOf(it.Object)
		var spec v1alpha1.PeeringSpec
		var namespace string
		switch o := it.Object.(type) {
		case *v1alpha1.PeeringAcceptor:
			spec, namespace = o.Spec, o.Namespace
		case *v1alpha1.PeeringDialer:
			spec, namespace = o.Spec, o.Namespace
		default:
			continue
		}
		if spec.Peer == nil || spec.Peer.Secret == nil || spec.Peer.Secret.Name == "" || spec.Peer.Secret.Backend != "kubernetes" {
			continue
		}
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: spec.Peer.Secret.Name}, &s); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
				continue
			}
			return nil, nil, nil, fmt.Errorf("reading the token Secret of %s: %w", ref, err)
		}
		if d := TokenDigest(s.Data[spec.Peer.Secret.Key]); d != "" {
			tokens[ref] = d
		}
	}
	return items, gateways, tokens, nil
}

// TokenDigest identifies a peering token without revealing it, "" for an empty one.
func TokenDigest(token []byte) string {
	if len(token) == 0 {
		return ""
	}
	sum := sha256.Sum256(token)
	return hex.EncodeToString(sum[:])
}
