package validators

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// Violation is one finding of one rule.
type Violation struct {
	Rule   string
	Action Action
	// Error carries the field path, the offending value and the message; its Detail ends
	// with the rule name in parentheses.
	Error *field.Error
}

// Warning renders the violation as a short admission warning: "path: value: message (rule)",
// the value left out where the message already quotes it. When that is longer than
// MaxWarningLength, the quoted value is shortened first, then the path from its start;
// the explanation, often the operator's only hint, is kept whole (only an explanation that
// alone fills the warning is cut).
func (v Violation) Warning() string {
	path := WarningPath(v.Error.Field)
	detail := v.Error.Detail
	for _, runes := range warningValueRunes {
		s := joinWarning(path, warningValue(v.Error, runes), requoteLead(detail, runes))
		if len(s) <= MaxWarningLength {
			return s
		}
	}
	rest := ": " + joinWarning("", warningValue(v.Error, 16), requoteLead(detail, 16))[len(": "):]
	if room := MaxWarningLength - len(rest); room >= minPathRoom {
		return shortenPath(path, room) + rest
	}
	s := shortenPath(path, minPathRoom) + rest
	suffix := " (" + v.Rule + ")"
	keep := MaxWarningLength - len(suffix) - len("…")
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + "…" + suffix
}

// joinWarning is "path: value: detail", without the value when it is empty.
func joinWarning(path, value, detail string) string {
	if value == "" {
		return path + ": " + detail
	}
	return path + ": " + value + ": " + detail
}

// warningValue is the offending value as a warning shows it, at most runes long: a string
// quoted, a number or boolean as is; nothing when the error leaves the value out, when it is
// not a scalar, or when the message already quotes it.
func warningValue(fe *field.Error, runes int) string {
	var s string
	switch v := fe.BadValue.(type) {
	case string:
		if strings.Contains(fe.Detail, strconv.Quote(v)) {
			return ""
		}
		s = strconv.Quote(clip(v, runes))
	case bool, int, int32, int64, uint, uint32, uint64:
		s = fmt.Sprint(v)
	default:
		return ""
	}
	return s
}

// requoteLead shortens the quoted value a message starts with (the annotation entry of an
// annotation finding) to at most runes.
func requoteLead(detail string, runes int) string {
	q, err := strconv.QuotedPrefix(detail)
	if err != nil {
		return detail
	}
	unquoted, err := strconv.Unquote(q)
	if err != nil || utf8.RuneCountInString(unquoted) <= runes {
		return detail
	}
	return strconv.Quote(clip(strings.TrimSuffix(unquoted, "…"), runes)) + detail[len(q):]
}

// WarningPath is a field path as a warning shows it: the upstreams annotation's key is
// abbreviated to its last word.
func WarningPath(field string) string {
	return strings.Replace(field, "["+UpstreamsAnnotation+"]", "[…upstreams]", 1)
}

// Result is the verdict on one object.
type Result struct {
	Kind       kinds.Kind
	Violations []Violation
}

// Allowed is false when any violation's action is deny.
func (r *Result) Allowed() bool {
	for _, v := range r.Violations {
		if v.Action == Deny {
			return false
		}
	}
	return true
}

// Denials returns the deny violations as field errors, ready for apierrors.NewInvalid.
func (r *Result) Denials() field.ErrorList {
	var errs field.ErrorList
	for _, v := range r.Violations {
		if v.Action == Deny {
			errs = append(errs, v.Error)
		}
	}
	return errs
}

// Warnings returns the warn violations as admission warnings, at most MaxWarnings.
func (r *Result) Warnings() []string {
	var out []string
	total := 0
	for _, v := range r.Violations {
		if v.Action != Warn {
			continue
		}
		total++
		if len(out) < MaxWarnings {
			out = append(out, v.Warning())
		}
	}
	if total > MaxWarnings {
		out[MaxWarnings-1] = fmt.Sprintf("%d more warnings; consul-peering-guard validate lists them all", total-MaxWarnings+1)
	}
	return out
}

