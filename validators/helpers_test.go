package validators_test

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// testNamespace is where the builders put objects unless a test says otherwise.
const testNamespace = "consul"

// ---- Object builders -------------------------------------------------------------------

func objMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: testNamespace}
}

func pd(name, mode string) *v1alpha1.ProxyDefaults {
	return &v1alpha1.ProxyDefaults{ObjectMeta: objMeta(name),
		Spec: v1alpha1.ProxyDefaultsSpec{MeshGateway: v1alpha1.MeshGateway{Mode: mode}}}
}

func mesh(name string, peerThroughMeshGateways bool) *v1alpha1.Mesh {
	m := &v1alpha1.Mesh{ObjectMeta: objMeta(name)}
	if peerThroughMeshGateways {
		m.Spec.Peering = &v1alpha1.PeeringMeshConfig{PeerThroughMeshGateways: true}
	}
	return m
}

// sd is a ServiceDefaults for the downstream service name; with overrides it has an
// upstreamConfig (sd("web", nil) has one nil override).
func sd(name string, overrides ...*v1alpha1.Upstream) *v1alpha1.ServiceDefaults {
	s := &v1alpha1.ServiceDefaults{ObjectMeta: objMeta(name)}
	if overrides != nil {
		s.Spec.UpstreamConfig = &v1alpha1.Upstreams{Overrides: overrides}
	}
	return s
}

// sdMode is sd with spec.meshGateway.mode set.
func sdMode(mode string, overrides ...*v1alpha1.Upstream) *v1alpha1.ServiceDefaults {
	s := sd("web", overrides...)
	s.Spec.MeshGateway.Mode = mode
	return s
}

// sdDefaults is sd("web") with upstreamConfig.defaults and optional overrides.
func sdDefaults(defaults *v1alpha1.Upstream, overrides ...*v1alpha1.Upstream) *v1alpha1.ServiceDefaults {
	s := sd("web")
	s.Spec.UpstreamConfig = &v1alpha1.Upstreams{Defaults: defaults, Overrides: overrides}
	return s
}

// up is an upstream override of service name, in peer when peer is not empty.
func up(name, peer string) *v1alpha1.Upstream {
	return &v1alpha1.Upstream{Name: name, Peer: peer}
}

// upMode is up with meshGateway.mode set.
func upMode(name, peer, mode string) *v1alpha1.Upstream {
	u := up(name, peer)
	u.MeshGateway.Mode = mode
	return u
}

func es(name string, services ...v1alpha1.ExportedService) *v1alpha1.ExportedServices {
	return &v1alpha1.ExportedServices{ObjectMeta: objMeta(name),
		Spec: v1alpha1.ExportedServicesSpec{Services: services}}
}

func svc(name string, consumers ...v1alpha1.ServiceConsumer) v1alpha1.ExportedService {
	return v1alpha1.ExportedService{Name: name, Consumers: consumers}
}

// inNS sets the Consul namespace of an exported service.
func inNS(ns string, s v1alpha1.ExportedService) v1alpha1.ExportedService {
	s.Namespace = ns
	return s
}

func toPeer(p string) v1alpha1.ServiceConsumer      { return v1alpha1.ServiceConsumer{Peer: p} }
func toPartition(p string) v1alpha1.ServiceConsumer { return v1alpha1.ServiceConsumer{Partition: p} }
func toSameness(g string) v1alpha1.ServiceConsumer  { return v1alpha1.ServiceConsumer{SamenessGroup: g} }

func k8sSecret() *v1alpha1.Secret {
	return &v1alpha1.Secret{Name: "peering-token", Key: "data", Backend: "kubernetes"}
}

func acceptor(name string, secret *v1alpha1.Secret) *v1alpha1.PeeringAcceptor {
	return &v1alpha1.PeeringAcceptor{ObjectMeta: objMeta(name),
		Spec: v1alpha1.PeeringSpec{Peer: &v1alpha1.Peer{Secret: secret}}}
}

func dialer(name string, secret *v1alpha1.Secret) *v1alpha1.PeeringDialer {
	return &v1alpha1.PeeringDialer{ObjectMeta: objMeta(name),
		Spec: v1alpha1.PeeringSpec{Peer: &v1alpha1.Peer{Secret: secret}}}
}

// inNamespace moves an object to another Kubernetes namespace.
func inNamespace[T metav1.Object](ns string, obj T) T {
	obj.SetNamespace(ns)
	return obj
}

// ---- Configurations --------------------------------------------------------------------

func partitions(name string) validators.Config {
	return validators.Config{PartitionsEnabled: true, Partition: name}
}

func namespaces() validators.Config { return validators.Config{NamespacesEnabled: true} }

func consul(v string) validators.Config {
	ver, err := validators.ParseConsulVersion(v)
	if err != nil {
		panic(err)
	}
	return validators.Config{ConsulVersion: ver}
}

func withActions(cfg validators.Config, kv ...string) validators.Config {
	cfg.Actions = map[string]validators.Action{}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg.Actions[kv[i]] = validators.Action(kv[i+1])
	}
	return cfg
}

// ---- Cluster state ---------------------------------------------------------------------

var meshGateway = state.GatewayRef{Namespace: testNamespace, Name: "consul-mesh-gateway"}

// newIndex is the real state index holding objs, with a ready mesh gateway when gateway is set.
func newIndex(gateway bool, objs ...runtime.Object) *state.Index {
	idx := state.NewIndex()
	for _, o := range objs {
		idx.Upsert(o)
	}
	if gateway {
		idx.SetGateway(meshGateway, validators.GatewayReady)
	}
	return idx
}

