package validators_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/test/rulecases"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// The table cases of the rules the generated ValidatingAdmissionPolicies enforce are written
// to vapCasesFile, where test/vap replays each through the policies on a real API server and
// requires the verdict the engine gave here. A run of every test fails when the file is
// stale; -update-vap-cases rewrites it.
var updateVAPCases = flag.Bool("update-vap-cases", false, "rewrite "+vapCasesFile+" from the rule tables")

const vapCasesFile = "../test/vap/testdata/rulecases.json"

var (
	vapCases     []rulecases.Case
	vapCasesSeen = map[string]bool{}
)

// recordVAPCase keeps a case of a rule the policies enforce, with the engine's verdict.
func recordVAPCase(tc ruleCase, res validators.Result) error {
	r := validators.RuleByName(tc.rule)
	if !r.ObjectOnly() || r.WebhookOnly() != "" {
		return nil
	}
	// On workloads the rules read the upstreams annotation, which only the webhook parses.
	if k, _ := kinds.Of(tc.obj); slices.Contains(kinds.Workloads, k) {
		return nil
	}
	c := rulecases.Case{Name: tc.name, Rule: tc.rule, Verdict: rulecases.Verdict(res, tc.rule), Config: tc.cfg}
	var err error
	if c.Object, err = typedJSON(tc.obj); err != nil {
		return err
	}
	if tc.old != nil {
		if c.Old, err = typedJSON(tc.old); err != nil {
			return err
		}
	}
	for _, v := range res.Violations {
		if v.Rule == tc.rule {
			c.Hits = append(c.Hits, string(v.Action)+" "+v.Error.Field)
		}
	}
	// -count runs every table more than once; a case is kept once.
	key, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if !vapCasesSeen[string(key)] {
		vapCasesSeen[string(key)] = true
		vapCases = append(vapCases, c)
	}
	return nil
}

// typedJSON is obj as the API server would be sent it: with apiVersion and kind.
func typedJSON(obj runtime.Object) (json.RawMessage, error) {
	kind, ok := kinds.Of(obj)
	if !ok {
		return nil, fmt.Errorf("unsupported object %T", obj)
	}
	obj = obj.DeepCopyObject()
	obj.GetObjectKind().SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(string(kind)))
	return json.Marshal(obj)
}

// checkVAPCases writes the case file under -update-vap-cases, or reports it stale.
func checkVAPCases() error {
	sort.SliceStable(vapCases, func(i, j int) bool {
		if vapCases[i].Rule != vapCases[j].Rule {
			return vapCases[i].Rule < vapCases[j].Rule
		}
		return vapCases[i].Name < vapCases[j].Name
	})
	want, err := json.MarshalIndent(vapCases, "", "  ")
	if err != nil {
		return err
	}
	want = append(want, '\n')
	if *updateVAPCases {
		if err := os.MkdirAll(filepath.Dir(vapCasesFile), 0o755); err != nil {
			return err
		}
		return os.WriteFile(vapCasesFile, want, 0o644)
	}
	have, err := os.ReadFile(vapCasesFile)
	if err != nil || !bytes.Equal(have, want) {
		return fmt.Errorf("%s is stale: run go test ./validators -update-vap-cases and commit it", vapCasesFile)
	}
	return nil
}
