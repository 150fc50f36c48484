package collect

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// WorkloadLists returns an empty list of each workload kind whose pods may carry the upstreams
// annotation (kinds.Workloads).
func WorkloadLists() []client.ObjectList { return lists(kinds.Workloads) }

// WorkloadChunk is how many workloads one list request asks for: a cluster holds far more
// pods than Consul objects, so they are read a page at a time.
const WorkloadChunk = 500

// EachWorkload lists the workloads people write, a page at a time, and calls each with those
// that carry the upstreams annotation: what a controller made (a Deployment's ReplicaSet, a
// CronJob's Job, their Pods) and pods without the annotation are dropped at once, so the
// audit holds only what the rules judge. A state rule finding one (the gateway scaled to zero
// after it was admitted) is reported by the audit, never by refusing its next rollout.
func EachWorkload(ctx context.Context, c client.Reader, each func(runtime.Object) error) error {
	for i := range WorkloadLists() {
		opts := []client.ListOption{client.Limit(WorkloadChunk)}
		for {
			l := WorkloadLists()[i]
			if err := c.List(ctx, l, opts...); err != nil {
				return fmt.Errorf("listing %T: %w", l, err)
			}
			objs, err := meta.ExtractList(l)
			if err != nil {
				return err
			}
			for _, obj := range objs {
				m, ok := obj.(metav1.Object)
				if !ok || validators.HasControllerOwner(m) || !validators.CarriesUpstreams(obj) {
					continue
				}
				m.SetManagedFields(nil)
				if err := each(obj); err != nil {
					return err
				}
			}
			next := l.GetContinue()
			if next == "" {
				break
			}
			opts = []client.ListOption{client.Limit(WorkloadChunk), client.Continue(next)}
		}
	}
	return nil
}
