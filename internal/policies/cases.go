package policies

import (
	"encoding/json"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Case is one rule table case of validators/*_test.go as those tests write it (go test
// ./validators -update-vap-cases) and test/vap replays it through the generated policies on a
// real API server, requiring the verdict the engine gave.
type Case struct {
	Name   string          `json:"name"`
	Rule   string          `json:"rule"`
	Config CaseConfig      `json:"config"`
	Old    json.RawMessage `json:"old,omitempty"`
	Object json.RawMessage `json:"object"`
	// Verdict is the engine's for the rule: deny, warn or pass.
	Verdict string   `json:"verdict"`
	Hits    []string `json:"hits,omitempty"`
}

// CaseConfig is the installation a case was judged under.
type CaseConfig struct {
	PartitionsEnabled bool              `json:"partitionsEnabled,omitempty"`
	Partition         string            `json:"partition,omitempty"`
	NamespacesEnabled bool              `json:"namespacesEnabled,omitempty"`
	Edition           string            `json:"edition,omitempty"`
	ConsulVersion     string            `json:"consulVersion,omitempty"`
	Rules             map[string]string `json:"rules,omitempty"`
}

// EngineConfig is the engine configuration of c.
func (c CaseConfig) EngineConfig() (validators.Config, error) {
	cfg := validators.Config{PartitionsEnabled: c.PartitionsEnabled, Partition: c.Partition,
		NamespacesEnabled: c.NamespacesEnabled, Edition: validators.Edition(c.Edition)}
	if c.ConsulVersion != "" {
		v, err := validators.ParseConsulVersion(c.ConsulVersion)
		if err != nil {
			return cfg, err
		}
		cfg.ConsulVersion = v
	}
	for name, a := range c.Rules {
		if cfg.Actions == nil {
			cfg.Actions = map[string]validators.Action{}
		}
		cfg.Actions[name] = validators.Action(a)
	}
	return cfg, cfg.Validate()
}
