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
