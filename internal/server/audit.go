package server

import (
	"context"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/consul-peering-guard/consul-peering-guard/internal/audit"
	"github.com/consul-peering-guard/consul-peering-guard/internal/offline"
	"github.com/consul-peering-guard/consul-peering-guard/internal/reports"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// EventReason is the reason of the Events the periodic audit records on offending objects.
const EventReason = "PeeringRuleViolation"

// auditor re-checks every object against today's state, catching drift the webhook cannot
// see at write time (a mesh gateway deleted after an export). It lists whole objects from the
// API server: the cache holds only what the state index reads.
type auditor struct {
	reader   client.Reader
	selector labels.Selector
	// synced reports whether the state index has synced (nil: always); the audit waits for
	// it, so that its reads of the cache never block on an informer that cannot list.
	synced func() bool
	// exempt namespaces are not audited, as the webhook does not check them.
	exempt  []string
	engine  *validators.Engine
	metrics *webhook.Metrics
	events  recorder.EventRecorder
	// reports, when set, keeps the findings as OpenReports Reports.
	reports  *reports.Writer
	interval time.Duration
	// workloads: the workloads carrying the upstreams annotation are audited too.
	workloads bool
	log      logr.Logger
	// published are the label sets the gauge holds since the last audit.
	published map[auditLabels]int
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica audits (the
// manager runs without leader election, and a metric per replica is what a scrape expects),
// so each replica records its own Events; the events API folds repeats into a series.
func (a *auditor) NeedLeaderElection() bool { return false }

func (a *auditor) stateSynced() bool { return a.synced == nil || a.synced() }

// Start implements manager.Runnable. The first audit runs once the state has synced.
func (a *auditor) Start(ctx context.Context) error {
	wait := time.NewTicker(100 * time.Millisecond)
	for !a.stateSynced() {
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
	if !a.stateSynced() {
		a.log.Info("audit skipped: the informer caches have not synced (a kind whose CustomResourceDefinition just appeared is loading)")
		return
	}
	items, gateways, err := audit.Collect(ctx, a.reader, a.selector, a.workloads)
	if err != nil {
		a.log.Error(err, "audit could not read the cluster")
		return
	}
	findings, err := offline.Check(a.engine, items, gateways)
	if err != nil {
		a.log.Error(err, "audit failed")
		return
	}
	counts := map[auditLabels]int{}
	total := 0
	for _, f := range findings {
		if slices.Contains(a.exempt, f.Ref.Namespace) {
			continue
		}
		for _, v := range f.Result.Violations {
			total++
			counts[auditLabels{rule: v.Rule, action: string(v.Action)}]++
			if a.events != nil {
				a.events.Eventf(f.Object, nil, corev1.EventTypeWarning, EventReason, "Audit", "%s: %s (%s)", v.Error.Field, v.Error.ErrorBody(), v.Action)
			}
		}
	}
	a.publish(counts)
	a.log.Info("audit finished", "objects", len(findings), "violations", total)
	if a.reports != nil {
		stats, err := a.reports.Sync(ctx, reports.Desired(findings, a.exempt))
		if err != nil {
			a.log.Error(err, "audit could not write every Report; the next audit tries again")
		}
		if stats.Dropped > 0 {
			a.log.Info("Reports full: results left out", "maxResultsPerReport", reports.MaxResults, "dropped", stats.Dropped)
		}
		a.log.V(1).Info("Reports written", "created", stats.Created, "updated", stats.Updated, "deleted", stats.Deleted, "unchanged", stats.Unchanged)
	}
}

type auditLabels struct{ rule, action string }

// publish sets the audit gauge to counts: every series is set to its new value and the
// series that no longer hold are deleted, so a scrape never reads a half-filled gauge (as it
// could between a Reset and the increments that follow it).
func (a *auditor) publish(counts map[auditLabels]int) {
	for l := range a.published {
		if _, ok := counts[l]; !ok {
			a.metrics.AuditViolations.DeleteLabelValues(l.rule, l.action)
		}
	}
	for l, n := range counts {
		a.metrics.AuditViolations.WithLabelValues(l.rule, l.action).Set(float64(n))
	}
	a.published = counts
}
