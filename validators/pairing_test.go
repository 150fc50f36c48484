package validators_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// side is one cluster of a pair case.
type side struct {
	name    string
	cfg     validators.Config
	peers   map[string]string
	gateway validators.GatewayStatus
	tokens  map[kinds.ObjectRef]string
	objs    []runtime.Object
}

func clusterNamed(name string, objs ...runtime.Object) side {
	return side{name: name, gateway: validators.GatewayReady, objs: objs}
}

func (s side) with(f func(*side)) side {
	f(&s)
	return s
}

func (s side) view() *validators.ClusterView {
	cfg := s.cfg
	return validators.NewClusterView(validators.ClusterSource{Name: s.name, Config: &cfg, Peers: s.peers,
		Objects: s.objs, Gateway: s.gateway, Tokens: s.tokens})
}

func noGateway(s *side)      { s.gateway = validators.GatewayMissing }
func gatewayRolling(s *side) { s.gateway = validators.GatewayNotReady }
func peersMap(kv ...string) func(*side) {
	return func(s *side) {
		s.peers = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			s.peers[kv[i]] = kv[i+1]
		}
	}
}
func token(obj runtime.Object, digest string) func(*side) {
	return func(s *side) {
		ref, _ := kinds.RefOf(obj)
		if s.tokens == nil {
			s.tokens = map[kinds.ObjectRef]string{}
		}
		s.tokens[ref] = digest
	}
}
func config(cfg validators.Config) func(*side) { return func(s *side) { s.cfg = cfg } }

// pairHit is one expected finding of a pair rule: on which cluster's object, at which field.
type pairHit struct {
	cluster, peer, object, field string
	action                       validators.Action
}

func (h pairHit) String() string {
	return fmt.Sprintf("%s %s[%s->%s] %s", h.action, h.object, h.cluster, h.peer, h.field)
}

type pairCase struct {
	name     string
	rule     string
	clusters []side
	want     []pairHit
}

func runPairCases(t *testing.T, cases []pairCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			r := validators.RuleByName(tc.rule)
			if r == nil || !r.ReadsPair() {
				t.Fatalf("case names %q, not a pair rule", tc.rule)
			}
			views := make([]*validators.ClusterView, len(tc.clusters))
			for i, c := range tc.clusters {
				views[i] = c.view()
			}
			var got []pairHit
			var all []string
			for _, v := range validators.CheckPairs(views) {
				all = append(all, fmt.Sprintf("\n  %s %s: %s", v.Action, v.Error.Field, v.Error.Detail))
				if !strings.HasSuffix(v.Error.Detail, " ("+v.Rule+")") {
					t.Errorf("detail %q does not end with the rule name", v.Error.Detail)
				}
				if !strings.Contains(v.Error.Detail, `"`+v.Cluster+`"`) || !strings.Contains(v.Error.Detail, `"`+v.Peer+`"`) {
					t.Errorf("detail %q does not name both clusters %s and %s", v.Error.Detail, v.Cluster, v.Peer)
				}
				if v.Rule == tc.rule {
					got = append(got, pairHit{v.Cluster, v.Peer, v.Object.String(), v.Error.Field, v.Action})
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s findings:\n got  %v\n want %v\nall:%s", tc.rule, got, tc.want, strings.Join(all, ""))
			}
			if len(tc.want) > 0 {
				failingCases[tc.rule]++
			} else {
				passingCases[tc.rule]++
			}
		})
	}
}

// The two halves of the peering guide: cluster-01 accepts and exports backend, cluster-02
// dials and calls it.
var (
	acceptor02  = acceptor("cluster-02", k8sSecret())
	dialer01    = dialer("cluster-01", k8sSecret())
	exportsTo02 = es("default", svc("backend", toPeer("cluster-02")))
	frontend    = sd("frontend", up("backend", "cluster-01"))
)

const (
	frontendRef     = "ServiceDefaults consul/frontend"
	exportRef       = "ExportedServices consul/default"
	peerField       = "spec.upstreamConfig.overrides[0].peer"
	modeField0      = "spec.upstreamConfig.overrides[0].meshGateway.mode"
	exportPeerField = "spec.services[0].consumers[0].peer"
)

