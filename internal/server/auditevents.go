package server

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Bounds of the audit's Events. client-go's event broadcaster queues 1,000 and drops the rest,
// so an audit recording every finding of a large cluster at once would lose the last ones
// listed (the workloads) on every tick. Each audit records at most MaxEventsPerAudit, the
// findings never recorded first, and a finding again after EventRefresh, before the API
// server's default Event TTL (one hour) removes its Event.
const (
	MaxEventsPerAudit = 100
	EventRefresh      = 30 * time.Minute
)

// eventKey is a finding's identity across audits.
type eventKey struct {
	object      kinds.ObjectRef
	uid         string
	rule, field string
}

// eventPacer holds when each finding of the last audit got its Event: a finding fixed and
// back again is recorded at once.
type eventPacer struct{ recorded map[eventKey]time.Time }

// pace records at most maxEvents of one audit's findings through emit, never recorded first,
// then the longest unrecorded, and says how many it recorded and how many wait.
func (p *eventPacer) pace(now time.Time, findings []snapshot.Finding, maxEvents int, emit func(runtime.Object, validators.Violation)) (recorded, deferred int) {
	type due struct {
		key  eventKey
		last time.Time // zero: never recorded
		obj  runtime.Object
		v    validators.Violation
	}
	var todo []due
	kept := make(map[eventKey]time.Time, len(p.recorded))
	for _, f := range findings {
		uid := ""
		if o, ok := f.Object.(client.Object); ok {
			uid = string(o.GetUID())
		}
		for _, v := range f.Result.Violations {
			k := eventKey{object: f.Ref, uid: uid, rule: v.Rule, field: v.Error.Field}
			last, seen := p.recorded[k]
			if seen {
				kept[k] = last
			}
			if !seen || now.Sub(last) >= EventRefresh {
				todo = append(todo, due{k, last, f.Object, v})
			}
		}
	}
	slices.SortStableFunc(todo, func(a, b due) int { return a.last.Compare(b.last) })
	recorded = min(maxEvents, len(todo))
	for _, d := range todo[:recorded] {
		emit(d.obj, d.v)
		kept[d.key] = now
	}
	p.recorded = kept
	return recorded, len(todo) - recorded
}
