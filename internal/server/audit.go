package server

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/collect"
	"github.com/consul-peering-guard/consul-peering-guard/internal/openreports"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// EventReason is the reason of the Events the periodic audit records on offending objects.
const EventReason = "PeeringRuleViolation"

// auditor re-checks every object against today's state, catching drift the webhook cannot
// see at write time (a mesh gateway deleted after an export). It pages through whole objects
// from the API server one kind at a time (the cache holds only what the state index reads)
// and keeps only the findings, so its memory grows with one page and the violations, not
// with the objects stored. With a lease, one replica audits and records Events and Reports.
type auditor struct {
	reader client.Reader
	// state is the webhook's state index, what the state rules read at write time.
	state validators.ClusterState
	// synced reports whether the state index has synced (nil: always); the audit waits for
	// it, so that it never judges against a half-filled index.
	synced func() bool
	// chunk is how many objects one list request asks for (0: a kind at once).
	chunk int64
	// exempt namespaces are not audited, as the webhook does not check them.
	exempt  []string
	engine  *validators.Engine
	metrics *webhook.Metrics
	events  recorder.EventRecorder
	// paced remembers which findings got an Event, and when.
	paced eventPacer
	// reports, when set, keeps the findings as OpenReports Reports.
	reports *openreports.Writer
	// lease, when set, elects the one replica that audits; nil audits on every replica.
	lease    resourcelock.Interface
	interval time.Duration
	// workloads: the workloads carrying the upstreams annotation are audited too.
	workloads bool
	log       logr.Logger
	// published are the label sets the gauge holds since the last audit.
	published map[auditLabels]int
}

// AuditLeaseName is the coordination.k8s.io Lease the replicas elect the auditor with.
const AuditLeaseName = "consul-peering-guard-audit"

// Timing of the audit's leader election (client-go's defaults, as controller-runtime's).
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// NeedLeaderElection implements manager.LeaderElectionRunnable: the manager runs without
// leader election (every replica serves reviews); the auditor elects itself with its own
// lease, so that losing it stops the audit, never the webhook.
func (a *auditor) NeedLeaderElection() bool { return false }

func (a *auditor) stateSynced() bool { return a.synced == nil || a.synced() }

// Start implements manager.Runnable. The first audit runs once the state has synced and,
// with a lease, once this replica holds it; a replica that loses it stops auditing, clears
// its gauge and stands for election again.
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
	if a.lease == nil {
		a.loop(ctx)
		return nil
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: a.lease, LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		ReleaseOnCancel: true, Name: AuditLeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				a.log.Info("audit lease acquired: this replica audits", "lease", AuditLeaseName, "identity", a.lease.Identity())
				a.loop(ctx)
			},
			OnStoppedLeading: func() {
				a.publish(map[auditLabels]int{})
				a.log.Info("audit lease released or lost: another replica audits", "lease", AuditLeaseName)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("audit leader election: %w", err)
	}
	for ctx.Err() == nil {
		elector.Run(ctx) // returns when the lease is lost; stand again
	}
	return nil
}

// loop audits every interval until ctx ends.
func (a *auditor) loop(ctx context.Context) {
	tick := time.NewTicker(a.interval)
	defer tick.Stop()
	for {
		a.runOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (a *auditor) runOnce(ctx context.Context) {
	if !a.stateSynced() {
		a.log.Info("audit skipped: the informer caches have not synced (a kind whose CustomResourceDefinition just appeared is loading)")
		return
	}
	var findings []snapshot.Finding
	objects := 0
	judge := func(obj runtime.Object) error {
		objects++
		ref, _ := kinds.RefOf(obj)
		if slices.Contains(a.exempt, ref.Namespace) {
			return nil
		}
		res, err := a.engine.Validate(validators.Create, obj, nil, a.state)
		if err != nil {
			return err
		}
		if len(res.Violations) > 0 {
			findings = append(findings, snapshot.Finding{Item: snapshot.Item{Object: metadataOnly(obj)}, Ref: ref, Result: res})
		}
		return nil
	}
	err := collect.EachPage(ctx, a.reader, a.chunk, func(objs []runtime.Object) error {
		for _, obj := range objs {
			if err := judge(obj); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && a.workloads {
		err = collect.EachWorkload(ctx, a.reader, judge)
	}
	if err != nil {
		a.log.Error(err, "audit could not read the cluster")
		return
	}
	counts := map[auditLabels]int{}
	total := 0
	for _, f := range findings {
		for _, v := range f.Result.Violations {
			total++
			counts[auditLabels{rule: v.Rule, action: string(v.Action)}]++
		}
	}
	a.publish(counts)
	a.log.Info("audit finished", "objects", objects, "violations", total)
	if a.events != nil {
		recorded, deferred := a.paced.pace(time.Now(), findings, MaxEventsPerAudit, func(obj runtime.Object, v validators.Violation) {
			a.events.Eventf(obj, nil, corev1.EventTypeWarning, EventReason, "Audit", "%s: %s (%s)", v.Error.Field, v.Error.ErrorBody(), v.Action)
		})
		if deferred > 0 {
			a.log.Info("audit Events paced: the rest are recorded by the next audits", "recorded", recorded, "left", deferred, "maxEventsPerAudit", MaxEventsPerAudit)
		}
	}
	if a.reports != nil {
		stats, err := a.reports.Sync(ctx, openreports.Desired(findings, a.exempt))
		if err != nil {
			a.log.Error(err, "audit could not write every Report; the next audit tries again")
		}
		if stats.Dropped > 0 {
			a.log.Info("Reports full: results left out", "maxResultsPerReport", openreports.MaxResults, "maxReportBytes", openreports.MaxReportBytes, "dropped", stats.Dropped)
		}
		a.log.V(1).Info("Reports written", "created", stats.Created, "updated", stats.Updated, "deleted", stats.Deleted, "unchanged", stats.Unchanged)
	}
}

// metadataOnly is an empty object of obj's type with its identity: what an Event and a
// Report result name, kept instead of the whole object until the audit ends.
func metadataOnly(obj runtime.Object) runtime.Object {
	m, ok := obj.(client.Object)
	if !ok {
		return obj
	}
	out, ok := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(client.Object)
	if !ok {
		return obj
	}
	out.GetObjectKind().SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
	out.SetName(m.GetName())
	out.SetNamespace(m.GetNamespace())
	out.SetUID(m.GetUID())
	out.SetResourceVersion(m.GetResourceVersion())
	return out
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