func on(cluster, peer, object, field string, a validators.Action) pairHit {
	return pairHit{cluster, peer, object, field, a}
}

func TestPeeringPair(t *testing.T) {
	acceptor01 := acceptor("cluster-01", k8sSecret())
	dialer02 := dialer("cluster-02", k8sSecret())
	east, west := acceptor("east", k8sSecret()), dialer("west", k8sSecret())
	runPairCases(t, []pairCase{
		{name: "acceptor meets dialer", rule: "peering-pair", clusters: []side{
			clusterNamed("cluster-01", acceptor02), clusterNamed("cluster-02", dialer01)}},
		{name: "peer names match case-insensitively", rule: "peering-pair", clusters: []side{
			clusterNamed("Cluster-01", acceptor02), clusterNamed("cluster-02", dialer01)}},
		{name: "names mapped in peers", rule: "peering-pair", clusters: []side{
			clusterNamed("cluster-01", east).with(peersMap("east", "cluster-02")),
			clusterNamed("cluster-02", west).with(peersMap("west", "cluster-01"))}},
		{name: "the same token pairs any names", rule: "peering-pair", clusters: []side{
			clusterNamed("cluster-01", east).with(token(east, "t1")),
			clusterNamed("cluster-02", west).with(token(west, "t1"))}},
		{name: "a peer outside the check is not judged", rule: "peering-pair", clusters: []side{
			clusterNamed("cluster-01", acceptor02, acceptor("cluster-07", k8sSecret())), clusterNamed("cluster-02", dialer01)}},
		{name: "off", rule: "peering-pair", clusters: []side{
			clusterNamed("cluster-01", acceptor02).with(config(withActions(validators.Config{}, "peering-pair", "off"))),
			clusterNamed("cluster-02")}},
		{name: "acceptor without dialer", rule: "peering-pair", clusters: []side{
			clusterNamed("cluster-01", acceptor02), clusterNamed("cluster-02", exportsTo02)},
			want: []pairHit{on("cluster-01", "cluster-02", "PeeringAcceptor consul/cluster-02", "metadata.name", validators.Deny)}},
		{name: "dialer without acceptor, as a warning", rule: "peering-pair", clusters: []side{
			clusterNamed("cluster-01", exportsTo02),
			clusterNamed("cluster-02", dialer01).with(config(withActions(validators.Config{}, "peering-pair", "warn")))},
			want: []pairHit{on("cluster-02", "cluster-01", "PeeringDialer consul/cluster-01", "metadata.name", validators.Warn)}},
		{name: "both accept", rule: "peering-pair", clusters: []side{
			clusterNamed("cluster-01", acceptor02), clusterNamed("cluster-02", acceptor01)},
			want: []pairHit{
				on("cluster-01", "cluster-02", "PeeringAcceptor consul/cluster-02", "metadata.name", validators.Deny),
				on("cluster-02", "cluster-01", "PeeringAcceptor consul/cluster-01", "metadata.name", validators.Deny)}},
		{name: "both dial", rule: "peering-pair", clusters: []side{
			clusterNamed("cluster-01", dialer02), clusterNamed("cluster-02", dialer01)},
			want: []pairHit{
				on("cluster-01", "cluster-02", "PeeringDialer consul/cluster-02", "metadata.name", validators.Deny),
				on("cluster-02", "cluster-01", "PeeringDialer consul/cluster-01", "metadata.name", validators.Deny)}},
		{name: "the same token on two acceptors", rule: "peering-pair", clusters: []side{
			clusterNamed("cluster-01", east).with(token(east, "t1")),
			clusterNamed("cluster-02", acceptor("south", k8sSecret())).with(token(acceptor("south", nil), "t1"))},
			want: []pairHit{
				on("cluster-01", "cluster-02", "PeeringAcceptor consul/east", "metadata.name", validators.Deny),
				on("cluster-02", "cluster-01", "PeeringAcceptor consul/south", "metadata.name", validators.Deny)}},
	})
}