// Engine applies the catalogue with one configuration.
type Engine struct {
	cfg    Config
	byKind map[kinds.Kind][]*Rule
}

// NewEngine validates the configuration and indexes the active rules by kind.
func NewEngine(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.Clone() // the engine's own copy: later changes to the caller's maps do not leak in
	e := &Engine{cfg: cfg, byKind: map[kinds.Kind][]*Rule{}}
	for _, r := range catalogue {
		if cfg.ActionFor(r) == Off || r.ReadsPair() {
			continue
		}
		for _, k := range r.Kinds {
			e.byKind[k] = append(e.byKind[k], r)
		}
	}
	return e, nil
}

// Config returns a copy of the engine's configuration.
func (e *Engine) Config() Config { return e.cfg.Clone() }

// Validate checks obj (and, on Update, what changed from old) against every active rule.
// It returns an error only for an object that is not of a validated kind or a rule that
// failed unexpectedly; violations are in the Result. A review runs in stages, each a
// function: evaluate the rules to findings, demote what is only worth a warning, ratchet an
// update against the stored object, cap what one rule says, render.
func (e *Engine) Validate(op Operation, obj, old runtime.Object, st ClusterState) (Result, error) {
	kind, ok := kinds.Of(obj)
	if !ok {
		return Result{}, fmt.Errorf("unsupported object type %T", obj)
	}
	if op == Update && old == nil {
		op = Create
	}
	rules := e.rulesFor(kind, obj, old)
	in := &Input{ObjectInput: newObjectInput(op, obj, old, &e.cfg), State: st}
	found, err := evaluate(rules, in)
	if err != nil {
		return Result{Kind: kind}, err
	}
	// An object being deleted is only updated to remove finalizers (consul-k8s removes its
	// own once Consul forgot the entry); refusing that would leave it Terminating forever.
	terminating := op == Update && metaOf(obj).GetDeletionTimestamp() != nil
	e.demote(found, terminating)
	if op == Update && !terminating {
		if err := ratchet(found, &Input{ObjectInput: newObjectInput(Update, old, old, &e.cfg), State: st}); err != nil {
			return Result{Kind: kind}, err
		}
	}
	return Result{Kind: kind, Violations: render(capPerRule(found))}, nil
}

// rulesFor is the active rules of kind that the webhook judges for this object. The policies
// judge the rules they enforce on the Consul kinds, except on an object whose lists are
// longer than they afford: they skip it, and it is judged here.
func (e *Engine) rulesFor(kind kinds.Kind, obj, old runtime.Object) []*Rule {
	all := e.byKind[kind]
	if len(e.cfg.EnforcedByPolicies) == 0 || slices.Contains(kinds.Workloads, kind) || e.cfg.BeyondPolicyBound(obj, old) {
		return all
	}
	return slices.DeleteFunc(slices.Clone(all), func(r *Rule) bool { return e.cfg.EnforcedByPolicies[r.Name] })
}

// finding is one violation on its way through the stages: the rule, the error, what
// identifies it across an update and the action it ends up with.
type finding struct {
	rule *Rule
	err  *field.Error
	// value is the offending value: the error's, or the one its rule identified.
	value any
	// warnOnly marks a finding the rule scopes to a warning (rule.go, Input.warnOnly).
	warnOnly bool
	action   Action
}

// findingIdentity is what an update is ratcheted by: rule, field path without list indexes
// (moving an override keeps it), offending value (a message stands for a value left out and
// not identified) and kind of error.
type findingIdentity struct {
	rule, field, value string
	typ                field.ErrorType
}

