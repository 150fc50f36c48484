package validators

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
)

// DefaultPartition is the admin partition of every cluster without Consul Enterprise partitions.
const DefaultPartition = "default"

// Config mirrors the consul-k8s installation the engine guards.
type Config struct {
	// PartitionsEnabled is global.adminPartitions.enabled of the Consul Helm chart.
	PartitionsEnabled bool
	// Partition is this cluster's admin partition (global.adminPartitions.name).
	Partition string
	// NamespacesEnabled is global.enableConsulNamespaces.
	NamespacesEnabled bool
	// ConsulVersion, when set, denies features newer than that Consul version.
	ConsulVersion *version.Version
	// Edition is the Consul edition, EditionUnknown when not configured: no rule guesses it.
	Edition Edition
	// AnnotationGrammar is the dialect of the upstreams annotation the installed consul-k8s
	// reads (ParseAnnotationGrammar of --consul-k8s-version); zero is the newest.
	AnnotationGrammar AnnotationGrammar
	// ConnectInjectDefault is connectInject.default of the Consul Helm chart: consul-k8s
	// injects every pod that does not opt out, not only those annotated connect-inject "true".
	// Only the annotations of injected pods are ever read, so only those are judged.
	ConnectInjectDefault bool
	// EnforcedByPolicies names the rules ValidatingAdmissionPolicies enforce for the Consul
	// kinds (serve --skip-object-rules): the engine leaves those rules on those kinds to the
	// policies, and still runs them on workloads, whose annotation only it can parse.
	EnforcedByPolicies map[string]bool
	// PolicyMaxListItems is the longest list the generated ValidatingAdmissionPolicies
	// evaluate (PolicyBound); 0 means DefaultPolicyMaxListItems. With EnforcedByPolicies the
	// engine judges an object beyond it itself, as the policies skip it.
	PolicyMaxListItems int
	// Actions overrides the default action of rules by name.
	Actions map[string]Action
}

// Edition is the Consul edition the cluster runs.
type Edition string

// The editions; unknown means not configured.
const (
	EditionUnknown    Edition = ""
	EditionCE         Edition = "ce"
	EditionEnterprise Edition = "enterprise"
)

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
func ParseConsulVersion(s string) (*version.Version, error) {
	v, err := version.ParseGeneric(strings.TrimPrefix(strings.SplitN(s, "+", 2)[0], "v"))
	if err != nil {
		return nil, fmt.Errorf("consul version %q: %w", s, err)
	}
	return v, nil
}