// gatewayNotReady is a ruleCase setup: a mesh gateway Deployment that asks for replicas, none
// ready yet (applied in the same pass as the objects that need it).
func gatewayNotReady(x *state.Index) {
	x.SetGateway(state.GatewayRef{Namespace: testNamespace, Name: "mesh-gateway-rolling-out"}, validators.GatewayNotReady)
}

// deleting is a ruleCase setup that deletes objects from the index again.
func deleting(objs ...runtime.Object) func(*state.Index) {
	return func(x *state.Index) {
		for _, o := range objs {
			x.Delete(o)
		}
	}
}

// ---- Engine helpers --------------------------------------------------------------------

func mustEngine(t testing.TB, cfg validators.Config) *validators.Engine {
	t.Helper()
	e, err := validators.NewEngine(cfg)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

// hit is one expected violation of the rule a case is about.
type hit struct {
	field  string
	action validators.Action
}

func (h hit) String() string { return fmt.Sprintf("%s %s", h.action, h.field) }

func deny(field string) hit { return hit{field: field, action: validators.Deny} }
func warn(field string) hit { return hit{field: field, action: validators.Warn} }

// hitsOf returns the violations of one rule, in the order the engine reported them.
func hitsOf(res validators.Result, rule string) []hit {
	var out []hit
	for _, v := range res.Violations {
		if v.Rule == rule {
			out = append(out, hit{field: v.Error.Field, action: v.Action})
		}
	}
	return out
}

// ruleCase checks one rule against one object: want lists every violation of that rule
// (field path and action); an empty want is a passing case. Violations of other rules are
// ignored, so each case only builds what its rule needs.
type ruleCase struct {
	name    string
	rule    string
	cfg     validators.Config
	state   []runtime.Object // upserted into a fresh index
	gateway bool             // a mesh gateway with a ready replica runs
	setup   func(*state.Index)
	old     runtime.Object // set: the case is an UPDATE from old
	obj     runtime.Object
	want    []hit
}

// Rules the tables exercised, filled by runRuleCases and checked by TestMain.
var (
	failingCases = map[string]int{}
	passingCases = map[string]int{}
)

func runRuleCases(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			if validators.RuleByName(tc.rule) == nil {
				t.Fatalf("case names unknown rule %q", tc.rule)
			}
			idx := newIndex(tc.gateway, tc.state...)
			if tc.setup != nil {
				tc.setup(idx)
			}
			op := validators.Create
			if tc.old != nil {
				op = validators.Update
			}
			res, err := mustEngine(t, tc.cfg).Validate(op, tc.obj, tc.old, idx)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := hitsOf(res, tc.rule); !slices.Equal(got, tc.want) {
				t.Errorf("%s violations:\n got  %v\n want %v\nall: %s", tc.rule, got, tc.want, describe(res))
			}
			checkRendering(t, res)
			checkFullErrors(t, tc.rule, res)
			if err := recordVAPCase(tc, res); err != nil {
				t.Fatal(err)
			}
			if len(tc.want) > 0 {
				failingCases[tc.rule]++
			} else {
				passingCases[tc.rule]++
			}
		})
	}
}

// checkRendering holds for every violation the engine reports: the detail ends with the
// rule name, and the admission warning fits in MaxWarningLength, ends with it too, starts
// with the field path (or its end) and keeps the explanation whole.
func checkRendering(t testing.TB, res validators.Result) {
	t.Helper()
	for _, v := range res.Violations {
		suffix := "(" + v.Rule + ")"
		if !strings.HasSuffix(v.Error.Detail, " "+suffix) {
			t.Errorf("%s: detail %q does not end with %q", v.Error.Field, v.Error.Detail, suffix)
		}
		w := v.Warning()
		if len(w) > validators.MaxWarningLength || !strings.HasSuffix(w, " "+suffix) || !utf8.ValidString(w) {
			t.Errorf("warning of %d bytes, want at most %d, valid UTF-8, ending in %q: %q", len(w), validators.MaxWarningLength, suffix, w)
		}
		if !strings.HasPrefix(w, validators.WarningPath(v.Error.Field)+": ") && !strings.HasPrefix(w, "…") {
			t.Errorf("warning %q does not start with the field path %q", w, v.Error.Field)
		}
		if explanation := explanationOf(v.Error.Detail); len(explanation) < 150 && !strings.Contains(w, explanation) {
			t.Errorf("warning %q cuts the explanation %q", w, explanation)
		}
	}
}

// explanationOf is a detail without the quoted value it may start with.
func explanationOf(detail string) string {
	if q, err := strconv.QuotedPrefix(detail); err == nil {
		return detail[len(q):]
	}
	return detail
}

func describe(res validators.Result) string {
	var b strings.Builder
	for _, v := range res.Violations {
		fmt.Fprintf(&b, "\n  %s %s: %s", v.Action, v.Error.Field, v.Error.Detail)
	}
	return b.String()
}

// TestMain checks, after every test ran, that each rule of the catalogue has at least one
// failing and one passing table case. The check is skipped when -run or -skip selects tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == "" {
		var missing []string
		for _, r := range validators.Catalogue() {
			if failingCases[r.Name] == 0 {
				missing = append(missing, r.Name+" (no failing case)")
			}
			if passingCases[r.Name] == 0 {
				missing = append(missing, r.Name+" (no passing case)")
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: rule tables do not cover:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
		if err := checkVAPCases(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		}
		if err := writeRuleErrors(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// labelled returns obj with a label added, the commonest harmless update.
func labelled[T metav1.Object](obj T) T {
	obj.SetLabels(map[string]string{"team": "platform"})
	return obj
}

// finalized returns obj with consul-k8s's finalizer, which its controller adds.
func finalized[T metav1.Object](obj T) T {
	obj.SetFinalizers([]string{"finalizers.consul.hashicorp.com"})
	return obj
}
