package validators

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

// CELValidation is one validation of a ValidatingAdmissionPolicy: the request is refused
// (or warned about) when Expression is false, with the message MessageExpression builds,
// "<field path>: <message> (<rule>)" like the webhook's.
type CELValidation struct {
	Expression        string
	MessageExpression string
}

// CEL returns the validations that run the rule inside the API server for objects of kind
// k, and false when the rule runs only in the webhook (WebhookOnly says why). They read the
// installation from the policy's parameter, a ConfigMap whose data PolicyParams writes, so
// one policy serves every configuration.
//
// The validations of a rule set to deny ratchet as the engine does on UPDATE: they compare
// with oldObject and fail only when the update adds a violation the stored object did not
// have (same field path without list indexes, same offending value). A policy cannot warn
// from a Deny binding, so a violation the stored object already had is allowed silently
// where the webhook would warn. A rule set to warn warns about every violation, old or new,
// as the engine does.
func (r *Rule) CEL(k kinds.Kind) ([]CELValidation, bool) {
	// On workloads every rule reads the upstreams annotation, which only the webhook parses.
	if r.cel == nil || !r.AppliesTo(k) || slices.Contains(kinds.Workloads, k) {
		return nil, false
	}
	g := &celGen{rule: r.Name, ratchet: "(" + param(ParamRulePrefix+r.Name) + " == " + lit(string(Deny)) + ")"}
	r.cel(g, k)
	return g.out, true
}

// The keys of the policies' parameter: the installation the webhook's flags describe.
// ParamRulePrefix plus a rule's name holds its action, which its binding enforces too: a
// deny rule ratchets, a warn rule warns about every violation.
const (
	ParamPartition         = "partition" // LocalPartition
	ParamPartitionsEnabled = "partitionsEnabled"
	ParamNamespacesEnabled = "namespacesEnabled"
	ParamEdition           = "edition"
	ParamConsulVersion     = "consulVersion" // "" when not configured
	// ParamPolicyMaxListItems is the longest list the policies evaluate (PolicyBound).
	ParamPolicyMaxListItems = "policyMaxListItems"
	ParamRulePrefix         = "rule."
)

// PolicyParams is the data of the policies' parameter for cfg: the settings ParamPartition
// and the others name, and the action of every rule a policy enforces.
func PolicyParams(cfg Config) map[string]string {
	data := map[string]string{
		ParamPartition:          cfg.LocalPartition(),
		ParamPartitionsEnabled:  strconv.FormatBool(cfg.PartitionsEnabled),
		ParamNamespacesEnabled:  strconv.FormatBool(cfg.NamespacesEnabled),
		ParamEdition:            string(cfg.Edition),
		ParamConsulVersion:      "",
		ParamPolicyMaxListItems: strconv.Itoa(cfg.policyMaxListItems()),
	}
	if cfg.ConsulVersion != nil {
		data[ParamConsulVersion] = cfg.ConsulVersion.String()
	}
	for _, r := range catalogue {
		if r.cel != nil {
			data[ParamRulePrefix+r.Name] = string(cfg.ActionFor(r))
		}
	}
	return data
}

// param is the value of a key of the policies' parameter.
func param(key string) string { return "params.data[" + lit(key) + "]" }

// celFormat is the CEL string expression of fmt.Sprintf(format, args...) for a format whose
// verbs are %s and %q, with args CEL string expressions: one message constant serves the Go
// check and its CEL. %q quotes as Go does the names and versions it is given, which need no
// escaping.
func celFormat(format string, args ...string) string {
	verbs := celVerb.FindAllString(format, -1)
	var parts []string
	for i, piece := range celVerb.Split(format, -1) {
		if piece != "" {
			parts = append(parts, lit(piece))
		}
		if i < len(verbs) && i < len(args) {
			arg := args[i]
			if verbs[i] == "%q" {
				arg = celQuoted(arg)
			}
			parts = append(parts, arg)
		}
	}
	if len(parts) == 0 {
		return lit("")
	}
	return strings.Join(parts, " + ")
}

var celVerb = regexp.MustCompile(`%[sq]`)

// WebhookOnly says why an object-only rule has no CEL, "" when it has.
func (r *Rule) WebhookOnly() string { return r.webhookOnly }

