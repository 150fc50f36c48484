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

// MaxWarningLength is the longest admission warning we emit, rule name included: kubectl
// prints a warning this long whole.
const MaxWarningLength = 256

// MaxWarnings is how many warnings one response carries; the last one says how many more
// there were, so an object with thousands of findings does not flood kubectl.
const MaxWarnings = 20

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
	for _, runes := range []int{64, 32, 16} {
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

// minPathRoom is the least of a field path a warning keeps: its last steps.
const minPathRoom = 32

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

// shortenPath keeps the end of a field path within room bytes, cut at a step and marked
// with "…".
func shortenPath(path string, room int) string {
	if len(path) <= room {
		return path
	}
	tail := path[len(path)-(room-len("…")):]
	if i := strings.IndexByte(tail, '.'); i >= 0 && i < len(tail)-1 {
		tail = tail[i:]
	}
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	return "…" + tail
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
	actions := make(map[string]Action, len(cfg.Actions))
	for name, a := range cfg.Actions {
		actions[name] = a
	}
	cfg.Actions = actions // the engine's own copy: later changes to the caller's map do not leak in
	enforced := make(map[string]bool, len(cfg.EnforcedByPolicies))
	for name, on := range cfg.EnforcedByPolicies {
		enforced[name] = on
	}
	cfg.EnforcedByPolicies = enforced
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
func (e *Engine) Config() Config {
	cfg := e.cfg
	cfg.Actions = make(map[string]Action, len(e.cfg.Actions))
	for k, v := range e.cfg.Actions {
		cfg.Actions[k] = v
	}
	return cfg
}

// Validate checks obj (and, on Update, what changed from old) against every active rule.
// It returns an error only for an object that is not of a validated kind or a rule that
// failed unexpectedly; violations are in the Result.
func (e *Engine) Validate(op Operation, obj, old runtime.Object, st ClusterState) (res Result, err error) {
	kind, ok := kinds.Of(obj)
	if !ok {
		return Result{}, fmt.Errorf("unsupported object type %T", obj)
	}
	res.Kind = kind
	in := &Input{ObjectInput: &ObjectInput{Operation: op, Object: obj, Old: old, Config: &e.cfg}, State: st}
	if op == Update && old == nil {
		in.Operation = Create
	}
	var stored *Input // the stored object under the same rules, built on the first denial of an update
	// An object being deleted is only updated to remove finalizers (consul-k8s removes its
	// own once Consul forgot the entry); refusing that would leave it Terminating forever.
	terminating := in.Operation == Update && metaOf(obj).GetDeletionTimestamp() != nil
	// The policies judge the rules they enforce on the Consul kinds, except on an object whose
	// lists are longer than they afford: they skip it, and it is judged here.
	byPolicies := len(e.cfg.EnforcedByPolicies) > 0 && !slices.Contains(kinds.Workloads, kind) && !e.cfg.BeyondPolicyBound(obj, old)
	var current *Rule
	defer func() {
		if p := recover(); p != nil {
			res, err = Result{Kind: kind}, fmt.Errorf("internal error in rule %s: %v", current.Name, p)
		}
	}()
	for _, r := range e.byKind[kind] {
		if byPolicies && e.cfg.EnforcedByPolicies[r.Name] {
			continue
		}
		current = r
		errs := r.run(in)
		if len(errs) == 0 {
			continue
		}
		action := e.cfg.ActionFor(r)
		// Ratchet as Kubernetes does for CRD validation: on update a violation the stored
		// object already had is a warning, so an object written before the webhook (or before
		// a rule changed) stays editable. Names never change, so name rules never block one.
		var preexisting map[string]int
		if in.Operation == Update && action == Deny {
			if stored == nil {
				stored = &Input{ObjectInput: &ObjectInput{Operation: Update, Object: old, Old: old, Config: &e.cfg}, State: st}
			}
			preexisting = violationKeys(r.run(stored))
		}
		var caps [2]actionCap // deny, warn
		for _, fe := range errs {
			a := action
			if _, ok := in.demoted[fe]; ok && a == Deny {
				a = Warn
			}
			if terminating && a == Deny {
				a = Warn
			} else if a == Deny && len(preexisting) > 0 {
				if k := violationKey(fe); preexisting[k] > 0 {
					preexisting[k]--
					a = Warn
				}
			}
			c := &caps[capIndex(a)]
			if c.kept == MaxViolationsPerRule {
				c.more, c.last = c.more+1, fe
				continue
			}
			c.kept++
			fe.Detail += " (" + r.Name + ")"
			res.Violations = append(res.Violations, Violation{Rule: r.Name, Action: a, Error: fe})
		}
		for _, a := range []Action{Deny, Warn} {
			if c := caps[capIndex(a)]; c.more > 0 {
				res.Violations = append(res.Violations, Violation{Rule: r.Name, Action: a, Error: &field.Error{
					Type: c.last.Type, Field: c.last.Field, BadValue: field.OmitValueType{},
					Detail: fmt.Sprintf("and %d more violations of this rule, the last one here (%s)", c.more, r.Name),
				}})
			}
		}
	}
	return res, nil
}

// actionCap counts one rule's violations of one action about one object: those kept, those
// past MaxViolationsPerRule and the last of those.
type actionCap struct {
	kept, more int
	last       *field.Error
}

func capIndex(a Action) int {
	if a == Deny {
		return 0
	}
	return 1
}

// MaxViolationsPerRule bounds what one rule reports about one object per action; the rest
// are counted in one more violation. An object with thousands of identical mistakes (a
// hostile one among them) then costs a bounded answer, online and offline.
const MaxViolationsPerRule = 100

// violationKey identifies a violation by its type, value, message and field path without
// list indexes, so that moving an override does not make an old violation look new while
// moving a value to another field, or replacing it by another bad one, does. The message
// counts because some rules leave a large value out of the error and describe it instead.
func violationKey(fe *field.Error) string {
	return string(fe.Type) + "\x00" + listIndex.ReplaceAllString(fe.Field, "[*]") + "\x00" + fmt.Sprint(fe.BadValue) +
		"\x00" + listIndex.ReplaceAllString(fe.Detail, "[*]")
}

var listIndex = regexp.MustCompile(`\[[0-9]+\]`)

func violationKeys(errs field.ErrorList) map[string]int {
	m := make(map[string]int, len(errs))
	for _, fe := range errs {
		m[violationKey(fe)]++
	}
	return m
}
