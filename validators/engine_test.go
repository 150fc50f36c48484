package validators_test

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// specRules is the rule specification (shared/docs/peering-rules.md, sections 4, 6, 7 and 9):
// every rule and its default action.
var specRules = map[string]validators.Action{
	"gateway-mode-valid":                          validators.Deny,
	"gateway-mode-none-peer-upstream":             validators.Deny,
	"gateway-mode-none-with-peering":              validators.Deny,
	"gateway-mode-local-needs-gateway":            validators.Deny,
	"export-needs-mesh-gateway":                   validators.Deny,
	"partition-placement":                         validators.Deny,
	"peer-through-gateways-default-partition":     validators.Deny,
	"peer-through-gateways-needs-gateway":         validators.Deny,
	"upstream-name-required":                      validators.Deny,
	"upstream-defaults-no-destination":            validators.Deny,
	"upstream-peer-partition-exclusive":           validators.Deny,
	"upstream-namespace-needs-namespaces":         validators.Deny,
	"upstream-partition-needs-partitions":         validators.Deny,
	"upstream-annotation-syntax":                  validators.Deny,
	"upstream-annotation-unlabeled-peer":          validators.Deny,
	"upstream-peer-datacenter-exclusive":          validators.Deny,
	"upstream-annotation-duplicate":               validators.Deny,
	"upstream-namespace-default-redundant":        validators.Warn,
	"upstream-no-wildcard":                        validators.Deny,
	"upstream-duplicate":                          validators.Deny,
	"upstream-peer-name-syntax":                   validators.Deny,
	"upstream-peer-known":                         validators.Warn,
	"exported-services-singleton":                 validators.Deny,
	"exported-services-not-empty":                 validators.Deny,
	"exported-service-name-required":              validators.Deny,
	"consumer-exactly-one":                        validators.Deny,
	"consumer-no-wildcard":                        validators.Deny,
	"consumer-needs-enterprise":                   validators.Deny,
	"exported-service-namespace-needs-namespaces": validators.Deny,
	"consumer-peer-name-syntax":                   validators.Deny,
	"consumer-peer-known":                         validators.Warn,
	"export-consul-service":                       validators.Warn,
	"proxy-defaults-name":                         validators.Deny,
	"mesh-name":                                   validators.Deny,
	"singleton":                                   validators.Deny,
	"peer-name-syntax":                            validators.Deny,
	"peer-name-unique":                            validators.Deny,
	"peer-secret-valid":                           validators.Deny,
	"proxy-config-decodes":                        validators.Deny,
	"proxy-config-escape-hatch-json":              validators.Deny,
	"proxy-config-unknown-key":                    validators.Warn,
	"peer-reference-syntax":                       validators.Deny,
	"peer-reference-known":                        validators.Warn,
	"sameness-group-needs-enterprise":             validators.Deny,
	"sameness-group-known":                        validators.Warn,
	"peering-version-annotation":                  validators.Deny,
	"consul-version":                              validators.Deny,
	// Section 9: both sides of a peering.
	"peering-pair":        validators.Deny,
	"import-not-exported": validators.Deny,
	"import-no-gateway":   validators.Deny,
	"export-unused":       validators.Warn,
}

func TestCatalogueMatchesSpec(t *testing.T) {
	kebab := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	seen := map[string]bool{}
	for _, r := range validators.Catalogue() {
		if !kebab.MatchString(r.Name) {
			t.Errorf("rule name %q is not kebab-case", r.Name)
		}
		if seen[r.Name] {
			t.Errorf("rule %q listed twice", r.Name)
		}
		seen[r.Name] = true
		if validators.RuleByName(r.Name) != r {
			t.Errorf("RuleByName(%q) does not return the catalogue entry", r.Name)
		}
		want, ok := specRules[r.Name]
		if !ok {
			t.Errorf("rule %q is not in the specification", r.Name)
		} else if r.DefaultAction != want {
			t.Errorf("rule %q defaults to %s, the specification says %s", r.Name, r.DefaultAction, want)
		}
		if r.Family == "" || r.Description == "" || len(r.Kinds) == 0 {
			t.Errorf("rule %q lacks a family, description or kinds: %+v", r.Name, r)
		}
		for _, k := range r.Kinds {
			if !slices.Contains(kinds.Consul, k) && !slices.Contains(kinds.Workloads, k) {
				t.Errorf("rule %q: kind %q", r.Name, k)
			}
		}
	}
	for name := range specRules {
		if !seen[name] {
			t.Errorf("specification rule %q missing from the catalogue", name)
		}
	}
	if validators.RuleByName("no-such-rule") != nil {
		t.Error("RuleByName of an unknown name is not nil")
	}
}

