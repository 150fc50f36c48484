// Package rulecases is the format of the rule table cases that go test ./validators
// -update-vap-cases writes to test/vap/testdata/rulecases.json, and what their readers share:
// internal/policies binds each case's Go check to its CEL in the API server's evaluator, and
// test/vap replays each through the generated policies on a real API server.
package rulecases

import (
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	sigsjson "sigs.k8s.io/json"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Case is one rule table case of validators/*_test.go as those tests write it (go test
// ./validators -update-vap-cases) and test/vap replays it through the generated policies on a
// real API server, requiring the verdict the engine gave.
type Case struct {
	Name string `json:"name"`
	Rule string `json:"rule"`
	// Config is the installation the case was judged under.
	Config validators.Config `json:"config"`
	Old    json.RawMessage   `json:"old,omitempty"`
	Object json.RawMessage   `json:"object"`
	// Verdict is the engine's for the rule: deny, warn or pass.
	Verdict string   `json:"verdict"`
	Hits    []string `json:"hits,omitempty"`
}

// RefusedByTheAPIServer are the cases whose object the API server's own validation refuses
// before any admission policy runs: the CRD schema (a null list item, a missing spec.peer)
// or Kubernetes' object names. The engine still judges them, as validate reads such files
// offline, but no cluster can hold them, so no policy ever sees them.
var RefusedByTheAPIServer = map[string]string{
	"consul-version/local upstream on 1.14":                                "a null override",
	"consul-version/peer upstream on 1.14":                                 "a null override",
	"gateway-mode-valid/override after a nil entry keeps its index":        "a null override",
	"upstream-name-required/nil override":                                  "a null override",
	"upstream-name-required/nil overrides among named ones":                "null overrides",
	"upstream-namespace-needs-namespaces/nil override with namespaces off": "a null override",
	"peer-name-syntax/dialer ending in a dash":                             "not a Kubernetes object name",
	"peer-secret-valid/no peer":                                            "the CRD requires spec.peer",
}

// Unstructured are the case's object and stored object (nil on CREATE) as the API server
// is sent them.
func (c Case) Unstructured() (obj, old *unstructured.Unstructured, err error) {
	obj = &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(c.Object); err != nil {
		return nil, nil, err
	}
	if c.Old != nil {
		old = &unstructured.Unstructured{}
		if err := old.UnmarshalJSON(c.Old); err != nil {
			return nil, nil, err
		}
	}
	return obj, old, nil
}

// Judge runs the case through the engine under its configuration, decoding its objects as
// the API server does (case-sensitively), and fails when the engine's verdict is no longer
// the case file's.
func (c Case) Judge() (validators.Result, validators.Config, error) {
	cfg := c.Config
	e, err := validators.NewEngine(cfg)
	if err != nil {
		return validators.Result{}, cfg, err
	}
	u, _, err := c.Unstructured()
	if err != nil {
		return validators.Result{}, cfg, err
	}
	decode := func(raw json.RawMessage) (runtime.Object, error) {
		obj, ok := kinds.New(kinds.Kind(u.GetKind()))
		if !ok {
			return nil, fmt.Errorf("unsupported kind %s", u.GetKind())
		}
		return obj, sigsjson.UnmarshalCaseSensitivePreserveInts(raw, obj)
	}
	obj, err := decode(c.Object)
	if err != nil {
		return validators.Result{}, cfg, err
	}
	op, old := validators.Create, runtime.Object(nil)
	if c.Old != nil {
		op = validators.Update
		if old, err = decode(c.Old); err != nil {
			return validators.Result{}, cfg, err
		}
	}
	res, err := e.Validate(op, obj, old, state.NewIndex())
	if engine := Verdict(res, c.Rule); err == nil && engine != c.Verdict {
		err = fmt.Errorf("the engine says %s, the case file %s: run go test ./validators -update-vap-cases", engine, c.Verdict)
	}
	return res, cfg, err
}

// PolicyVerdict is the verdict of the rule's policy, bound as cfg sets it, where the engine's
// is engine: a Deny binding cannot warn, so a violation the stored object already had, which
// the engine only warns about, passes silently.
func PolicyVerdict(engine, rule string, cfg validators.Config) string {
	if engine == "warn" && cfg.ActionFor(validators.RuleByName(rule)) == validators.Deny {
		return "pass"
	}
	return engine
}

// Verdict is the engine's verdict on rule in res: deny when it denies, warn when it only
// warns, pass otherwise.
func Verdict(res validators.Result, rule string) string {
	verdict := "pass"
	for _, v := range res.Violations {
		if v.Rule != rule {
			continue
		}
		if v.Action == validators.Deny {
			verdict = "deny"
		} else if verdict == "pass" {
			verdict = "warn"
		}
	}
	return verdict
}
