package validators

import (
	"fmt"
	"maps"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// DefaultPartition is the admin partition of every cluster without Consul Enterprise partitions.
const DefaultPartition = "default"

// Config is the one configuration of the engine: the consul-k8s installation it guards and
// the action of each rule. The flags of serve, validate, check, audit and vap bind onto its
// fields (by their flag and help tags), a cluster file embeds it (manifest.ClusterSettings,
// its keys decoded over the flags' values), the rule cases carry it (rulecases.Case), and the
// chart passes the value its chart tag names as that flag (templates/_settings.tpl,
// generated from the tags; chartIf names a value that must be on too). The zero value is the
// default installation; Validate reports what cannot be.
//
// Adding a setting is one place to edit: a field here with its json key (the cluster file's
// and the cases'), flag name, help and chart value. make generate renders the chart's serve
// arguments from it, and hack/gendocs' tests fail until values.yaml and values.schema.json
// document the value.
type Config struct {
	PartitionsEnabled bool           `json:"partitionsEnabled,omitempty" flag:"partitions-enabled" help:"Consul admin partitions are enabled (global.adminPartitions.enabled)" chart:"consul.adminPartitions.enabled"`
	Partition         string         `json:"partition,omitempty" flag:"partition" help:"this cluster's admin partition (global.adminPartitions.name); default when partitions are off" chart:"consul.adminPartitions.name" chartIf:"consul.adminPartitions.enabled"`
	NamespacesEnabled bool           `json:"namespacesEnabled,omitempty" flag:"namespaces-enabled" help:"Consul namespaces are enabled (global.enableConsulNamespaces)" chart:"consul.enableConsulNamespaces"`
	Edition           Edition        `json:"edition,omitempty" flag:"consul-edition" help:"the Consul edition, ce or enterprise; empty means unknown and no rule guesses it (only ce denies samenessGroup consumers)" chart:"consul.edition"`
	ConsulVersion     *ConsulVersion `json:"consulVersion,omitempty" flag:"consul-version" help:"deny features newer than this Consul version, e.g. 1.15 (peer consumers 1.13, peering 1.14, upstream peer 1.15, sameness groups 1.16); empty disables the check" chart:"consul.version"`
	// AnnotationGrammar is the dialect of the upstreams annotation the installed consul-k8s
	// reads, set from its version (ParseAnnotationGrammar); zero is the newest.
	AnnotationGrammar    AnnotationGrammar `json:"consulK8sVersion,omitempty" flag:"consul-k8s-version" help:"the consul-k8s version installed (e.g. 1.6.2); selects the grammar of the connect-service-upstreams annotation, empty means the newest" chart:"consul.k8sVersion"`
	ConnectInjectDefault bool              `json:"connectInjectDefault,omitempty" flag:"connect-inject-default" help:"consul-k8s injects every pod that does not opt out (connectInject.default of the Consul chart); otherwise only pods annotated connect-inject \"true\" are injected, and only injected pods' upstreams are judged" chart:"consul.connectInjectDefault"`
	// EnforcedByPolicies names the rules ValidatingAdmissionPolicies enforce for the Consul
	// kinds (serve --skip-object-rules): the engine leaves those rules on those kinds to the
	// policies, and still runs them on workloads, whose annotation only it can parse.
	EnforcedByPolicies map[string]bool `json:"-"`
	// PolicyMaxListItems is the longest list the generated ValidatingAdmissionPolicies
	// evaluate (PolicyBound); 0 means DefaultPolicyMaxListItems. With EnforcedByPolicies the
	// engine judges an object beyond it itself, as the policies skip it. Only vap and serve
	// read it (their --policy-max-list-items, which they must agree on).
	PolicyMaxListItems int         `json:"-"`
	Actions            RuleActions `json:"rules,omitempty" flag:"rule" help:"set a rule's action, NAME=deny|warn|off (repeatable)" chart:"rules"`
}

// ConsulVersion is a Consul version such as 1.16 or 1.17.2+ent, written as a string.
type ConsulVersion struct{ *version.Version }

// UnmarshalText parses a Consul version (ParseConsulVersion).
func (v *ConsulVersion) UnmarshalText(text []byte) error {
	parsed, err := ParseConsulVersion(string(text))
	if err != nil {
		return err
	}
	*v = *parsed
	return nil
}

// MarshalText writes the version as ParseConsulVersion reads it.
func (v ConsulVersion) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads a consul-k8s version as the grammar it implies (ParseAnnotationGrammar).
func (g *AnnotationGrammar) UnmarshalText(text []byte) error {
	parsed, err := ParseAnnotationGrammar(string(text))
	if err != nil {
		return fmt.Errorf("consul-k8s version: %w", err)
	}
	*g = parsed
	return nil
}

// MarshalText writes the first consul-k8s version that reads the grammar.
func (g AnnotationGrammar) MarshalText() ([]byte, error) {
	if g == AnnotationGrammar1 {
		return []byte("1.0"), nil
	}
	return []byte("2.0"), nil
}

// RuleActions are the actions of rules by name, the --rule NAME=ACTION flags.
type RuleActions map[string]Action

// Set adds one NAME=ACTION (ParseRuleSetting), as the repeatable --rule flag.
func (r *RuleActions) Set(s string) error {
	name, action, err := ParseRuleSetting(s)
	if err != nil {
		return err
	}
	if *r == nil {
		*r = RuleActions{}
	}
	(*r)[name] = action
	return nil
}

// String lists the settings in name order, NAME=ACTION joined by commas.
func (r *RuleActions) String() string {
	names := make([]string, 0, len(*r))
	for name := range *r {
		names = append(names, name+"="+string((*r)[name]))
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// Type is the flag's type in --help: one value per use.
func (r *RuleActions) Type() string { return "stringArray" }

// Clone returns a copy that changes to the original do not reach.
func (c Config) Clone() Config {
	out := c
	out.Actions = maps.Clone(c.Actions)
	out.EnforcedByPolicies = maps.Clone(c.EnforcedByPolicies)
	return out
}

// Edition is the Consul edition the cluster runs.
type Edition string

// The editions; unknown means not configured.
const (
	EditionUnknown    Edition = ""
	EditionCE         Edition = "ce"
	EditionEnterprise Edition = "enterprise"
)

// UnmarshalText parses ce or enterprise (ParseEdition).
func (e *Edition) UnmarshalText(text []byte) error {
	parsed, err := ParseEdition(string(text))
	*e = parsed
	return err
}

// ParseEdition parses ce or enterprise; the empty string is EditionUnknown.
func ParseEdition(s string) (Edition, error) {
	switch e := Edition(s); e {
	case EditionUnknown, EditionCE, EditionEnterprise:
		return e, nil
	}
	return "", fmt.Errorf("consul edition %q: want ce or enterprise", s)
}

// LocalPartition is the admin partition this cluster belongs to.
func (c Config) LocalPartition() string {
	if !c.PartitionsEnabled || c.Partition == "" {
		return DefaultPartition
	}
	return c.Partition
}

// ActionFor returns the configured action of a rule.
func (c *Config) ActionFor(r *Rule) Action {
	if a, ok := c.Actions[r.Name]; ok {
		return a
	}
	return r.DefaultAction
}

// Validate reports configuration mistakes: unknown rule names, partition without partitions.
func (c *Config) Validate() error {
	var problems []string
	names := make([]string, 0, len(c.Actions))
	for name := range c.Actions {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if RuleByName(name) == nil {
			problems = append(problems, fmt.Sprintf("unknown rule %q (consul-peering-guard rules lists them)", name))
		} else if _, err := ParseAction(string(c.Actions[name])); err != nil {
			problems = append(problems, fmt.Sprintf("rule %q: %v", name, err))
		}
	}
	if _, err := ParseEdition(string(c.Edition)); err != nil {
		problems = append(problems, err.Error())
	}
	if c.PartitionsEnabled && c.Edition == EditionCE {
		problems = append(problems, "admin partitions need Consul Enterprise, the edition is ce")
	}
	if !c.PartitionsEnabled && c.Partition != "" && c.Partition != DefaultPartition {
		problems = append(problems, fmt.Sprintf("partition %q needs partitions enabled", c.Partition))
	}
	if c.PolicyMaxListItems < 0 {
		problems = append(problems, fmt.Sprintf("the policies' list bound %d must not be negative", c.PolicyMaxListItems))
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// ParseRuleSetting parses NAME=ACTION as given to --rule.
func ParseRuleSetting(s string) (string, Action, error) {
	name, act, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return "", "", fmt.Errorf("--rule %q: want NAME=ACTION with ACTION one of deny, warn, off", s)
	}
	a, err := ParseAction(act)
	if err != nil {
		return "", "", fmt.Errorf("--rule %q: %w", s, err)
	}
	if RuleByName(name) == nil {
		return "", "", fmt.Errorf("--rule %q: unknown rule %q (consul-peering-guard rules lists them)", s, name)
	}
	return name, a, nil
}

// ParseConsulVersion parses a Consul version such as 1.16 or 1.17.2+ent.
func ParseConsulVersion(s string) (*ConsulVersion, error) {
	v, err := version.ParseGeneric(strings.TrimPrefix(strings.SplitN(s, "+", 2)[0], "v"))
	if err != nil {
		return nil, fmt.Errorf("consul version %q: %w", s, err)
	}
	return &ConsulVersion{v}, nil
}
