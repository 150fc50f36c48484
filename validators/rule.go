package validators

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// Action is what happens when a rule finds a violation.
type Action string

// The actions a rule can be set to.
const (
	Deny Action = "deny"
	Warn Action = "warn"
	Off  Action = "off"
)

// ParseAction parses deny, warn or off.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Deny, Warn, Off:
		return a, nil
	}
	return "", fmt.Errorf("action %q: want deny, warn or off", s)
}

// Operation is the admission operation being validated.
type Operation string

// Create and Update are validated; deletes are always allowed.
const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
)

// ObjectInput is what an object-only check sees: the object, the stored object on update
// and the configuration, never other objects. Such a rule can run anywhere the object is,
// inside the API server as a ValidatingAdmissionPolicy included.
type ObjectInput struct {
	Operation Operation
	Object    runtime.Object
	// Old is the stored object on Update, nil on Create.
	Old    runtime.Object
	Config *Config

	// The view of the object (view.go), each part built on the first rule that reads it.
	upstreamList    *[]upstream
	annotation      annotationView
	consumerLists   []*field.Path
	proxyConfig     *proxyConfig
	proxyConfigRead bool
	// What rules said of their errors beyond the errors (warnOnly, identify).
	warnOnlyErrs map[*field.Error]bool
	identities   map[*field.Error]any
}

func newObjectInput(op Operation, obj, old runtime.Object, cfg *Config) *ObjectInput {
	return &ObjectInput{Operation: op, Object: obj, Old: old, Config: cfg}
}

// Input is what a state check sees: the object and the cluster.
type Input struct {
	*ObjectInput
	State ClusterState
}

// warnOnly marks errs as findings the engine reports as warnings even when the rule denies:
// findings a gateway already on its way can make untrue, and findings the specification
// scopes to a warning.
func (in *ObjectInput) warnOnly(errs field.ErrorList) field.ErrorList {
	if in.warnOnlyErrs == nil {
		in.warnOnlyErrs = make(map[*field.Error]bool, len(errs))
	}
	for _, fe := range errs {
		in.warnOnlyErrs[fe] = true
	}
	return errs
}

// identify names the offending value of an error that leaves it out of its message (an
// annotation entry, a large config value), so that an update is ratcheted by it.
func (in *ObjectInput) identify(fe *field.Error, value any) *field.Error {
	if in.identities == nil {
		in.identities = make(map[*field.Error]any)
	}
	in.identities[fe] = value
	return fe
}

// finding is fe as the engine's stages see it, with what the rule said of it.
func (in *ObjectInput) finding(r *Rule, fe *field.Error) finding {
	value, named := in.identities[fe]
	if !named {
		value = fe.BadValue
	}
	return finding{rule: r, err: fe, value: value, warnOnly: in.warnOnlyErrs[fe]}
}

// Rule is one check of the catalogue.
type Rule struct {
	// Name is stable and kebab-case; configuration, metrics and messages use it.
	Name string
	// Family groups rules in the documentation (docs/rules/<family>.md).
	Family        string
	DefaultAction Action
	Kinds         []kinds.Kind
	Description   string
	// A rule has exactly one of the three checks; which one says what it reads: the object
	// alone, the object and its cluster, or two clusters that peer (CheckPairs runs those;
	// an admission review never does).
	objectCheck func(in *ObjectInput) field.ErrorList
	stateCheck  func(in *Input) field.ErrorList
	pairCheck   func(in *PairInput) []PairHit
	// An object-only rule has exactly one of: cel, which writes the same check as the
	// validations of a ValidatingAdmissionPolicy (beside the check), or webhookOnly, the reason CEL
	// cannot express it faithfully.
	cel         func(g *celGen, k kinds.Kind)
	webhookOnly string
}

// ReadsState reports whether the rule reads other objects (a state rule) rather than only the
// object under review (an object-only rule).
func (r *Rule) ReadsState() bool { return r.stateCheck != nil }

// ObjectOnly reports whether the rule reads nothing but the object under review (and so can
// run anywhere the object is).
func (r *Rule) ObjectOnly() bool { return r.objectCheck != nil }

// ReadsPair reports whether the rule compares two peered clusters; such a rule runs only in
// `check`, never on a single object.
func (r *Rule) ReadsPair() bool { return r.pairCheck != nil }

// run applies the rule's check.
func (r *Rule) run(in *Input) field.ErrorList {
	if r.stateCheck != nil {
		return r.stateCheck(in)
	}
	return r.objectCheck(in.ObjectInput)
}

// AppliesTo reports whether the rule checks objects of kind k.
func (r *Rule) AppliesTo(k kinds.Kind) bool {
	for _, rk := range r.Kinds {
		if rk == k {
			return true
		}
	}
	return false
}

// Catalogue returns every rule, in documentation order. Callers must not modify it.
func Catalogue() []*Rule { return catalogue }

// RuleByName returns the rule with that name, or nil.
func RuleByName(name string) *Rule { return rulesByName[name] }

var rulesByName = func() map[string]*Rule {
	m := make(map[string]*Rule, len(catalogue))
	for _, r := range catalogue {
		if _, dup := m[r.Name]; dup {
			panic("validators: duplicate rule name " + r.Name)
		}
		m[r.Name] = r
	}
	return m
}()
