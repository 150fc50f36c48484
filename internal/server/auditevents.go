package server

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Bounds of the Events the audit records. client-go's event broadcaster queues 1,000 events
// and drops what does not fit, and creates each new one through the API server's rate
// limit: an audit that recorded every finding of a large cluster at once would lose the
// last ones (the workloads, listed last) on every tick. Each audit records at most
// MaxEventsPerAudit, those never recorded first, and records a finding again after
// EventRefresh, before the API server's default Event TTL (one hour) removes it.
const (
	MaxEventsPerAudit = 100
	EventRefresh      = 30 * time.Minute
)

// eventKey is one finding's identity across audits: its object, rule and field.
type eventKey struct {
	object      kinds.ObjectRef
	uid         string
	rule, field string
}

// dueEvent is a finding the audit may record as an Event.
type dueEvent struct {
	key  eventKey
	last time.Time // zero: never recorded
	obj  runtime.Object
	v    validators.Violation
}

// eventPacer remembers when each finding last got an Event. It holds only the findings of
// the last audit, so a finding that is fixed and comes back gets a new Event at once.
type eventPacer struct {
	recorded map[eventKey]time.Time
}

// pace records the Events of one audit's findings through emit, at most max, the findings
// never recorded first (in the audit's order), then the longest unrecorded; it returns how
// many were recorded and how many are left for the next audits.
func (p *eventPacer) pace(now time.Time, findings []snapshot.Finding, maxEvents int, emit func(runtime.Object, validators.Violation)) (recorded, deferred int) {
	var due []dueEvent
	kept := make(map[eventKey]time.Time, len(p.recorded))
	for _, f := range findings {
		uid := ""
		if m, ok := f.Object.(interface{ GetUID() types.UID }); ok {
			uid = string(m.GetUID())
		}
		for _, v := range f.Result.Violations {
			k := eventKey{object: f.Ref, uid: uid, rule: v.Rule, field: v.Error.Field}
			last, seen := p.recorded[k]
			if seen {
				kept[k] = last
			}
			if !seen || now.Sub(last) >= EventRefresh {
				due = append(due, dueEvent{key: k, last: last, obj: f.Object, v: v})
			}
		}
	}
	slices.SortStableFunc(due, func(a, b dueEvent) int { return a.last.Compare(b.last) })
	for i, d := range due {
		if i == maxEvents {
			deferred = len(due) - i
			break
		}
		emit(d.obj, d.v)
		kept[d.key] = now
		recorded++
	}
	p.recorded = kept
	return recorded, deferred
}