// TestUpdateSemantics: on UPDATE a stateful rule denies only what the change introduces;
// a violation the old object already had becomes a warning. Other rules are unaffected.
func TestUpdateSemantics(t *testing.T) {
	peers := []runtime.Object{acceptor("dc2", k8sSecret())}
	denyPeerKnown := withActions(validators.Config{}, "upstream-peer-known", "deny", "consumer-peer-known", "deny")
	runRuleCases(t, []ruleCase{
		{name: "none kept while peering is in use", rule: "gateway-mode-none-with-peering",
			state: peers, old: pd("global", "none"), obj: pd("global", "none"),
			want: []hit{warn(specMode)}},
		{name: "none introduced while peering is in use", rule: "gateway-mode-none-with-peering",
			state: peers, old: pd("global", "remote"), obj: pd("global", "none"),
			want: []hit{deny(specMode)}},
		{name: "a second none added", rule: "gateway-mode-none-with-peering",
			state: peers, old: sdMode("none"),
			obj: func() *v1alpha1.ServiceDefaults {
				s := sdDefaults(&v1alpha1.Upstream{MeshGateway: v1alpha1.MeshGateway{Mode: "none"}})
				s.Spec.MeshGateway.Mode = "none"
				return s
			}(),
			want: []hit{warn(specMode), deny(defaultsMode)}},
		{name: "none fixed", rule: "gateway-mode-none-with-peering",
			state: peers, old: pd("global", "none"), obj: pd("global", "remote")},
		{name: "local kept without a gateway", rule: "gateway-mode-local-needs-gateway",
			old: pd("global", "local"), obj: pd("global", "local"),
			want: []hit{warn(specMode)}},
		{name: "moving a local peer override is not new", rule: "gateway-mode-local-needs-gateway",
			old:  sd("web", upMode("api", "dc2", "local")),
			obj:  sd("web", up("db", ""), upMode("api", "dc2", "local")),
			want: []hit{warn(override1 + ".meshGateway.mode")}},
		{name: "local introduced without a gateway", rule: "gateway-mode-local-needs-gateway",
			old:  sdMode("local"),
			obj:  sdMode("local", upMode("api", "dc2", "local")),
			want: []hit{warn(specMode), deny(override0 + ".meshGateway.mode")}},
		{name: "export kept, another added, without a gateway", rule: "export-needs-mesh-gateway",
			old:  es("default", svc("api", toPeer("dc2"))),
			obj:  es("default", svc("api", toPeer("dc2")), svc("db", toPeer("dc2"))),
			want: []hit{warn(consumer00 + ".peer"), deny("spec.services[1].consumers[0].peer")}},
		{name: "first peer export without a gateway", rule: "export-needs-mesh-gateway",
			cfg:  partitions("default"),
			old:  es("default", svc("api", toPartition("ap2"))),
			obj:  es("default", svc("api", toPartition("ap2"), toPeer("dc2"))),
			want: []hit{deny(consumer01 + ".peer")}},
		{name: "peerThroughMeshGateways kept without a gateway", rule: "peer-through-gateways-needs-gateway",
			old: mesh("mesh", true), obj: mesh("mesh", true),
			want: []hit{warn(peerThroughGW)}},
		{name: "peerThroughMeshGateways turned on without a gateway", rule: "peer-through-gateways-needs-gateway",
			old: mesh("mesh", false), obj: mesh("mesh", true),
			want: []hit{deny(peerThroughGW)}},
		{name: "duplicate peer name kept", rule: "peer-name-unique",
			state: []runtime.Object{acceptor("dc2", k8sSecret()), inNamespace("other", dialer("dc2", k8sSecret()))},
			old:   acceptor("dc2", k8sSecret()),
			obj:   acceptor("dc2", &v1alpha1.Secret{Name: "t2", Key: "k", Backend: "kubernetes"}),
			want:  []hit{warn("metadata.name")}},
		{name: "unknown upstream peer kept, another added (set to deny)", rule: "upstream-peer-known",
			cfg: denyPeerKnown, old: sd("web", up("api", "dc3")),
			obj:  sd("web", up("db", "dc4"), up("api", "dc3")),
			want: []hit{deny(override0 + ".peer"), warn(override1 + ".peer")}},
		{name: "unknown consumer peer kept (set to deny)", rule: "consumer-peer-known",
			cfg: denyPeerKnown, state: peers, gateway: true,
			old:  es("default", svc("api", toPeer("dc3"))),
			obj:  es("default", svc("api", toPeer("dc3"), toPeer("dc2"))),
			want: []hit{warn(consumer00 + ".peer")}},
		{name: "unknown upstream peer at default warn stays warn", rule: "upstream-peer-known",
			old: sd("web", up("api", "dc3")), obj: sd("web", up("db", "dc4")),
			want: []hit{warn(override0 + ".peer")}},

		// Object-only rules ratchet too: what the stored object already had warns.
		{name: "invalid mode kept", rule: "gateway-mode-valid",
			old: pd("global", "bogus"), obj: pd("global", "bogus"),
			want: []hit{warn(specMode)}},
		{name: "invalid mode changed to another invalid one", rule: "gateway-mode-valid",
			old: pd("global", "bogus"), obj: pd("global", "Remote"),
			want: []hit{deny(specMode)}},
		{name: "invalid mode introduced", rule: "gateway-mode-valid",
			old: pd("global", "remote"), obj: pd("global", "bogus"),
			want: []hit{deny(specMode)}},
		{name: "duplicate override kept", rule: "upstream-duplicate",
			old: sd("web", up("api", ""), up("api", "")), obj: sd("web", up("api", ""), up("api", "")),
			want: []hit{warn(override1)}},
		{name: "a third copy added", rule: "upstream-duplicate",
			old:  sd("web", up("api", ""), up("api", "")),
			obj:  sd("web", up("api", ""), up("api", ""), up("api", "")),
			want: []hit{warn(override1), deny(override2)}},
		{name: "vault backend kept", rule: "peer-secret-valid",
			old:  dialer("dc2", &v1alpha1.Secret{Name: "t", Key: "k", Backend: "vault"}),
			obj:  dialer("dc2", &v1alpha1.Secret{Name: "t", Key: "k", Backend: "vault"}),
			want: []hit{warn(secretPath + ".backend")}},
		{name: "backend changed away from kubernetes", rule: "peer-secret-valid",
			old:  dialer("dc2", k8sSecret()),
			obj:  dialer("dc2", &v1alpha1.Secret{Name: "peering-token", Key: "data", Backend: "vault"}),
			want: []hit{deny(secretPath + ".backend")}},
		{name: "wrong Mesh name kept while labelled", rule: "mesh-name",
			old: mesh("cluster", false), obj: labelled(mesh("cluster", false)),
			want: []hit{warn("metadata.name")}},
		{name: "ExportedServices in another partition given a finalizer", rule: "partition-placement",
			old: es("ap1", svc("api", toPeer("dc2"))), obj: finalized(es("ap1", svc("api", toPeer("dc2")))),
			want: []hit{warn("metadata.name")}},
		{name: "wrong ProxyDefaults name kept", rule: "proxy-defaults-name",
			old: pd("default", ""), obj: pd("default", "remote"),
			want: []hit{warn("metadata.name")}},
		{name: "undecodable proxy config kept", rule: "proxy-config-decodes",
			old: pdConfig(`{"local_connect_timeout_ms":"5s"}`), obj: labelled(pdConfig(`{"local_connect_timeout_ms":"5s"}`)),
			want: []hit{warn("spec.config.local_connect_timeout_ms")}},
		{name: "undecodable escape hatch replaced by another", rule: "proxy-config-escape-hatch-json",
			old:  pdConfig(`{"envoy_public_listener_json":"{"}`),
			obj:  pdConfig(`{"envoy_public_listener_json":"[1]"}`),
			want: []hit{deny("spec.config.envoy_public_listener_json")}},
		{name: "invalid peer name kept", rule: "peer-name-syntax",
			old: acceptor("dc2.west", k8sSecret()), obj: labelled(acceptor("dc2.west", k8sSecret())),
			want: []hit{warn("metadata.name")}},
	})
}