// peered is the guide's peering plus the given objects on each side.
func peered(one []runtime.Object, two []runtime.Object) []side {
	return []side{
		clusterNamed("cluster-01", append([]runtime.Object{acceptor02}, one...)...),
		clusterNamed("cluster-02", append([]runtime.Object{dialer01}, two...)...),
	}
}

func objs(o ...runtime.Object) []runtime.Object { return o }

func upNS(name, namespace, peer string) *v1alpha1.Upstream {
	u := up(name, peer)
	u.Namespace = namespace
	return u
}

func TestImportNotExported(t *testing.T) {
	notExported := []pairHit{on("cluster-02", "cluster-01", frontendRef, peerField, validators.Deny)}
	ap1 := side{name: "cluster-01", cfg: partitions("ap1"), gateway: validators.GatewayReady}
	runPairCases(t, []pairCase{
		{name: "exported to the importer", rule: "import-not-exported", clusters: peered(objs(exportsTo02), objs(frontend))},
		{name: "peer named in upper case", rule: "import-not-exported",
			clusters: peered(objs(exportsTo02), objs(sd("frontend", up("backend", "CLUSTER-01"))))},
		{name: "same namespace", rule: "import-not-exported", clusters: peered(
			objs(es("default", inNS("payments", svc("backend", toPeer("cluster-02"))))),
			objs(sd("frontend", upNS("backend", "payments", "cluster-01"))))},
		{name: "every service of the namespace", rule: "import-not-exported",
			clusters: peered(objs(es("default", svc("*", toPeer("cluster-02")))), objs(frontend))},
		{name: "a sameness group may hold the importer", rule: "import-not-exported",
			clusters: peered(objs(es("default", svc("backend", toSameness("east-west")))), objs(frontend))},
		{name: "exported from the exporter's partition", rule: "import-not-exported", clusters: []side{
			ap1.with(func(s *side) { s.objs = objs(acceptor02, es("ap1", svc("backend", toPeer("cluster-02")))) }),
			clusterNamed("cluster-02", dialer01, frontend)}},
		{name: "names mapped in peers", rule: "import-not-exported", clusters: []side{
			clusterNamed("cluster-01", acceptor("west", k8sSecret()), es("default", svc("backend", toPeer("west")))).with(peersMap("west", "cluster-02")),
			clusterNamed("cluster-02", dialer("east", k8sSecret()), sd("frontend", up("backend", "east"))).with(peersMap("east", "cluster-01"))}},
		{name: "not exported", rule: "import-not-exported", clusters: peered(nil, objs(frontend)), want: notExported},
		{name: "exported under the cluster name, not the peer name", rule: "import-not-exported", clusters: []side{
			clusterNamed("cluster-01", acceptor("west", k8sSecret()), exportsTo02).with(peersMap("west", "cluster-02")),
			clusterNamed("cluster-02", dialer("east", k8sSecret()), sd("frontend", up("backend", "east"))).with(peersMap("east", "cluster-01"))},
			want: notExported},
		{name: "a token in three clusters pairs by name", rule: "import-not-exported", clusters: []side{
			clusterNamed("cluster-01", acceptor02, exportsTo02).with(token(acceptor02, "t1")),
			clusterNamed("cluster-02", dialer01, frontend).with(token(dialer01, "t1")),
			clusterNamed("cluster-03", dialer01).with(token(dialer01, "t1"))}},
		{name: "exported from another namespace", rule: "import-not-exported", clusters: peered(
			objs(es("default", inNS("payments", svc("backend", toPeer("cluster-02"))))), objs(frontend)), want: notExported},
		{name: "exported to another peer", rule: "import-not-exported", clusters: peered(
			objs(es("default", svc("backend", toPeer("cluster-03")))), objs(frontend)), want: notExported},
		{name: "exported to a partition only", rule: "import-not-exported", clusters: peered(
			objs(es("default", svc("backend", toPartition("ap2")))), objs(frontend)), want: notExported},
		{name: "exported from another partition", rule: "import-not-exported", clusters: []side{
			ap1.with(func(s *side) { s.objs = objs(acceptor02, exportsTo02) }),
			clusterNamed("cluster-02", dialer01, frontend)}, want: notExported},
		{name: "second override", rule: "import-not-exported", clusters: peered(
			objs(exportsTo02), objs(sd("frontend", up("backend", "cluster-01"), up("billing", "cluster-01")))),
			want: []pairHit{on("cluster-02", "cluster-01", frontendRef, "spec.upstreamConfig.overrides[1].peer", validators.Deny)}},
		{name: "an upstreams annotation, exported", rule: "import-not-exported", clusters: peered(
			objs(exportsTo02), objs(inNamespace("default", deployment("backend.svc.cluster-01.peer:9090"))))},
		{name: "an upstreams annotation, not exported", rule: "import-not-exported", clusters: peered(
			nil, objs(inNamespace("default", deployment("billing.svc.cluster-01.peer:9090")))),
			want: []pairHit{on("cluster-02", "cluster-01", "Deployment default/frontend", templateAnnotation, validators.Deny)}},
		{name: "a resolver failing over to the peer's own backend", rule: "import-not-exported", clusters: peered(
			objs(exportsTo02), objs(inNamespace("default", resolver("", map[string][]string{"*": {"cluster-01"}}))))},
		{name: "a resolver failing over to a service the peer does not export", rule: "import-not-exported", clusters: peered(
			nil, objs(inNamespace("default", resolver("cluster-01", nil)))),
			want: []pairHit{on("cluster-02", "cluster-01", "ServiceResolver default/backend", "spec.redirect.peer", validators.Deny)}},
		{name: "as a warning", rule: "import-not-exported", clusters: []side{
			clusterNamed("cluster-01", acceptor02),
			clusterNamed("cluster-02", dialer01, frontend).with(config(withActions(validators.Config{}, "import-not-exported", "warn")))},
			want: []pairHit{on("cluster-02", "cluster-01", frontendRef, peerField, validators.Warn)}},
	})
}

