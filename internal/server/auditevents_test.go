package server

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// finding is one ServiceDefaults with one upstream-peer-known warning at its i-th override.
func finding(name string, i int) snapshot.Finding {
	sd := &v1alpha1.ServiceDefaults{}
	sd.Name, sd.Namespace, sd.UID = name, "default", types.UID("uid-"+name)
	path := field.NewPath("spec", "upstreamConfig", "overrides").Index(i).Child("peer")
	v := validators.Violation{Rule: "upstream-peer-known", Action: validators.Warn, Error: field.Invalid(path, "dc9", "no peer")}
	return snapshot.Finding{Item: snapshot.Item{Object: sd}, Ref: kinds.ObjectRef{Kind: kinds.ServiceDefaults, Namespace: "default", Name: name},
		Result: validators.Result{Violations: []validators.Violation{v}}}
}

// Each audit records at most its bound of Events, the findings never recorded first, so the
// last findings of a large cluster (the workloads, listed last) are recorded within a few
// audits instead of being dropped behind the first ones on every tick; a finding is recorded
// again after EventRefresh, and one that disappears and comes back is recorded at once.
func TestAuditEventsArePacedNeverDropped(t *testing.T) {
	var findings []snapshot.Finding
	for i := range 250 {
		findings = append(findings, finding(fmt.Sprintf("sd-%03d", i), 0))
	}
	var p eventPacer
	got := map[string]int{}
	emit := func(obj runtime.Object, v validators.Violation) {
		sd := obj.(*v1alpha1.ServiceDefaults)
		got[sd.Name+" "+v.Rule+" "+v.Error.Field]++
	}
	start := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for audit, want := range []struct{ recorded, deferred int }{{100, 150}, {100, 50}, {50, 0}, {0, 0}} {
		recorded, deferred := p.pace(start.Add(time.Duration(audit)*time.Minute), findings, 100, emit)
		if recorded != want.recorded || deferred != want.deferred {
			t.Fatalf("audit %d recorded %d and left %d, want %d and %d", audit, recorded, deferred, want.recorded, want.deferred)
		}
	}
	if len(got) != 250 {
		t.Fatalf("%d findings got an Event after four audits, want all 250", len(got))
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("%s recorded %d times within EventRefresh, want once", k, n)
		}
	}

	// A new finding (the last one listed) goes before every refresh that is due.
	late := append(findings, finding("web", 3))
	clear(got)
	recorded, deferred := p.pace(start.Add(EventRefresh+time.Minute), late, 100, emit)
	if recorded != 100 || deferred != 101 { // the first two audits' 200 are due, and web
		t.Fatalf("after EventRefresh: recorded %d, left %d, want 100 and 101", recorded, deferred)
	}
	if got["web upstream-peer-known spec.upstreamConfig.overrides[3].peer"] != 1 {
		t.Errorf("the new finding was not among the first Events recorded: %v", len(got))
	}
	if got["sd-000 upstream-peer-known spec.upstreamConfig.overrides[0].peer"] != 1 {
		t.Errorf("the longest unrecorded finding was not refreshed first")
	}

	// sd-000 is fixed, then breaks again: it is recorded at once, not after EventRefresh.
	clear(got)
	p.pace(start.Add(EventRefresh+2*time.Minute), late[1:], 0, emit)
	p.pace(start.Add(EventRefresh+3*time.Minute), late[:1], 100, emit)
	if got["sd-000 upstream-peer-known spec.upstreamConfig.overrides[0].peer"] != 1 {
		t.Errorf("a finding that came back got no Event: %v", got)
	}
}
