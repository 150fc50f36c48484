package validators

import "testing"

// A rule is object-only, reads state or compares two clusters by the type of its check:
// exactly one of the three.
func TestEveryRuleHasExactlyOneCheck(t *testing.T) {
	for _, r := range catalogue {
		n := 0
		for _, set := range []bool{r.objectCheck != nil, r.stateCheck != nil, r.pairCheck != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			t.Errorf("rule %s: want exactly one of objectCheck, stateCheck and pairCheck, has %d", r.Name, n)
		}
	}
}

// Every object-only rule either runs as CEL in a ValidatingAdmissionPolicy or says why it
// cannot; a rule that reads other objects has neither.
func TestEveryObjectRuleHasCELOrAReason(t *testing.T) {
	for _, r := range catalogue {
		hasCEL, reason := r.cel != nil, r.webhookOnly != ""
		switch {
		case r.ObjectOnly() && hasCEL == reason:
			t.Errorf("rule %s: want exactly one of cel and webhookOnly (cel %v, webhookOnly %q)", r.Name, hasCEL, r.webhookOnly)
		case !r.ObjectOnly() && (hasCEL || reason):
			t.Errorf("rule %s reads other objects: it cannot run as a policy, so it has no cel or webhookOnly", r.Name)
		}
	}
}
