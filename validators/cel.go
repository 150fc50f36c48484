package validators

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"

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

// ---- The rules -------------------------------------------------------------------------

var supportedModesDetail = func() string {
	q := make([]string, len(supportedModes))
	for i, m := range supportedModes {
		q[i] = strconv.Quote(m)
	}
	return "supported values: " + strings.Join(q, ", ")
}()

func celModeInvalid(v string) string {
	return "!(" + v + " in ['', " + lit(modeLocal) + ", " + lit(modeRemote) + ", " + lit(modeNone) + "])"
}

func celGatewayModeValid(g *celGen, k kinds.Kind) {
	g.scalar(specModePath.String(), func(r string) string { return celModeInvalid(str(r, "spec", "meshGateway", "mode")) },
		func(r string) string { return str(r, "spec", "meshGateway", "mode") }, lit(supportedModesDetail))
	if k != kinds.ServiceDefaults {
		return
	}
	defaultsMode := func(r string) string { return str(r, "spec", "upstreamConfig", "defaults", "meshGateway", "mode") }
	g.scalar(defaultsModePath.String(), func(r string) string { return celModeInvalid(defaultsMode(r)) }, defaultsMode, lit(supportedModesDetail))
	g.list(overrideSite(".meshGateway.mode", func(x string) string { return celModeInvalid(celMode(x)) }, celMode,
		constDetail(supportedModesDetail)))
}

func celGatewayModeNonePeerUpstream(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".meshGateway.mode",
		func(x string) string { return str(x, "peer") + " != '' && " + celMode(x) + " == " + lit(modeNone) },
		func(x string) string { return str(x, "peer") },
		func(x string) string { return celFormat(msgGatewayModeNonePeer, str(x, "peer")) }))
}

func celPartitionPlacement(g *celGen, _ kinds.Kind) {
	want := param(ParamPartition)
	g.nameOnCreate(func(n string) string { return n + " == " + want }, celFormat(msgPartitionPlacement, want))
}

func celPeerThroughGatewaysDefaultPartition(g *celGen, _ kinds.Kind) {
	g.only(param(ParamPartition)+" != "+lit(DefaultPartition), func() {
		g.scalar(peerThroughPath.String(), func(r string) string { return at(r, "false", "spec", "peering", "peerThroughMeshGateways") }, nil,
			celFormat(msgPeerThroughDefaultPartition, param(ParamPartition)))
	})
}

// celOff is the condition that a boolean setting of the installation is off.
func celOff(key string) string { return param(key) + " != 'true'" }

func celUpstreamNameRequired(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".name", func(x string) string { return str(x, "name") + " == ''" }, nil,
		constDetail(msgUpstreamNameRequired)))
}

func celUpstreamDefaultsNoDestination(g *celGen, _ kinds.Kind) {
	for _, f := range []string{"name", "namespace", "partition", "peer"} {
		g.scalar(defaultsPath.Child(f).String(),
			func(r string) string { return str(r, "spec", "upstreamConfig", "defaults", f) + " != ''" }, nil,
			lit(msgDefaultsNoDestination))
	}
}

func celUpstreamPeerPartitionExclusive(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".partition", func(x string) string { return str(x, "peer") + " != '' && " + str(x, "partition") + " != ''" }, nil,
		constDetail(msgPeerPartitionExclusive)))
}

func celUpstreamNamespaceNeedsNamespaces(g *celGen, _ kinds.Kind) {
	g.only(celOff(ParamNamespacesEnabled), func() {
		g.list(overrideSite(".namespace", func(x string) string { return str(x, "namespace") + " != ''" }, nil,
			constDetail(msgNamespacesOff)))
	})
}

func celUpstreamPartitionNeedsPartitions(g *celGen, _ kinds.Kind) {
	g.only(celOff(ParamPartitionsEnabled), func() {
		g.list(overrideSite(".partition", func(x string) string { return str(x, "partition") + " != ''" }, nil,
			constDetail(msgPartitionsOffUpstream)))
	})
}

func celUpstreamNamespaceDefaultRedundant(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".namespace", func(x string) string { return str(x, "peer") + " != '' && " + str(x, "namespace") + " == 'default'" }, nil,
		constDetail(msgNamespaceDefaultRedundant)))
}

func celUpstreamNoWildcard(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".name", func(x string) string { return str(x, "name") + " == '*'" }, nil,
		constDetail(msgWildcardUpstreamName)))
	g.list(overrideSite(".namespace", func(x string) string { return str(x, "namespace") + " == '*'" }, nil,
		constDetail(msgWildcardUpstreamNamespace)))
}

func celUpstreamPeerNameSyntax(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".peer", func(x string) string { return str(x, "peer") + " != '' && " + celInvalidPeer(str(x, "peer")) },
		func(x string) string { return str(x, "peer") }, constDetail(peerNameHint)))
}

