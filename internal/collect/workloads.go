package collect

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// WorkloadChunk is how many workloads one list request asks for: a cluster holds far more
// pods than Consul objects, so they are read a page at a time.
const WorkloadChunk = 500

// EachWorkload lists the workloads people write, a page at a time, and calls each with those
// that carry the upstreams annotation: what a controller made (a Deployment's ReplicaSet, a
// CronJob's Job, their Pods) and pods without the annotation are dropped at once, so the
// audit holds only what the rules judge. A state rule finding one (the gateway scaled to zero
// after it was admitted) is reported by the audit, never by refusing its next rollout.
func EachWorkload(ctx context.Context, c client.Reader, each func(runtime.Object) error) error {
	for _, k := range kinds.Workloads {
		err := eachPageOf(ctx, c, k, WorkloadChunk, func(objs []runtime.Object) error {
			for _, obj := range objs {
				m, ok := obj.(metav1.Object)
				if !ok || validators.HasControllerOwner(m) || !validators.CarriesUpstreams(obj) {
					continue
				}
				stripUnread(m)
				if err := each(obj); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