// An UPDATE without an old object is validated as a CREATE.
func TestUpdateWithoutOldIsCreate(t *testing.T) {
	idx := newIndex(false, inNamespace("other", pd("global", "")))
	res, err := mustEngine(t, validators.Config{}).Validate(validators.Update, pd("global", ""), nil, idx)
	if err != nil {
		t.Fatal(err)
	}
	if got := hitsOf(res, "singleton"); !slices.Equal(got, []hit{deny("metadata.name")}) {
		t.Errorf("singleton: got %v, want the CREATE denial", got)
	}
}

func TestRuleActions(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "set to warn", rule: "gateway-mode-valid",
			cfg: withActions(validators.Config{}, "gateway-mode-valid", "warn"), obj: pd("global", "bogus"),
			want: []hit{warn(specMode)}},
		{name: "set to off", rule: "gateway-mode-valid",
			cfg: withActions(validators.Config{}, "gateway-mode-valid", "off"), obj: pd("global", "bogus")},
		{name: "warn rule set to deny", rule: "upstream-namespace-default-redundant",
			cfg:  withActions(namespaces(), "upstream-namespace-default-redundant", "deny"),
			obj:  sd("web", &v1alpha1.Upstream{Name: "api", Namespace: "default", Peer: "dc2"}),
			want: []hit{deny(override0 + ".namespace")}},
		{name: "stateful rule set to warn on update", rule: "gateway-mode-local-needs-gateway",
			cfg: withActions(validators.Config{}, "gateway-mode-local-needs-gateway", "warn"),
			old: pd("global", "remote"), obj: pd("global", "local"),
			want: []hit{warn(specMode)}},
		{name: "stateful rule set to off", rule: "peer-name-unique",
			cfg:   withActions(validators.Config{}, "peer-name-unique", "off"),
			state: []runtime.Object{inNamespace("other", acceptor("dc2", k8sSecret()))},
			obj:   dialer("dc2", k8sSecret())},
		{name: "other rules keep their default", rule: "proxy-defaults-name",
			cfg: withActions(validators.Config{}, "gateway-mode-valid", "off"), obj: pd("default", "bogus"),
			want: []hit{deny("metadata.name")}},
	})
}