func TestImportNoGateway(t *testing.T) {
	local := sd("frontend", upMode("backend", "cluster-01", "local"))
	runPairCases(t, []pairCase{
		{name: "gateways on both sides", rule: "import-no-gateway", clusters: peered(objs(exportsTo02), objs(frontend))},
		{name: "remote mode needs no local gateway", rule: "import-no-gateway", clusters: []side{
			clusterNamed("cluster-01", acceptor02, exportsTo02), clusterNamed("cluster-02", dialer01, frontend).with(noGateway)}},
		{name: "exporter without gateway", rule: "import-no-gateway", clusters: []side{
			clusterNamed("cluster-01", acceptor02, exportsTo02).with(noGateway), clusterNamed("cluster-02", dialer01, frontend)},
			want: []pairHit{on("cluster-02", "cluster-01", frontendRef, peerField, validators.Deny)}},
		{name: "exporter gateway rolling out", rule: "import-no-gateway", clusters: []side{
			clusterNamed("cluster-01", acceptor02, exportsTo02).with(gatewayRolling), clusterNamed("cluster-02", dialer01, frontend)},
			want: []pairHit{on("cluster-02", "cluster-01", frontendRef, peerField, validators.Warn)}},
		{name: "local mode without own gateway", rule: "import-no-gateway", clusters: []side{
			clusterNamed("cluster-01", acceptor02, exportsTo02), clusterNamed("cluster-02", dialer01, local).with(noGateway)},
			want: []pairHit{on("cluster-02", "cluster-01", frontendRef, modeField0, validators.Deny)}},
		{name: "local mode from ProxyDefaults", rule: "import-no-gateway", clusters: []side{
			clusterNamed("cluster-01", acceptor02, exportsTo02),
			clusterNamed("cluster-02", dialer01, pd("global", "local"), frontend).with(noGateway)},
			want: []pairHit{on("cluster-02", "cluster-01", frontendRef, peerField, validators.Deny)}},
		{name: "local mode from the ServiceDefaults", rule: "import-no-gateway", clusters: []side{
			clusterNamed("cluster-01", acceptor02, exportsTo02),
			clusterNamed("cluster-02", dialer01, sdMode("local", up("backend", "cluster-01"))).with(noGateway)},
			want: []pairHit{on("cluster-02", "cluster-01", "ServiceDefaults consul/web", "spec.meshGateway.mode", validators.Deny)}},
	})
}