// celGen collects the validations of one rule; its helpers write CEL that reads an object
// the way the Go check reads the typed one: an absent field is its zero value.
type celGen struct {
	rule string
	// ratchet is the CEL condition under which, on UPDATE, only violations the stored
	// object did not have count: the rule is set to deny.
	ratchet string
	// when, if not empty, is the CEL condition under which the installation lets the rule
	// find anything (namespaces off, a Consul version configured): its validations pass
	// without it.
	when string
	out  []CELValidation
}

// only adds the validations of add under the CEL condition cond on the installation.
func (g *celGen) only(cond string, add func()) {
	g.when = cond
	add()
	g.when = ""
}

const (
	celNew = "object"
	celOld = "oldObject"
)

// lit is s as a CEL string literal.
func lit(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// at is the value under root at path, or def when a step is absent (or oldObject is null).
func at(root, def string, path ...string) string {
	cond, value := presence(root, path)
	return "(" + cond + " ? " + value + " : " + def + ")"
}

// present says whether root has a value at path (false when oldObject is null).
func present(root string, path ...string) string {
	cond, _ := presence(root, path)
	return "(" + cond + ")"
}

// presence is the condition that every step of path exists under root, and the expression of
// the value it leads to.
func presence(root string, path []string) (cond, value string) {
	var steps []string
	if root == celOld {
		steps = append(steps, "oldObject != null")
	}
	value = root
	for _, p := range path {
		steps = append(steps, "has("+value+"."+p+")")
		value += "." + p
	}
	return strings.Join(steps, " && "), value
}

// str is the string field f of x, "" when absent.
func str(x string, path ...string) string { return at(x, "''", path...) }

// message builds "<path>: <detail> (<rule>)"; path and detail are CEL string expressions.
func (g *celGen) message(path, detail string) string {
	return path + " + ': ' + " + detail + " + ' (" + g.rule + ")'"
}

func (g *celGen) add(expr, msg string) {
	if g.when != "" {
		expr = "!(" + g.when + ") || (" + expr + ")"
	}
	g.out = append(g.out, CELValidation{Expression: expr, MessageExpression: msg})
}

// scalar is a violation at one fixed path: bad(root) says whether root has it, key(root)
// is its ratchet key (the offending value), nil when the path alone identifies it.
func (g *celGen) scalar(path string, bad func(root string) string, key func(root string) string, detail string) {
	oldHas := "(" + g.ratchet + " && oldObject != null && " + bad(celOld) + ")"
	if key != nil {
		oldHas = "(" + g.ratchet + " && oldObject != null && " + bad(celOld) + " && " + key(celOld) + " == " + key(celNew) + ")"
	}
	g.add("!("+bad(celNew)+") || "+oldHas, g.message(lit(path), detail))
}

// listSite is a violation an element of a list can have.
type listSite struct {
	list   func(root string) string // the list under root, [] when absent
	prefix string                   // field path of the list
	suffix string                   // field path after the index ("" for the element itself)
	bad    func(x string) string    // whether element x has the violation
	key    func(x string) string    // ratchet key of x's violation (its value), nil when constant
	detail func(x string) string    // the message about x
	// ratchet is the generator's: only violations beyond the stored object's count.
	ratchet string
}

// countOf is the number of elements of the list under root that have the violation, with
// key k when not empty.
func (s listSite) countOf(root, k string) string {
	cond := s.bad("y")
	if k != "" {
		cond += " && " + s.key("y") + " == " + k
	}
	return s.list(root) + ".filter(y, " + cond + ").size()"
}

// isNew says whether element x's violation is one more than the stored object had.
func (s listSite) isNew(x string) string {
	if s.key == nil {
		return s.bad(x)
	}
	return s.bad(x) + " && (!" + s.ratchet + " || " + s.countOf(celNew, s.key(x)) + " > " + s.countOf(celOld, s.key(x)) + ")"
}

// list adds a validation over a list: it fails when the object has more violations (with
// one key) than the stored one, as the engine's ratchet counts them.
func (g *celGen) list(s listSite) {
	s.ratchet = g.ratchet
	expr := "!" + s.list(celNew) + ".exists(x, " + s.isNew("x") + ")"
	if s.key == nil {
		expr = "(" + g.ratchet + " ? " + s.countOf(celNew, "") + " <= " + s.countOf(celOld, "") + " : " + expr + ")"
	}
	i := s.list(celNew) + ".map(x, " + s.isNew("x") + ").indexOf(true)"
	first := s.list(celNew) + "[" + i + "]"
	path := lit(s.prefix+"[") + " + string(" + i + ") + " + lit("]"+s.suffix)
	g.add(expr, g.message(path, s.detail(first)))
}

// nestedSite is a violation an element of an inner list (consumers of services) can have.
type nestedSite struct {
	outer       func(root string) string
	inner       func(o string) string
	outerPrefix string // spec.services
	innerField  string // consumers
	suffix      string
	bad         func(o, x string) string
	key         func(o, x string) string
	detail      func(o, x string) string
	ratchet     string
}

func (s nestedSite) countOf(root, k string) string {
	cond := s.bad("o2", "y")
	if k != "" {
		cond += " && " + s.key("o2", "y") + " == " + k
	}
	return "([0] + " + s.outer(root) + ".map(o2, " + s.inner("o2") + ".filter(y, " + cond + ").size())).sum()"
}

func (s nestedSite) isNew(o, x string) string {
	if s.key == nil {
		return s.bad(o, x)
	}
	return s.bad(o, x) + " && (!" + s.ratchet + " || " + s.countOf(celNew, s.key(o, x)) + " > " + s.countOf(celOld, s.key(o, x)) + ")"
}

func (g *celGen) nested(s nestedSite) {
	s.ratchet = g.ratchet
	expr := "!" + s.outer(celNew) + ".exists(o, " + s.inner("o") + ".exists(x, " + s.isNew("o", "x") + "))"
	if s.key == nil {
		expr = "(" + g.ratchet + " ? " + s.countOf(celNew, "") + " <= " + s.countOf(celOld, "") + " : " + expr + ")"
	}
	// Positions are found as the first true of a list of booleans: CEL has no index
	// iteration, and comparing booleans is cheaper and surer than comparing objects.
	outerList := s.outer(celNew)
	i := outerList + ".map(o, " + s.inner("o") + ".exists(x, " + s.isNew("o", "x") + ")).indexOf(true)"
	o := outerList + "[" + i + "]"
	j := s.inner(o) + ".map(x2, " + s.isNew(o, "x2") + ").indexOf(true)"
	x := s.inner(o) + "[" + j + "]"
	path := lit(s.outerPrefix+"[") + " + string(" + i + ") + " +
		lit("]."+s.innerField+"[") + " + string(" + j + ") + " + lit("]"+s.suffix)
	g.add(expr, g.message(path, s.detail(o, x)))
}

// ---- Object shapes ---------------------------------------------------------------------

func celOverrides(root string) string { return at(root, "[]", "spec", "upstreamConfig", "overrides") }
func celServices(root string) string  { return at(root, "[]", "spec", "services") }
func celConsumers(svc string) string  { return at(svc, "[]", "consumers") }
func celMode(x string) string         { return str(x, "meshGateway", "mode") }
func celName(root string) string      { return root + ".metadata.name" }

// celPeerNameRE is ValidPeerName as an RE2 expression (ASCII letters, digits, inner dashes).
const celPeerNameRE = `^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`

func celInvalidPeer(v string) string { return "!" + v + ".matches(" + lit(celPeerNameRE) + ")" }

// overrideSite is a listSite over the upstream overrides of a ServiceDefaults.
func overrideSite(suffix string, bad, key func(x string) string, detail func(x string) string) listSite {
	return listSite{list: celOverrides, prefix: overridesPath.String(), suffix: suffix, bad: bad, key: key, detail: detail}
}

// consumerSite is a nestedSite over the consumers of an ExportedServices.
func consumerSite(suffix string, bad, key func(svc, c string) string, detail func(svc, c string) string) nestedSite {
	return nestedSite{outer: celServices, inner: celConsumers, outerPrefix: servicesPath.String(), innerField: "consumers",
		suffix: suffix, bad: bad, key: key, detail: detail}
}

func constDetail(s string) func(string) string { return func(string) string { return lit(s) } }

func constDetail2(s string) func(string, string) string {
	return func(string, string) string { return lit(s) }
}

// nameOnCreate refuses a name on create only: a name never changes, so on update the stored
// object always had the same violation (a rule set to warn warns on update too).
func (g *celGen) nameOnCreate(ok func(name string) string, detail string) {
	g.add(ok(celName(celNew))+" || ("+g.ratchet+" && oldObject != null)", g.message(lit(namePath.String()), detail))
}

func celQuoted(v string) string { return "'\"' + " + v + " + '\"'" }

// celOff is the condition that a boolean setting of the installation is off.
func celOff(key string) string { return param(key) + " != 'true'" }

// celCE is the condition that the installation runs Consul CE.
var celCE = param(ParamEdition) + " == " + lit(string(EditionCE))