func celExportedServicesNotEmpty(g *celGen, _ kinds.Kind) {
	g.scalar(servicesPath.String(), func(r string) string { return "size(" + celServices(r) + ") == 0" }, nil,
		lit(msgNoServices))
	g.list(listSite{list: celServices, prefix: servicesPath.String(), suffix: ".consumers",
		bad: func(x string) string { return "size(" + celConsumers(x) + ") == 0" }, detail: constDetail(msgNoConsumers)})
}

func celExportedServiceNameRequired(g *celGen, _ kinds.Kind) {
	g.list(listSite{list: celServices, prefix: servicesPath.String(), suffix: ".name",
		bad: func(x string) string { return str(x, "name") + " == ''" }, detail: constDetail(msgServiceNameRequired)})
	g.list(listSite{list: celServices, prefix: servicesPath.String(), suffix: ".namespace",
		bad: func(x string) string {
			return str(x, "name") + " != '' && " + str(x, "name") + " != '*' && " + str(x, "namespace") + " == '*'"
		},
		detail: constDetail(msgNamespaceWildcardNeedsName)})
}

// celConsumerFields are the fields of a consumer, in the order of its Go struct.
var celConsumerFields = []string{"partition", "peer", "samenessGroup"}

// celConsumerValue is a consumer as a list of its fields: its ratchet key as a value.
func celConsumerValue(c string) string {
	parts := make([]string, len(celConsumerFields))
	for i, f := range celConsumerFields {
		parts[i] = str(c, f)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func celConsumerSet(c string) string {
	parts := make([]string, len(celConsumerFields))
	for i, f := range celConsumerFields {
		parts[i] = "(" + str(c, f) + " != '' ? 1 : 0)"
	}
	return "(" + strings.Join(parts, " + ") + ")"
}

func celConsumerExactlyOne(g *celGen, _ kinds.Kind) {
	g.nested(consumerSite("", func(_, c string) string { return celConsumerSet(c) + " == 0" }, nil,
		constDetail2(msgConsumerNone)))
	g.nested(consumerSite("", func(_, c string) string { return celConsumerSet(c) + " > 1" },
		func(_, c string) string { return celConsumerValue(c) }, constDetail2(msgConsumerSeveral)))
}

func celConsumerNoWildcard(g *celGen, _ kinds.Kind) {
	for _, f := range []struct{ field, what string }{
		{"peer", "peer"}, {"partition", "partition"}, {"samenessGroup", "sameness group"},
	} {
		g.nested(consumerSite("."+f.field, func(_, c string) string { return str(c, f.field) + " == '*'" }, nil,
			constDetail2(fmt.Sprintf(msgConsumerWildcard, f.what, f.what))))
	}
}

// celCE is the condition that the installation runs Consul CE.
var celCE = param(ParamEdition) + " == " + lit(string(EditionCE))

func celConsumerNeedsEnterprise(g *celGen, _ kinds.Kind) {
	g.only(celOff(ParamPartitionsEnabled), func() {
		g.nested(consumerSite(".partition", func(_, c string) string { return str(c, "partition") + " != ''" }, nil,
			constDetail2(msgPartitionsOffConsumer)))
	})
	g.only(celCE, func() {
		g.nested(consumerSite(".samenessGroup", func(_, c string) string { return str(c, "samenessGroup") + " != ''" }, nil,
			constDetail2(msgSamenessConsumerNeedsEnterprise)))
	})
}

func celExportedServiceNamespaceNeedsNamespaces(g *celGen, _ kinds.Kind) {
	g.only(celOff(ParamNamespacesEnabled), func() {
		g.list(listSite{list: celServices, prefix: servicesPath.String(), suffix: ".namespace",
			bad: func(x string) string { return str(x, "namespace") + " != ''" }, detail: constDetail(msgNamespacesOff)})
	})
}

func celConsumerPeerNameSyntax(g *celGen, _ kinds.Kind) {
	peer := func(_, c string) string { return str(c, "peer") }
	g.nested(consumerSite(".peer",
		func(_, c string) string {
			return str(c, "peer") + " != '' && " + str(c, "peer") + " != '*' && " + celInvalidPeer(str(c, "peer"))
		},
		peer, constDetail2(peerNameHint)))
}

func celExportConsulService(g *celGen, _ kinds.Kind) {
	g.nested(consumerSite("",
		func(s, c string) string {
			return str(s, "name") + " == 'consul' && (" + str(c, "peer") + " != '' || " + str(c, "samenessGroup") + " != '')"
		},
		func(_, c string) string { return celConsumerValue(c) },
		constDetail2(msgExportConsulService)))
}

func celProxyDefaultsName(g *celGen, _ kinds.Kind) {
	g.nameOnCreate(func(n string) string { return n + " == " + lit(ProxyDefaultsName) },
		lit(fmt.Sprintf(msgSingletonName, kinds.ProxyDefaults, ProxyDefaultsName)))
}

func celMeshName(g *celGen, _ kinds.Kind) {
	g.nameOnCreate(func(n string) string { return n + " == " + lit(MeshName) },
		lit(fmt.Sprintf(msgSingletonName, kinds.Mesh, MeshName)))
}

func celPeerNameSyntax(g *celGen, _ kinds.Kind) {
	g.nameOnCreate(func(n string) string { return "!(" + celInvalidPeer(n) + ")" },
		lit(msgPeerName))
}

func celPeerSecretValid(g *celGen, _ kinds.Kind) {
	hasPeer := func(r string) string { return present(r, "spec", "peer") }
	hasSecret := func(r string) string { return present(r, "spec", "peer", "secret") }
	secret := func(r, f string) string { return str(r, "spec", "peer", "secret", f) }
	g.scalar(specPath.Child("peer").String(), func(r string) string { return "!(" + hasPeer(r) + ")" }, nil,
		lit(msgPeerRequired))
	g.scalar(peerSecretPth.String(), func(r string) string { return hasPeer(r) + " && !" + hasSecret(r) }, nil,
		lit(msgPeerFieldsRequired))
	g.scalar(peerSecretPth.Child("name").String(), func(r string) string { return hasSecret(r) + " && " + secret(r, "name") + " == ''" }, nil,
		lit(msgSecretName))
	g.scalar(peerSecretPth.Child("key").String(), func(r string) string { return hasSecret(r) + " && " + secret(r, "key") + " == ''" }, nil,
		lit(msgSecretKey))
	// A backend other than kubernetes is new unless the stored object had the same one; a
	// stored kubernetes backend is locked in (the Go check's Forbidden).
	backend := func(r string) string { return secret(r, "backend") }
	g.scalar(peerSecretPth.Child("backend").String(),
		func(r string) string {
			return hasSecret(r) + " && " + backend(r) + " != " + lit(SecretBackendKubernetes)
		}, backend,
		"(oldObject != null && "+hasSecret(celOld)+" && "+backend(celOld)+" == "+lit(SecretBackendKubernetes)+
			" ? "+lit(fmt.Sprintf(msgSecretBackendLocked, SecretBackendKubernetes))+
			" : "+lit("supported values: "+strconv.Quote(SecretBackendKubernetes))+")")
}

func celPeerReferenceSyntax(g *celGen, k kinds.Kind) {
	peer := func(x string) string { return str(x, "peer") }
	invalid := func(x string) string { return peer(x) + " != '' && " + celInvalidPeer(peer(x)) }
	switch k {
	case kinds.ServiceResolver:
		redirect := func(r string) string { return str(r, "spec", "redirect", "peer") }
		g.scalar(specPath.Child("redirect", "peer").String(),
			func(r string) string { return redirect(r) + " != '' && " + celInvalidPeer(redirect(r)) }, redirect, lit(peerNameHint))
		// spec.failover is a map of subsets; its key stays in the ratchet's field path.
		failover := func(r string) string { return at(r, "{}", "spec", "failover") }
		targets := func(m, s string) string {
			return "(" + s + " in " + m + " && has(" + m + "[" + s + "].targets) ? " + m + "[" + s + "].targets : [])"
		}
		count := func(r, s, v string) string {
			return targets(failover(r), s) + ".filter(y, " + invalid("y") + " && " + peer("y") + " == " + v + ").size()"
		}
		isNew := func(s, t string) string {
			return invalid(t) + " && (!" + g.ratchet + " || " + count(celNew, s, peer(t)) + " > " + count(celOld, s, peer(t)) + ")"
		}
		m := failover(celNew)
		// The first subset in order, as the engine reports them: a map's iteration order
		// changes from one evaluation to the next.
		subset := m + ".filter(s, " + targets(m, "s") + ".exists(t, " + isNew("s", "t") + ")).min()"
		j := targets(m, subset) + ".map(t2, " + isNew(subset, "t2") + ").indexOf(true)"
		path := "'spec.failover[' + " + subset + " + '].targets[' + string(" + j + ") + '].peer'"
		g.add("!"+m+".exists(s, "+targets(m, "s")+".exists(t, "+isNew("s", "t")+"))", g.message(path, lit(peerNameHint)))
	case kinds.ServiceIntentions:
		g.list(listSite{list: func(r string) string { return at(r, "[]", "spec", "sources") }, prefix: "spec.sources", suffix: ".peer",
			bad: invalid, key: peer, detail: constDetail(peerNameHint)})
	case kinds.SamenessGroup:
		g.list(listSite{list: func(r string) string { return at(r, "[]", "spec", "members") }, prefix: "spec.members", suffix: ".peer",
			bad: invalid, key: peer, detail: constDetail(peerNameHint)})
	}
}

func celSamenessGroupNeedsEnterprise(g *celGen, _ kinds.Kind) {
	g.only(celCE, func() {
		g.nameOnCreate(func(string) string { return "false" }, lit(msgSamenessGroupNeedsEnterprise))
	})
}

// celBefore is the condition that a Consul version is configured and is older than since.
// The parameter holds it as ParseConsulVersion prints it (or as the chart's value without
// its v and +suffix): major and minor are its first two numbers.
func celBefore(since *version.Version) string {
	part := func(i int) string {
		return "int(" + param(ParamConsulVersion) + ".split('.')[" + strconv.Itoa(i) + "])"
	}
	major, minor := strconv.Itoa(int(since.Major())), strconv.Itoa(int(since.Minor()))
	return param(ParamConsulVersion) + " != '' && (" + part(0) + " < " + major + " || (" + part(0) + " == " + major +
		" && " + part(1) + " < " + minor + "))"
}

func celConsulVersion(g *celGen, k kinds.Kind) {
	detail := func(since *version.Version, feature string) string {
		return celFormat(msgConsulVersion, lit(feature), lit(since.String()), param(ParamConsulVersion))
	}
	switch k {
	case kinds.PeeringAcceptor, kinds.PeeringDialer:
		g.only(celBefore(peeringGASince), func() {
			g.nameOnCreate(func(string) string { return "false" }, detail(peeringGASince, featureClusterPeering))
		})
	case kinds.ServiceDefaults:
		g.only(celBefore(upstreamPeerSince), func() {
			g.list(overrideSite(".peer", func(x string) string { return str(x, "peer") + " != ''" }, nil,
				func(string) string { return detail(upstreamPeerSince, featureUpstreamPeer) }))
		})
	case kinds.ExportedServices:
		g.only(celBefore(peerConsumersSince), func() {
			g.nested(consumerSite(".peer", func(_, c string) string { return str(c, "peer") + " != ''" }, nil,
				func(string, string) string { return detail(peerConsumersSince, featurePeerConsumers) }))
		})
		g.only(celBefore(samenessConsumersSince), func() {
			g.nested(consumerSite(".samenessGroup", func(_, c string) string { return str(c, "samenessGroup") + " != ''" }, nil,
				func(string, string) string { return detail(samenessConsumersSince, featureSamenessConsumers) }))
		})
	}
}

// Why the remaining object-only rules run only in the webhook.
const (
	webhookOnlyAnnotation = "the upstreams annotation is one string in consul-k8s's own grammar (labels, named ports, " +
		"options), which the webhook parses as consul-k8s does; CEL has no parser for it"
	webhookOnlyDuplicate = "finding duplicates compares every override with every other (Kubernetes CEL has no sets " +
		"or sorting), even in a valid object: a ServiceDefaults with 200 overrides already exceeds the API server's " +
		"per-expression cost limit, and the policy would refuse what the webhook allows"
	webhookOnlyProxyConfig = "spec.config is schemaless and Consul decodes it weakly typed (numbers from strings, " +
		"aliases that shadow each other, JSON inside strings); Kubernetes CEL cannot parse JSON strings, and a second " +
		"decoder written in CEL would drift from the Go one"
)

func celPeeringVersionAnnotation(g *celGen, _ kinds.Kind) {
	ann := func(r string) string { return r + ".metadata.annotations[" + lit(PeeringVersionAnnotation) + "]" }
	has := func(r string) string {
		return present(r, "metadata", "annotations") + " && " + lit(PeeringVersionAnnotation) + " in " + r + ".metadata.annotations"
	}
	// strconv.ParseUint(v, 10, 64): digits only, at most 2^64-1 once leading zeros are gone.
	valid := func(r string) string {
		v := ann(r)
		return "(" + v + ".matches('^0*[0-9]{1,19}$') || (" + v + ".matches('^0*[0-9]{20}$') && " +
			v + ".substring(size(" + v + ") - 20) <= '18446744073709551615'))"
	}
	path := peeringVersionPath.String()
	g.scalar(path, func(r string) string { return has(r) + " && !" + valid(r) }, ann, lit(peeringVersionNotANumber))
	lowered := "oldObject != null && " + has(celOld) + " && " + valid(celOld) + " && " + has(celNew) + " && " + valid(celNew) +
		" && uint(" + ann(celNew) + ") < uint(" + ann(celOld) + ")"
	g.add("!("+lowered+")", g.message(lit(path), lit(peeringVersionLowered)+" + '\"' + "+ann(celOld)+" + '\"'"))
}
