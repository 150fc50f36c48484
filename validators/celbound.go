package validators

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// DefaultPolicyMaxListItems is the longest list a generated policy evaluates. The API
// server's CEL cost tracker makes the list checks cost CPU quadratic in a list's length
// (test/vap TestPolicyListBound measures it); an object with a longer list skips every
// policy of its kind and is judged by the webhook instead, whose checks are linear.
const DefaultPolicyMaxListItems = 1000

// PolicyBoundCondition names the match condition that skips an object whose lists are
// longer than the policies afford.
const PolicyBoundCondition = "lists-within-policy-bound"

// boundedList is a list the policies of a kind iterate, written once for CEL and once for Go
// so that the policies' match condition and the webhook agree on which objects they skip.
// An outer list with inner lists (the consumers of each exported service) is bounded twice:
// its own length and the inner lists' total.
type boundedList struct {
	cel func(root string) string // the list (or map) under root, empty when absent
	// innerSize is the length of the inner list of x, an element of list (a map iterates its
	// keys); nil without inner lists.
	innerSize func(list, x string) string
	// count is the outer length and the inner lists' total of obj.
	count func(obj runtime.Object) (outer, inner int)
}

var boundedLists = map[kinds.Kind]boundedList{
	kinds.ServiceDefaults: {cel: celOverrides, count: func(obj runtime.Object) (int, int) {
		sd, _ := obj.(*v1alpha1.ServiceDefaults)
		if sd == nil || sd.Spec.UpstreamConfig == nil {
			return 0, 0
		}
		return len(sd.Spec.UpstreamConfig.Overrides), 0
	}},
	kinds.ExportedServices: {cel: celServices, innerSize: func(_, x string) string { return "size(" + celConsumers(x) + ")" }, count: func(obj runtime.Object) (int, int) {
		es, _ := obj.(*v1alpha1.ExportedServices)
		if es == nil {
			return 0, 0
		}
		total := 0
		for _, s := range es.Spec.Services {
			total += len(s.Consumers)
		}
		return len(es.Spec.Services), total
	}},
	// spec.failover is a map of subsets, each with its targets.
	kinds.ServiceResolver: {cel: func(r string) string { return at(r, "{}", "spec", "failover") },
		innerSize: func(m, k string) string {
			return "(has(" + m + "[" + k + "].targets) ? size(" + m + "[" + k + "].targets) : 0)"
		}, count: func(obj runtime.Object) (int, int) {
			sr, _ := obj.(*v1alpha1.ServiceResolver)
			if sr == nil {
				return 0, 0
			}
			total := 0
			for _, f := range sr.Spec.Failover {
				total += len(f.Targets)
			}
			return len(sr.Spec.Failover), total
		}},
	kinds.ServiceIntentions: {cel: func(r string) string { return at(r, "[]", "spec", "sources") }, count: func(obj runtime.Object) (int, int) {
		if si, _ := obj.(*v1alpha1.ServiceIntentions); si != nil {
			return len(si.Spec.Sources), 0
		}
		return 0, 0
	}},
	kinds.SamenessGroup: {cel: func(r string) string { return at(r, "[]", "spec", "members") }, count: func(obj runtime.Object) (int, int) {
		if sg, _ := obj.(*v1alpha1.SamenessGroup); sg != nil {
			return len(sg.Spec.Members), 0
		}
		return 0, 0
	}},
}

// policyMaxListItems is the configured bound, DefaultPolicyMaxListItems when unset.
func (c Config) policyMaxListItems() int {
	if c.PolicyMaxListItems > 0 {
		return c.PolicyMaxListItems
	}
	return DefaultPolicyMaxListItems
}

// PolicyBound returns the CEL match condition under which the policies of kind k evaluate a
// request: its object's lists (and oldObject's, which the ratchet reads) hold at most the
// number of items the policies' parameter sets (ParamPolicyMaxListItems). ok is false for a
// kind whose policies iterate no list.
func PolicyBound(k kinds.Kind) (expr string, ok bool) {
	l, ok := boundedLists[k]
	if !ok {
		return "", false
	}
	n := "int(" + param(ParamPolicyMaxListItems) + ")"
	within := func(root string) string {
		list := l.cel(root)
		expr := "size(" + list + ") <= " + n
		if l.innerSize != nil {
			// Only evaluated once the outer length is within the bound (&& stops at false).
			expr += " && ([0] + " + list + ".map(x, " + l.innerSize(list, "x") + ")).sum() <= " + n
		}
		return expr
	}
	return "(" + within(celNew) + ") && (oldObject == null || (" + within(celOld) + "))", true
}

// BeyondPolicyBound reports whether the policies skip a request on obj (old on update, else
// nil) because a list is longer than PolicyBound affords: the webhook then runs the rules
// the policies enforce.
func (c Config) BeyondPolicyBound(obj, old runtime.Object) bool {
	k, ok := kinds.Of(obj)
	if !ok {
		return false
	}
	l, ok := boundedLists[k]
	if !ok {
		return false
	}
	n := c.policyMaxListItems()
	for _, o := range []runtime.Object{obj, old} {
		if o == nil {
			continue
		}
		if outer, inner := l.count(o); outer > n || inner > n {
			return true
		}
	}
	return false
}
