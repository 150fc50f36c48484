package policies

import (
	"encoding/json"

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