func (f *finding) identity() findingIdentity {
	value := f.value
	if _, omitted := value.(field.OmitValueType); omitted {
		value = listIndex.ReplaceAllString(f.err.Detail, "[*]")
	}
	return findingIdentity{rule: f.rule.Name, field: listIndex.ReplaceAllString(f.err.Field, "[*]"), value: fmt.Sprint(value), typ: f.err.Type}
}

// evaluate runs every rule on in and returns their findings in catalogue order. A rule that
// panics is an error naming it, never a crash of the review.
func evaluate(rules []*Rule, in *Input) (found []finding, err error) {
	var current *Rule
	defer func() {
		if p := recover(); p != nil {
			found, err = nil, fmt.Errorf("internal error in rule %s: %v", current.Name, p)
		}
	}()
	for _, r := range rules {
		current = r
		for _, fe := range r.run(in) {
			found = append(found, in.finding(r, fe))
		}
	}
	return found, nil
}

// demote gives each finding its rule's action, a denial reported as a warning where the
// rule scoped the finding to one (a mesh gateway that exists but is not ready yet, a peering
// object on its way out, an ambiguous reading, a rule that only bites once peering is in
// use), or everywhere when all is set.
func (e *Engine) demote(found []finding, all bool) {
	for i := range found {
		f := &found[i]
		if f.action = e.cfg.ActionFor(f.rule); f.action == Deny && (all || f.warnOnly) {
			f.action = Warn
		}
	}
}

// ratchet judges an update as Kubernetes judges CRD validation: a denial the stored object
// already had (same rule, same field, same offending value) is a warning, so an object
// written before the webhook, or before a rule changed, stays editable. Names never change,
// so name rules never block an update. Only rules with a denial are run on the stored
// object.
func ratchet(found []finding, stored *Input) error {
	var denying []*Rule
	for _, f := range found {
		if f.action == Deny && !slices.Contains(denying, f.rule) {
			denying = append(denying, f.rule)
		}
	}
	if len(denying) == 0 {
		return nil
	}
	before, err := evaluate(denying, stored)
	if err != nil {
		return err
	}
	had := make(map[findingIdentity]int, len(before))
	for i := range before {
		had[before[i].identity()]++
	}
	for i := range found {
		if f := &found[i]; f.action == Deny {
			if id := f.identity(); had[id] > 0 {
				had[id]--
				f.action = Warn
			}
		}
	}
	return nil
}

// capPerRule keeps at most MaxViolationsPerRule findings of one rule per action and adds,
// after each rule's findings, one per action counting the rest at the last one's field.
func capPerRule(found []finding) []finding {
	out := found[:0:0]
	for start := 0; start < len(found); {
		end := start
		for end < len(found) && found[end].rule == found[start].rule {
			end++
		}
		var kept, more [2]int // by capOrder
		var last [2]*field.Error
		for _, f := range found[start:end] {
			i := slices.Index(capOrder, f.action)
			if kept[i] == MaxViolationsPerRule {
				more[i], last[i] = more[i]+1, f.err
				continue
			}
			kept[i]++
			out = append(out, f)
		}
		for i, a := range capOrder {
			if more[i] > 0 {
				r := found[start].rule
				out = append(out, finding{rule: r, action: a, err: &field.Error{
					Type: last[i].Type, Field: last[i].Field, BadValue: field.OmitValueType{},
					Detail: fmt.Sprintf("and %d more violations of this rule, the last one here", more[i]),
				}})
			}
		}
		start = end
	}
	return out
}

// capOrder is the order of a rule's summaries: denials, then warnings.
var capOrder = []Action{Deny, Warn}

// render turns findings into violations whose messages end with the rule name.
func render(found []finding) []Violation {
	if len(found) == 0 {
		return nil
	}
	out := make([]Violation, len(found))
	for i, f := range found {
		f.err.Detail += " (" + f.rule.Name + ")"
		out[i] = Violation{Rule: f.rule.Name, Action: f.action, Error: f.err}
	}
	return out
}

var listIndex = regexp.MustCompile(`\[[0-9]+\]`)
