package server

import (
	"context"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/consul-peering-guard/consul-peering-guard/internal/audit"
	"github.com/consul-peering-guard/consul-peering-guard/internal/offline"
	"github.com/consul-peering-guard/consul-peering-guard/internal/report"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// EventReason is the reason of the Events the periodic audit records on offending objects.
const EventReason = "PeeringRuleViolation"

// auditor re-checks every object against today's state, catching drift the webhook cannot
// see at write time (a mesh gateway deleted after an export). It reads the manager's cache.
type auditor struct {
	reader   client.Reader
	selector labels.Selector
	// synced reports whether the state index has synced; the audit waits for it, so that
	// its reads of the cache never block on an informer that cannot list.
	synced func() bool
	// exempt namespaces are not audited, as the webhook does not check them.
	exempt   []string
	engine   *validators.Engine
	metrics  *webhook.Metrics
	events   recorder.EventRecorder
	interval time.Duration
	log      logr.Logger
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica audits (the
// manager runs without leader election, and a metric per replica is what a scrape expects),
// so each replica records its own Events; the events API folds repeats into a series.
func (a *auditor) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable. The first audit runs once the state has synced.
func (a *auditor) Start(ctx context.Context) error {
	wait := time.NewTicker(100 * time.Millisecond)
	for !a.synced() {
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil
		case <-wait.C:
		}
	}
	wait.Stop()
	tick := time.NewTicker(a.interval)
	defer tick.Stop()
	for {
		a.runOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (a *auditor) runOnce(ctx context.Context) {
	if !a.synced() {
		a.log.Info("audit skipped: the informer caches have not synced (a kind whose CustomResourceDefinition just appeared is loading)")
		return
	}
	items, gateways, err := audit.Collect(ctx, a.reader, a.selector)
	if err != nil {
		a.log.Error(err, "audit could not read the cluster")
		return
	}
	var rep report.Report
	if err := offline.Check(a.engine, items, gateways, &rep); err != nil {
		a.log.Error(err, "audit failed")
		return
	}
	a.metrics.AuditViolations.Reset()
	byRef := make(map[validators.ObjectRef]runtime.Object, len(items))
	for _, it := range items {
		if ref, ok := validators.RefOf(it.Object); ok {
			byRef[ref] = it.Object
		}
	}
	total := 0
	for _, res := range rep.Results {
		if slices.Contains(a.exempt, res.Namespace) {
			continue
		}
		obj := byRef[validators.ObjectRef{Kind: validators.Kind(res.Kind), Namespace: res.Namespace, Name: res.Name}]
		for _, v := range res.Violations {
			total++
			a.metrics.AuditViolations.WithLabelValues(v.Rule, v.Action).Inc()
			if obj != nil && a.events != nil {
				a.events.Eventf(obj, nil, corev1.EventTypeWarning, EventReason, "Audit", "%s: %s (%s)", v.Field, v.Message, v.Action)
			}
		}
	}
	a.log.Info("audit finished", "objects", len(rep.Results), "violations", total)
}
