package validators_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sync"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// ruleErrorsFile holds, for every rule table case, the whole errors the case's rule reports
// (type, field, value, message and action), so that a table row asserts the message and the
// value as well as the field. -update-rule-errors rewrites it from the engine; review the diff.
const ruleErrorsFile = "testdata/rule-errors.json"

var updateRuleErrors = flag.Bool("update-rule-errors", false, "rewrite "+ruleErrorsFile+" from the rule tables")

// fullError is a violation with every field of its field.Error.
type fullError struct {
	Action string `json:"action"`
	Type   string `json:"type"`
	Field  string `json:"field"`
	Value  string `json:"value"`
	Detail string `json:"detail"`
}

var (
	ruleErrorsOnce sync.Once
	ruleErrorsWant map[string][]fullError
	ruleErrorsErr  error
	ruleErrorsMu   sync.Mutex
	ruleErrorsGot  = map[string][]fullError{}
)

func fullErrorsOf(res validators.Result, rule string) []fullError {
	out := []fullError{}
	for _, v := range res.Violations {
		if v.Rule == rule {
			out = append(out, fullError{Action: string(v.Action), Type: string(v.Error.Type), Field: v.Error.Field,
				Value: fmt.Sprintf("%#v", v.Error.BadValue), Detail: v.Error.Detail})
		}
	}
	return out
}

// checkFullErrors compares the case's whole errors with the recorded ones, or records them
// under -update-rule-errors.
func checkFullErrors(t *testing.T, rule string, res validators.Result) {
	t.Helper()
	got := fullErrorsOf(res, rule)
	ruleErrorsMu.Lock()
	ruleErrorsGot[t.Name()] = got
	ruleErrorsMu.Unlock()
	if *updateRuleErrors {
		return
	}
	ruleErrorsOnce.Do(func() {
		raw, err := os.ReadFile(ruleErrorsFile)
		if err != nil {
			ruleErrorsErr = err
			return
		}
		ruleErrorsErr = json.Unmarshal(raw, &ruleErrorsWant)
	})
	if ruleErrorsErr != nil {
		t.Fatalf("%s: %v (go test ./validators -update-rule-errors writes it)", ruleErrorsFile, ruleErrorsErr)
	}
	want, ok := ruleErrorsWant[t.Name()]
	if !ok {
		t.Fatalf("no recorded errors for this case in %s: run go test ./validators -update-rule-errors and review the diff", ruleErrorsFile)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s errors:\n got  %+v\n want %+v", rule, got, want)
	}
}

// writeRuleErrors writes the recorded errors under -update-rule-errors, after a full run.
func writeRuleErrors() error {
	if !*updateRuleErrors {
		return nil
	}
	raw, err := json.MarshalIndent(ruleErrorsGot, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	if have, err := os.ReadFile(ruleErrorsFile); err == nil && bytes.Equal(have, raw) {
		return nil
	}
	return os.WriteFile(ruleErrorsFile, raw, 0o644)
}