func TestResult(t *testing.T) {
	// Wrong partition name (deny), consul exported (warn), unknown peer (warn), no gateway (deny).
	obj := es("ap1", svc("consul", toPeer("dc2")))
	idx := newIndex(false)

	res, err := mustEngine(t, validators.Config{}).Validate(validators.Create, obj, nil, idx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != kinds.ExportedServices {
		t.Errorf("Kind = %s", res.Kind)
	}
	if res.Allowed() {
		t.Error("Allowed with deny violations")
	}
	var denied []string
	for _, fe := range res.Denials() {
		denied = append(denied, fe.Field)
	}
	if want := []string{consumer00 + ".peer", "metadata.name"}; !slices.Equal(denied, want) {
		t.Errorf("Denials fields = %v, want %v", denied, want)
	}
	warnings := res.Warnings()
	var wantWarnings []string
	for _, v := range res.Violations {
		if v.Action == validators.Warn {
			wantWarnings = append(wantWarnings, v.Warning())
		}
	}
	if len(warnings) != 2 || !slices.Equal(warnings, wantWarnings) {
		t.Errorf("Warnings = %q, want the two warn violations %q", warnings, wantWarnings)
	}
	for _, w := range warnings {
		if !strings.HasSuffix(w, "(consumer-peer-known)") && !strings.HasSuffix(w, "(export-consul-service)") {
			t.Errorf("warning %q does not end with its rule", w)
		}
	}
	checkRendering(t, res)

	// The same object with both denying rules turned to warnings is allowed.
	cfg := withActions(validators.Config{}, "partition-placement", "warn", "export-needs-mesh-gateway", "warn")
	res, err = mustEngine(t, cfg).Validate(validators.Create, obj, nil, idx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Allowed() || len(res.Denials()) != 0 || len(res.Warnings()) != 4 {
		t.Errorf("all warn: Allowed=%v Denials=%v Warnings=%q", res.Allowed(), res.Denials(), res.Warnings())
	}

	// And a valid object has no violations at all.
	res, err = mustEngine(t, validators.Config{}).Validate(validators.Create,
		es("default", svc("api", toPeer("dc2"))), nil, newIndex(true, acceptor("dc2", k8sSecret())))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Allowed() || res.Denials() != nil || res.Warnings() != nil || len(res.Violations) != 0 {
		t.Errorf("valid object: %s", describe(res))
	}
}

func TestNewEngineConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     validators.Config
		wantErr bool
	}{
		{name: "defaults", cfg: validators.Config{}},
		{name: "every action", cfg: withActions(validators.Config{}, "singleton", "off", "mesh-name", "warn", "upstream-peer-known", "deny")},
		{name: "partition default without partitions", cfg: validators.Config{Partition: "default"}},
		{name: "partition with partitions", cfg: partitions("ap1")},
		{name: "unknown rule", cfg: withActions(validators.Config{}, "gateway-mode-vaild", "warn"), wantErr: true},
		{name: "unknown rule among known ones", cfg: withActions(validators.Config{}, "singleton", "off", "no-such-rule", "off"), wantErr: true},
		{name: "partition without partitions", cfg: validators.Config{Partition: "ap1"}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := validators.NewEngine(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewEngine: err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && e.Config().LocalPartition() == "" {
				t.Error("empty local partition")
			}
		})
	}
}

