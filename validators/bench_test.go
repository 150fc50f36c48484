package validators_test

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

var benchSizes = []int{1, 100, 10000}

// objectOfSize builds a realistic object of each kind whose size grows with n: n upstream
// overrides for ServiceDefaults, n services with 2 consumers for ExportedServices.
func objectOfSize(kind kinds.Kind, n int) runtime.Object {
	switch kind {
	case kinds.ServiceDefaults:
		ups := make([]*v1alpha1.Upstream, n)
		for i := range ups {
			ups[i] = upMode(fmt.Sprintf("api-%d", i), fmt.Sprintf("dc%d", i%50), "remote")
		}
		return sd("frontend", ups...)
	case kinds.ExportedServices:
		svcs := make([]v1alpha1.ExportedService, n)
		for i := range svcs {
			svcs[i] = svc(fmt.Sprintf("svc-%d", i), toPeer(fmt.Sprintf("dc%d", i%50)), toPeer("dc-east"))
		}
		return es("default", svcs...)
	case kinds.ProxyDefaults:
		return pd("global", "local")
	case kinds.Mesh:
		return mesh("mesh", true)
	case kinds.PeeringAcceptor:
		return acceptor("dc2", k8sSecret())
	case kinds.PeeringDialer:
		return dialer("dc3", k8sSecret())
	case kinds.ServiceResolver:
		return resolver("dc3", map[string][]string{"*": {"dc-east", "dc4"}})
	case kinds.ServiceIntentions:
		return intentions("dc3", "dc-east")
	case kinds.SamenessGroup:
		return samenessGroup(v1alpha1.SamenessGroupMember{Partition: "default"}, v1alpha1.SamenessGroupMember{Peer: "dc3"})
	}
	panic("unknown kind " + kind)
}

// clusterOfSize returns an index holding `peers` dialers (dc0..dcN), an acceptor dc-east
// and a ready gateway, so the benchmark objects are valid.
func clusterOfSize(peers int) *state.Index {
	idx := newIndex(true, acceptor("dc-east", k8sSecret()))
	for i := 0; i < peers; i++ {
		idx.Upsert(dialer(fmt.Sprintf("dc%d", i), k8sSecret()))
	}
	return idx
}

func BenchmarkValidate(b *testing.B) {
	engine := mustEngine(b, validators.Config{})
	idx := clusterOfSize(50)
	for _, kind := range kinds.Consul {
		sizes := []int{1}
		if kind == kinds.ServiceDefaults || kind == kinds.ExportedServices {
			sizes = benchSizes
		}
		for _, n := range sizes {
			obj := objectOfSize(kind, n)
			b.Run(fmt.Sprintf("%s/n=%d", kind, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := engine.Validate(validators.Create, obj, nil, idx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkValidateClusterSize shows that the cost does not depend on how many objects the
// cluster holds: lookups are indexed.
func BenchmarkValidateClusterSize(b *testing.B) {
	engine := mustEngine(b, validators.Config{})
	obj := objectOfSize(kinds.ServiceDefaults, 100)
	for _, peers := range []int{50, 1000, 10000} {
		idx := clusterOfSize(peers)
		b.Run(fmt.Sprintf("peers=%d", peers), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = engine.Validate(validators.Create, obj, nil, idx)
			}
		})
	}
}

// Allocation counts are deterministic, so they can gate: the work per object must not grow
// with the number of cluster objects, and must grow linearly with the object's size.
func TestValidationCostIsIndexedAndLinear(t *testing.T) {
	engine := mustEngine(t, validators.Config{})
	allocs := func(obj runtime.Object, idx *state.Index) float64 {
		return testing.AllocsPerRun(20, func() { _, _ = engine.Validate(validators.Create, obj, nil, idx) })
	}
	for _, kind := range []kinds.Kind{kinds.ServiceDefaults, kinds.ExportedServices} {
		obj := objectOfSize(kind, 100)
		small, large := allocs(obj, clusterOfSize(50)), allocs(obj, clusterOfSize(10000))
		if large > small {
			t.Errorf("%s: %v allocations with 10,000 peers vs %v with 50: lookups are not indexed", kind, large, small)
		}
		per100 := allocs(objectOfSize(kind, 100), clusterOfSize(50)) / 100
		per10k := allocs(objectOfSize(kind, 10000), clusterOfSize(50)) / 10000
		if per10k > 2*per100+1 {
			t.Errorf("%s: %.2f allocations per element at 10,000 vs %.2f at 100: not linear", kind, per10k, per100)
		}
	}
	// A valid ExportedServices builds no field path at all, however many services it lists.
	if one, many := allocs(objectOfSize(kinds.ExportedServices, 1), clusterOfSize(50)), allocs(objectOfSize(kinds.ExportedServices, 10000), clusterOfSize(50)); many > one {
		t.Errorf("ExportedServices: %v allocations for 10,000 services vs %v for one: paths built without a violation", many, one)
	}
}