func TestExportUnused(t *testing.T) {
	runPairCases(t, []pairCase{
		{name: "imported", rule: "export-unused", clusters: peered(objs(exportsTo02), objs(frontend))},
		{name: "sameness-group exports are not judged", rule: "export-unused",
			clusters: peered(objs(es("default", svc("backend", toSameness("east-west")))), nil)},
		{name: "nothing imports it", rule: "export-unused", clusters: peered(objs(exportsTo02), nil),
			want: []pairHit{on("cluster-01", "cluster-02", exportRef, exportPeerField, validators.Warn)}},
		{name: "imported from another namespace", rule: "export-unused", clusters: peered(
			objs(es("default", inNS("payments", svc("backend", toPeer("cluster-02"))))), objs(frontend)),
			want: []pairHit{on("cluster-01", "cluster-02", exportRef, exportPeerField, validators.Warn)}},
		// Transparent proxy: the peer dials backend.virtual.cluster-01.consul and names it
		// nowhere; an intention letting a source of the peer in is the trace.
		{name: "an intention lets the peer in", rule: "export-unused", clusters: peered(objs(exportsTo02, intentions("cluster-02")), nil)},
		{name: "an intention lets another peer in", rule: "export-unused", clusters: peered(objs(exportsTo02, intentions("cluster-03")), nil),
			want: []pairHit{on("cluster-01", "cluster-02", exportRef, exportPeerField, validators.Warn)}},
		{name: "an intention denies the peer", rule: "export-unused", clusters: peered(objs(exportsTo02, denied(intentions("cluster-02"))), nil),
			want: []pairHit{on("cluster-01", "cluster-02", exportRef, exportPeerField, validators.Warn)}},
		{name: "an intention lets a local source in", rule: "export-unused", clusters: peered(objs(exportsTo02, intentions("")), nil),
			want: []pairHit{on("cluster-01", "cluster-02", exportRef, exportPeerField, validators.Warn)}},
		{name: "as a denial", rule: "export-unused", clusters: []side{
			clusterNamed("cluster-01", acceptor02, exportsTo02).with(config(withActions(validators.Config{}, "export-unused", "deny"))),
			clusterNamed("cluster-02", dialer01)},
			want: []pairHit{on("cluster-01", "cluster-02", exportRef, exportPeerField, validators.Deny)}},
	})
}

// denied turns every source of si into a deny.
func denied(si *v1alpha1.ServiceIntentions) *v1alpha1.ServiceIntentions {
	for _, src := range si.Spec.Sources {
		src.Action = "deny"
	}
	return si
}

// Pair rules never run on a single object: an admission review cannot see the other cluster.
func TestEngineSkipsPairRules(t *testing.T) {
	res, err := mustEngine(t, validators.Config{}).Validate(validators.Create, frontend, nil, newIndex(true, dialer01))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Violations {
		if validators.RuleByName(v.Rule).ReadsPair() {
			t.Errorf("pair rule %s ran in Validate: %s", v.Rule, v.Error)
		}
	}
}

// Every source of imports yields (cluster, object, field, peer, service, namespace, partition).
func TestImportsOfAView(t *testing.T) {
	v := clusterNamed("cluster-02", sd("frontend", up("backend", ""), upNS("billing", "payments", "cluster-01"))).view()
	want := []validators.Import{{Cluster: "cluster-02", Object: kinds.ObjectRef{Kind: kinds.ServiceDefaults, Namespace: testNamespace, Name: "frontend"},
		Peer: "cluster-01", Service: "billing", Namespace: "payments"}}
	if len(v.Imports) != 1 {
		t.Fatalf("imports %+v, want one", v.Imports)
	}
	got := v.Imports[0]
	if got.Field.String() != "spec.upstreamConfig.overrides[1].peer" {
		t.Errorf("field %s", got.Field)
	}
	got.Field = nil
	if got != want[0] {
		t.Errorf("import %+v, want %+v", got, want[0])
	}
}