// An action that is not deny, warn or off must be a configuration error. Today NewEngine
// accepts it, runs the rule and reports its violations with that action, which neither
// denies nor warns: the rule is silently disabled (see the report of the bug in config.go).
func TestNewEngineRejectsInvalidAction(t *testing.T) {
	for _, a := range []string{"", "Deny", "block", "warning"} {
		e, err := validators.NewEngine(withActions(validators.Config{}, "gateway-mode-valid", a))
		if err != nil {
			continue
		}
		t.Errorf("NewEngine accepted action %q for gateway-mode-valid", a)
		res, err := e.Validate(validators.Create, pd("global", "bogus"), nil, newIndex(false))
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed() && len(res.Warnings()) == 0 {
			t.Errorf("  and with it an invalid mode is neither denied nor warned about: %s", describe(res))
		}
	}
}

func TestLocalPartition(t *testing.T) {
	for _, tc := range []struct {
		cfg  validators.Config
		want string
	}{
		{validators.Config{}, "default"},
		{validators.Config{Partition: "ap1"}, "default"},
		{partitions(""), "default"},
		{partitions("ap1"), "ap1"},
	} {
		if got := tc.cfg.LocalPartition(); got != tc.want {
			t.Errorf("%+v: LocalPartition() = %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

func TestParseRuleSetting(t *testing.T) {
	for _, tc := range []struct {
		in         string
		wantName   string
		wantAction validators.Action
	}{
		{in: "singleton=off", wantName: "singleton", wantAction: validators.Off},
		{in: "upstream-peer-known=deny", wantName: "upstream-peer-known", wantAction: validators.Deny},
		{in: "mesh-name=warn", wantName: "mesh-name", wantAction: validators.Warn},
		{in: "singleton"},
		{in: "=off"},
		{in: "singleton="},
		{in: "singleton=Off"},
		{in: "no-such-rule=off"},
	} {
		name, action, err := validators.ParseRuleSetting(tc.in)
		if tc.wantName == "" {
			if err == nil {
				t.Errorf("ParseRuleSetting(%q) = %s, %s; want an error", tc.in, name, action)
			}
			continue
		}
		if err != nil || name != tc.wantName || action != tc.wantAction {
			t.Errorf("ParseRuleSetting(%q) = %s, %s, %v", tc.in, name, action, err)
		}
	}
}

func TestWarning(t *testing.T) {
	cases := []struct {
		name string
		v    validators.Violation
		want string
	}{
		{"message only", validators.Violation{Rule: "mesh-name", Action: validators.Warn,
			Error: &field.Error{Field: "metadata.name", BadValue: field.OmitValueType{}, Detail: "Mesh must be named \"mesh\" (mesh-name)"}},
			`metadata.name: Mesh must be named "mesh" (mesh-name)`},
		{"the value is named", validators.Violation{Rule: "upstream-peer-known", Action: validators.Warn,
			Error: &field.Error{Field: override0 + ".peer", BadValue: "cluster-09", Detail: "no PeeringAcceptor or PeeringDialer has this name (upstream-peer-known)"}},
			override0 + `.peer: "cluster-09": no PeeringAcceptor or PeeringDialer has this name (upstream-peer-known)`},
		{"a value the message quotes is not repeated", validators.Violation{Rule: "r", Action: validators.Warn,
			Error: &field.Error{Field: "spec.x", BadValue: "none", Detail: `mode "none" is wrong (r)`}},
			`spec.x: mode "none" is wrong (r)`},
		{"a long value is shortened, the explanation kept", validators.Violation{Rule: "upstream-peer-known", Action: validators.Warn,
			Error: &field.Error{Field: override0 + ".peer", BadValue: strings.Repeat("p", 300), Detail: "no PeeringAcceptor or PeeringDialer has this name (upstream-peer-known)"}},
			override0 + `.peer: "` + strings.Repeat("p", 63) + `…": no PeeringAcceptor or PeeringDialer has this name (upstream-peer-known)`},
	}
	for _, tc := range cases {
		if got := tc.v.Warning(); got != tc.want {
			t.Errorf("%s:\n got  %q\n want %q", tc.name, got, tc.want)
		}
	}

	// The annotation entry a message starts with is shortened before the explanation.
	explanation := `: no ready mesh gateway in partition "default"; mode local needs it; use remote (gateway-mode-local-needs-gateway)`
	entry := strconv.Quote(strings.Repeat("static-server.svc.server.peer:1234:mesh_gateway_mode=local", 4))
	long := validators.Violation{Rule: "gateway-mode-local-needs-gateway", Action: validators.Warn, Error: &field.Error{
		Field: "spec.jobTemplate.spec.template.metadata.annotations[" + validators.UpstreamsAnnotation + "]", BadValue: field.OmitValueType{},
		Detail: entry + explanation}}
	if w := long.Warning(); len(w) > validators.MaxWarningLength || !strings.HasSuffix(w, explanation) || !strings.HasPrefix(w, "spec.jobTemplate") {
		t.Errorf("warning of %d bytes: %q", len(w), w)
	}
	// A long path is shortened from its start.
	deep := validators.Violation{Rule: "r", Action: validators.Warn, Error: &field.Error{
		Field: strings.Repeat("spec.very.deep.path.", 12) + "peer", BadValue: "x", Detail: strings.Repeat("why ", 30) + "(r)"}}
	if w := deep.Warning(); len(w) > validators.MaxWarningLength || !strings.HasPrefix(w, "…") || !strings.HasSuffix(w, strings.Repeat("why ", 30)+"(r)") {
		t.Errorf("warning of %d bytes: %q", len(w), w)
	}

	// Only an explanation that alone fills the warning is cut, on a rune boundary.
	for _, detail := range []string{
		strings.Repeat("x", 400),
		strings.Repeat("é", 200),      // two-byte runes
		strings.Repeat("ab€", 100),    // a three-byte rune at every third position
		"a" + strings.Repeat("😀", 80), // four-byte runes
	} {
		v := validators.Violation{Rule: "gateway-mode-none-peer-upstream", Action: validators.Warn,
			Error: &field.Error{Field: override0 + ".meshGateway.mode", Detail: detail + " (gateway-mode-none-peer-upstream)"}}
		w := v.Warning()
		if len(w) > validators.MaxWarningLength || !utf8.ValidString(w) ||
			!strings.HasSuffix(w, "… (gateway-mode-none-peer-upstream)") {
			t.Errorf("warning of %d bytes: %q", len(w), w)
		}
	}

	// A long user value in the message, through the engine.
	peer := strings.Repeat("ü", 60)
	cfg := withActions(validators.Config{}, "gateway-mode-none-peer-upstream", "warn")
	res, err := mustEngine(t, cfg).Validate(validators.Create, sd("web", upMode("api", peer, "none")), nil, newIndex(true))
	if err != nil {
		t.Fatal(err)
	}
	if got := hitsOf(res, "gateway-mode-none-peer-upstream"); !slices.Equal(got, []hit{warn(override0 + ".meshGateway.mode")}) {
		t.Fatalf("got %v", got)
	}
	checkRendering(t, res)
}

// nilOverrides are ServiceDefaults whose upstreamConfig has null entries, as JSON
// `overrides: [null]` decodes.
var nilOverrides = []*v1alpha1.ServiceDefaults{
	sd("web", nil),
	sd("web", nil, nil),
	sdMode("local", nil, upMode("api", "dc2", "none"), nil),
	sdDefaults(nil, nil),
	sdDefaults(&v1alpha1.Upstream{Name: "x", MeshGateway: v1alpha1.MeshGateway{Mode: "none"}}, nil, up("api", "DC2")),
	{ObjectMeta: objMeta("web"), Spec: v1alpha1.ServiceDefaultsSpec{UpstreamConfig: &v1alpha1.Upstreams{}}},
}

func TestNilOverridesNeverPanic(t *testing.T) {
	configs := []validators.Config{{}, namespaces(), partitions("ap1"), consul("1.13"), consul("1.17"),
		withActions(validators.Config{}, "upstream-peer-known", "deny", "upstream-name-required", "off")}
	states := [][]runtime.Object{nil, {acceptor("dc2", k8sSecret()), es("default", svc("api", toPeer("dc2")))}}
	for _, obj := range nilOverrides {
		for _, cfg := range configs {
			e := mustEngine(t, cfg)
			for _, st := range states {
				for _, gw := range []bool{false, true} {
					idx := newIndex(gw, st...)
					idx.Upsert(obj)
					for _, old := range []runtime.Object{nil, obj, sd("web"), nilOverrides[2]} {
						op := validators.Create
						if old != nil {
							op = validators.Update
						}
						res, err := e.Validate(op, obj, old, idx)
						if err != nil {
							t.Fatalf("Validate(%s): %v", op, err)
						}
						checkRendering(t, res)
					}
				}
			}
		}
	}
}

func TestValidateUnsupportedObject(t *testing.T) {
	if _, err := mustEngine(t, validators.Config{}).Validate(validators.Create, &v1alpha1.MeshList{}, nil, newIndex(false)); err == nil {
		t.Error("Validate of a MeshList succeeded")
	}
}

func TestWarningsAreCapped(t *testing.T) {
	var ups []*v1alpha1.Upstream
	for i := 0; i < 50; i++ {
		ups = append(ups, up(fmt.Sprintf("api-%d", i), fmt.Sprintf("unknown-%d", i)))
	}
	res, err := mustEngine(t, validators.Config{}).Validate(validators.Create, sd("web", ups...), nil, newIndex(true))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(hitsOf(res, "upstream-peer-known")); got != 50 {
		t.Fatalf("%d violations, want 50", got)
	}
	w := res.Warnings()
	if len(w) != validators.MaxWarnings {
		t.Fatalf("%d warnings, want %d", len(w), validators.MaxWarnings)
	}
	if !strings.HasPrefix(w[len(w)-1], "31 more warnings") {
		t.Errorf("last warning %q", w[len(w)-1])
	}
}

// An object being deleted must stay updatable so that consul-k8s can remove its finalizer.
func TestTerminatingObjectsAreNeverDenied(t *testing.T) {
	engine := mustEngine(t, validators.Config{})
	old := sd("web", upMode("api", "dc2", "none"))
	updated := old.DeepCopy()
	now := metav1.Now()
	updated.DeletionTimestamp = &now
	updated.Finalizers = nil
	res, err := engine.Validate(validators.Update, updated, old, newIndex(true))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Allowed() || len(hitsOf(res, "gateway-mode-none-peer-upstream")) != 1 ||
		hitsOf(res, "gateway-mode-none-peer-upstream")[0] != warn("spec.upstreamConfig.overrides[0].meshGateway.mode") {
		t.Fatalf("finalizer removal refused or violation lost: %s", describe(res))
	}
	// The same change on a live object, introducing the violation, is refused.
	res, _ = engine.Validate(validators.Update, old.DeepCopy(), sd("web", upMode("api", "dc2", "remote")), newIndex(true))
	if res.Allowed() {
		t.Fatal("a live object gaining a violation was allowed")
	}
}

// untouchable is a ClusterState that fails the test on any question: object-only rules must
// be answerable without the cluster (inside the API server, in a generated policy).
type untouchable struct{ t *testing.T }

func (u untouchable) fail(what string) {
	u.t.Helper()
	u.t.Errorf("an object-only rule asked the cluster: %s", what)
}
func (u untouchable) PeersNamed(string) []kinds.ObjectRef { u.fail("PeersNamed"); return nil }
func (u untouchable) HasPeer(string) bool                 { u.fail("HasPeer"); return false }
func (u untouchable) AnyPeer() bool                       { u.fail("AnyPeer"); return false }
func (u untouchable) ExportsToPeer() bool                 { u.fail("ExportsToPeer"); return false }
func (u untouchable) MeshGateway() validators.GatewayStatus {
	u.fail("MeshGateway")
	return validators.GatewayMissing
}
func (u untouchable) Existing(kinds.Kind) []kinds.ObjectRef { u.fail("Existing"); return nil }
func (u untouchable) ProxyDefaultsGatewayMode() string      { u.fail("ProxyDefaultsGatewayMode"); return "" }
func (u untouchable) Terminating(kinds.ObjectRef) bool      { u.fail("Terminating"); return false }
func (u untouchable) SamenessGroup(string) (bool, bool)     { u.fail("SamenessGroup"); return false, false }

func TestObjectOnlyRulesNeverReadState(t *testing.T) {
	cfg := validators.Config{Actions: map[string]validators.Action{}}
	objectOnly := 0
	for _, r := range validators.Catalogue() {
		if r.ReadsState() {
			cfg.Actions[r.Name] = validators.Off
		} else {
			objectOnly++
		}
	}
	if objectOnly == 0 {
		t.Fatal("no object-only rules")
	}
	engine := mustEngine(t, cfg)
	objs := []runtime.Object{
		pd("global", "local"), pd("other", "bogus"), mesh("cluster", true),
		sdMode("none", upMode("api", "dc2", "local"), up("api", "dc2"), &v1alpha1.Upstream{Name: "*", Namespace: "x", Partition: "p", Peer: "DC_2"}),
		es("ap1", svc("api", toPeer("dc2"), toPartition("ap2"), toSameness("*")), svc("", v1alpha1.ServiceConsumer{})),
		acceptor("dc2.west", nil), dialer("dc2", &v1alpha1.Secret{Backend: "vault"}),
	}
	for _, obj := range objs {
		for _, op := range []validators.Operation{validators.Create, validators.Update} {
			var old runtime.Object
			if op == validators.Update {
				old = obj
			}
			if _, err := engine.Validate(op, obj, old, untouchable{t}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// One rule reports at most MaxViolationsPerRule violations per action about one object, the
// rest counted in one more: a hostile object with thousands of mistakes gets a bounded answer.
func TestViolationsPerRuleAreBounded(t *testing.T) {
	var overrides []*v1alpha1.Upstream
	for i := 0; i < 251; i++ {
		overrides = append(overrides, up("api", ""))
	}
	res, err := mustEngine(t, validators.Config{}).Validate(validators.Create, sd("web", overrides...), nil, newIndex(true))
	if err != nil {
		t.Fatal(err)
	}
	hits := hitsOf(res, "upstream-duplicate")
	if len(hits) != validators.MaxViolationsPerRule+1 {
		t.Fatalf("%d violations, want %d", len(hits), validators.MaxViolationsPerRule+1)
	}
	last := res.Violations[len(res.Violations)-1]
	want := field.Error{Type: field.ErrorTypeDuplicate, Field: "spec.upstreamConfig.overrides[250]", BadValue: field.OmitValueType{},
		Detail: "and 150 more violations of this rule, the last one here (upstream-duplicate)"}
	if last.Rule != "upstream-duplicate" || last.Action != validators.Deny || *last.Error != want {
		t.Errorf("summary violation %s %s %+v, want %+v", last.Rule, last.Action, *last.Error, want)
	}
	checkRendering(t, res)
}
