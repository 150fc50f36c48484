package validators

import "testing"

// A rule is object-only or reads state by the type of its check, never both, never neither.
func TestEveryRuleHasExactlyOneCheck(t *testing.T) {
	for _, r := range catalogue {
		if (r.objectCheck == nil) == (r.stateCheck == nil) {
			t.Errorf("rule %s: want exactly one of objectCheck and stateCheck", r.Name)
		}
	}
}
