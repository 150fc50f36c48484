package validators_test

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// entry is a parsed entry with every rule's findings about it: the parser's syntax problems
// and what the engine's rules report quoting the entry.
type entry struct {
	Index                                                          int
	Raw, PreparedQuery, Service, Namespace, Partition, Peer        string
	Datacenter, LocalBindAddress, MeshGatewayMode, DestinationPort string
	Labeled                                                        bool
	LocalBindPort                                                  int32
	Problems                                                       []problem
}

// problem is one finding about an entry; Ambiguous marks a denying rule's finding reported
// as a warning.
type problem struct {
	Rule      string
	Type      field.ErrorType
	Detail    string
	Ambiguous bool
}

func syntaxProblem(detail string) problem {
	return problem{Rule: "upstream-annotation-syntax", Type: field.ErrorTypeInvalid, Detail: detail}
}

func problemOf(rule string, typ field.ErrorType, detail string) problem {
	return problem{Rule: rule, Type: typ, Detail: detail}
}

func ambiguous(p problem) problem {
	p.Ambiguous = true
	return p
}

// annotationOpts are the parser's options and the peers the cluster knows.
type annotationOpts struct {
	validators.AnnotationOptions
	known []string
}

var (
	offOpts      = annotationOpts{}
	onOpts       = annotationOpts{AnnotationOptions: validators.AnnotationOptions{NamespacesEnabled: true, PartitionsEnabled: true}}
	nsOnlyOpts   = annotationOpts{AnnotationOptions: validators.AnnotationOptions{NamespacesEnabled: true}}
	apOnlyOpts   = annotationOpts{AnnotationOptions: validators.AnnotationOptions{PartitionsEnabled: true}}
	grammar1Opts = annotationOpts{AnnotationOptions: validators.AnnotationOptions{Grammar: validators.AnnotationGrammar1}}
	portsOpts    = annotationOpts{AnnotationOptions: validators.AnnotationOptions{ContainerPorts: map[string]int32{"http": 8080, "admin": 9000}}}
)

// knownPeers adds PeeringAcceptors of these names to the cluster.
func knownPeers(opts annotationOpts, names ...string) annotationOpts {
	opts.known = names
	return opts
}

// annotationRules are the rules an annotation entry's finding may belong to.
var annotationRules = map[string]bool{
	"upstream-annotation-syntax": true, "upstream-annotation-unlabeled-peer": true,
	"upstream-peer-datacenter-exclusive": true, "upstream-annotation-duplicate": true,
	"upstream-peer-name-syntax": true, "gateway-mode-none-peer-upstream": true,
	"upstream-namespace-needs-namespaces": true, "upstream-partition-needs-partitions": true,
	"upstream-no-wildcard": true,
}

// workloadWith is a Deployment whose pod carries the annotation and the container ports of
// opts, under the engine configuration opts stands for.
func workloadWith(value string, opts annotationOpts) (*appsv1.Deployment, validators.Config) {
	tmpl := podTemplateWith(value)
	tmpl.Spec.Containers = nil
	for name, port := range opts.ContainerPorts {
		tmpl.Spec.Containers = append(tmpl.Spec.Containers, corev1.Container{Name: name, Ports: []corev1.ContainerPort{{Name: name, ContainerPort: port}}})
	}
	cfg := validators.Config{NamespacesEnabled: opts.NamespacesEnabled, PartitionsEnabled: opts.PartitionsEnabled, AnnotationGrammar: opts.Grammar}
	return &appsv1.Deployment{ObjectMeta: objMeta("frontend"), Spec: appsv1.DeploymentSpec{Template: tmpl}}, cfg
}

// judgeAnnotation parses value and judges it through the engine, with a ready mesh gateway
// and the known peers: each entry with its syntax problems and the findings of the rules
// that quote it, in rule then detail order.
func judgeAnnotation(t testing.TB, value string, opts annotationOpts) []entry {
	t.Helper()
	parsed := validators.ParseUpstreamAnnotation(value, opts.AnnotationOptions)
	var state []runtime.Object
	for _, n := range opts.known {
		state = append(state, acceptor(n, k8sSecret()))
	}
	obj, cfg := workloadWith(value, opts)
	res, err := mustEngine(t, cfg).Validate(validators.Create, obj, nil, newIndex(true, state...))
	if err != nil {
		t.Fatal(err)
	}
	var got []entry
	for _, e := range parsed {
		g := entry{Index: e.Index, Raw: e.Raw, Labeled: e.Labeled, PreparedQuery: e.PreparedQuery, Service: e.Service,
			Namespace: e.Namespace, Partition: e.Partition, Peer: e.Peer, Datacenter: e.Datacenter, LocalBindPort: e.LocalBindPort,
			LocalBindAddress: e.LocalBindAddress, MeshGatewayMode: e.MeshGatewayMode, DestinationPort: e.DestinationPort}
		for _, d := range e.Syntax {
			g.Problems = append(g.Problems, syntaxProblem(d))
		}
		for _, v := range res.Violations {
			detail := strings.TrimSuffix(v.Error.Detail, " ("+v.Rule+")")
			if v.Rule == "upstream-annotation-syntax" || !annotationRules[v.Rule] || !strings.HasPrefix(detail, e.Quoted()) {
				continue
			}
			g.Problems = append(g.Problems, problem{Rule: v.Rule, Type: v.Error.Type, Detail: detail,
				Ambiguous: v.Action == validators.Warn && validators.RuleByName(v.Rule).DefaultAction == validators.Deny})
		}
		sortProblems(g.Problems)
		got = append(got, g)
	}
	return got
}

func sortProblems(ps []problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Rule != ps[j].Rule {
			return ps[i].Rule < ps[j].Rule
		}
		return ps[i].Detail < ps[j].Detail
	})
}

func TestParseUpstreamAnnotation(t *testing.T) {
	cases := []struct {
		name  string
		value string
		opts  annotationOpts
		want  []entry
	}{
		// Valid forms.
		{name: "empty annotation", value: "", want: nil},
		{name: "unlabeled service", value: "api:1234",
			want: []entry{{Raw: "api:1234", Service: "api", LocalBindPort: 1234}}},
		{name: "unlabeled with datacenter", value: "api:1234:dc3",
			want: []entry{{Raw: "api:1234:dc3", Service: "api", Datacenter: "dc3", LocalBindPort: 1234}}},
		{name: "unlabeled with namespace and partition", value: "api.billing.ap1:1234", opts: onOpts,
			want: []entry{{Raw: "api.billing.ap1:1234", Service: "api", Namespace: "billing", Partition: "ap1", LocalBindPort: 1234}}},
		{name: "unlabeled with namespace, partition cut at the second dot", value: "api.billing:1234:dc3", opts: nsOnlyOpts,
			want: []entry{{Raw: "api.billing:1234:dc3", Service: "api", Namespace: "billing", Datacenter: "dc3", LocalBindPort: 1234}}},
		{name: "labeled service", value: "api.svc:1234",
			want: []entry{{Raw: "api.svc:1234", Labeled: true, Service: "api", LocalBindPort: 1234}}},
		{name: "labeled peer", value: "api.svc.cluster-02.peer:9090",
			want: []entry{{Raw: "api.svc.cluster-02.peer:9090", Labeled: true, Service: "api", Peer: "cluster-02", LocalBindPort: 9090}}},
		{name: "labeled upper-case peer", value: "api.svc.DC2.peer:9090",
			want: []entry{{Raw: "api.svc.DC2.peer:9090", Labeled: true, Service: "api", Peer: "DC2", LocalBindPort: 9090}}},
		{name: "labeled datacenter", value: "api.svc.dc3.dc:9090",
			want: []entry{{Raw: "api.svc.dc3.dc:9090", Labeled: true, Service: "api", Datacenter: "dc3", LocalBindPort: 9090}}},
		{name: "labeled namespace", value: "api.svc.billing.ns:9090", opts: onOpts,
			want: []entry{{Raw: "api.svc.billing.ns:9090", Labeled: true, Service: "api", Namespace: "billing", LocalBindPort: 9090}}},
		{name: "labeled namespace and peer", value: "api.svc.billing.ns.dc2.peer:9090", opts: onOpts,
			want: []entry{{Raw: "api.svc.billing.ns.dc2.peer:9090", Labeled: true, Service: "api", Namespace: "billing", Peer: "dc2", LocalBindPort: 9090}}},
		{name: "labeled namespace and partition", value: "api.svc.billing.ns.ap2.ap:9090", opts: onOpts,
			want: []entry{{Raw: "api.svc.billing.ns.ap2.ap:9090", Labeled: true, Service: "api", Namespace: "billing", Partition: "ap2", LocalBindPort: 9090}}},
		{name: "labeled namespace and datacenter", value: "api.svc.billing.ns.dc3.dc:9090", opts: onOpts,
			want: []entry{{Raw: "api.svc.billing.ns.dc3.dc:9090", Labeled: true, Service: "api", Namespace: "billing", Datacenter: "dc3", LocalBindPort: 9090}}},
		{name: "peer form with partitions only keeps namespace default", value: "api.svc.default.ns.dc2.peer:9090", opts: apOnlyOpts,
			want: []entry{{Raw: "api.svc.default.ns.dc2.peer:9090", Labeled: true, Service: "api", Namespace: "default", Peer: "dc2", LocalBindPort: 9090}}},
		{name: "blanks around labels: the second part is not exactly svc", value: " api . svc . dc2 . peer : 9090 ",
			want: []entry{{Raw: "api . svc . dc2 . peer : 9090", Service: "api . svc . dc2 . peer", LocalBindPort: 9090,
				Problems: []problem{
					syntaxProblem(`"api . svc . dc2 . peer : 9090": blank inside the service name`),
					problemOf("upstream-annotation-unlabeled-peer", field.ErrorTypeInvalid,
						`"api . svc . dc2 . peer : 9090" is service "api . svc . dc2 . peer"; for a peer write api.svc.dc2.peer:9090`)}}}},
		{name: "blanks around the port", value: "api.svc.dc2.peer : 9090",
			want: []entry{{Raw: "api.svc.dc2.peer : 9090", Labeled: true, Service: "api", Peer: "dc2", LocalBindPort: 9090}}},
		{name: "prepared query", value: "prepared_query:geo-api:8200",
			want: []entry{{Raw: "prepared_query:geo-api:8200", PreparedQuery: "geo-api", LocalBindPort: 8200}}},
		{name: "named port", value: "api.svc.dc2.peer:http,db:admin", opts: portsOpts,
			want: []entry{
				{Raw: "api.svc.dc2.peer:http", Labeled: true, Service: "api", Peer: "dc2", LocalBindPort: 8080},
				{Index: 1, Raw: "db:admin", Service: "db", LocalBindPort: 9000}}},
		{name: "hexadecimal port", value: "api:0x1F90",
			want: []entry{{Raw: "api:0x1F90", Service: "api", LocalBindPort: 8080}}},
		{name: "comma list with blanks and new lines", value: "api.svc.dc2.peer:1234, db:5432,\n  cache.svc.dc3.peer:6379\n",
			want: []entry{
				{Raw: "api.svc.dc2.peer:1234", Labeled: true, Service: "api", Peer: "dc2", LocalBindPort: 1234},
				{Index: 1, Raw: "db:5432", Service: "db", LocalBindPort: 5432},
				{Index: 2, Raw: "cache.svc.dc3.peer:6379", Labeled: true, Service: "cache", Peer: "dc3", LocalBindPort: 6379}}},

		// 2.x options.
		{name: "labeled destination port", value: "api.svc.dc2.peer:1234:grpc",
			want: []entry{{Raw: "api.svc.dc2.peer:1234:grpc", Labeled: true, Service: "api", Peer: "dc2", LocalBindPort: 1234, DestinationPort: "grpc"}}},
		{name: "labeled options", value: "api.svc.dc2.peer:1234:mesh_gateway_mode=local&local_bind_address=127.0.0.2&destination_port=grpc",
			want: []entry{{Raw: "api.svc.dc2.peer:1234:mesh_gateway_mode=local&local_bind_address=127.0.0.2&destination_port=grpc",
				Labeled: true, Service: "api", Peer: "dc2", LocalBindPort: 1234, MeshGatewayMode: "local", LocalBindAddress: "127.0.0.2", DestinationPort: "grpc"}}},
		{name: "labeled options after ?, aliases and ;", value: "api.svc.dc3.dc:1234:?meshGatewayMode=remote;dc=dc3;port=http",
			want: []entry{{Raw: "api.svc.dc3.dc:1234:?meshGatewayMode=remote;dc=dc3;port=http",
				Labeled: true, Service: "api", Datacenter: "dc3", LocalBindPort: 1234, MeshGatewayMode: "remote", DestinationPort: "http"}}},
		{name: "unlabeled dc? prefix with options", value: "api:1234:dc3?mesh-gateway-mode=local&destinationPort=grpc",
			want: []entry{{Raw: "api:1234:dc3?mesh-gateway-mode=local&destinationPort=grpc",
				Service: "api", Datacenter: "dc3", LocalBindPort: 1234, MeshGatewayMode: "local", DestinationPort: "grpc"}}},
		{name: "unlabeled datacenter option wins over the prefix", value: "api:1234:dc3?datacenter=dc4",
			want: []entry{{Raw: "api:1234:dc3?datacenter=dc4", Service: "api", Datacenter: "dc4", LocalBindPort: 1234}}},
		{name: "unlabeled options only, empty value skipped", value: "api:1234:local-bind-address=::1&dc=",
			want: []entry{{Raw: "api:1234:local-bind-address=::1&dc=", Service: "api", LocalBindPort: 1234, LocalBindAddress: "::1"}}},
		{name: "unknown option with an empty value is skipped", value: "api:1234:?timeout=",
			want: []entry{{Raw: "api:1234:?timeout=", Service: "api", LocalBindPort: 1234}}},

		// Malformed entries.
		{name: "entries separated by blanks", value: "api.svc.dc2.peer:1234 db:5432",
			want: []entry{{Raw: "api.svc.dc2.peer:1234 db:5432",
				Problems: []problem{syntaxProblem(`"api.svc.dc2.peer:1234 db:5432": entries split by blanks or new lines; separate them with ","`)}}}},
		{name: "entries separated by new lines", value: "api:1234\ndb:5432",
			want: []entry{{Raw: "api:1234\ndb:5432",
				Problems: []problem{syntaxProblem(`"api:1234\ndb:5432": entries split by blanks or new lines; separate them with ","`)}}}},
		{name: "empty entries", value: "api:1234,, ,db:5432,",
			want: []entry{
				{Raw: "api:1234", Service: "api", LocalBindPort: 1234},
				{Index: 1, Problems: []problem{syntaxProblem(`empty entry (an extra ","); registration fails, remove it`)}},
				{Index: 2, Problems: []problem{syntaxProblem(`empty entry (an extra ","); registration fails, remove it`)}},
				{Index: 3, Raw: "db:5432", Service: "db", LocalBindPort: 5432},
				{Index: 4, Problems: []problem{syntaxProblem(`empty entry (an extra ","); registration fails, remove it`)}}}},
		{name: "no port", value: "api.svc.dc2.peer",
			want: []entry{{Raw: "api.svc.dc2.peer", Labeled: true, Service: "api", Peer: "dc2",
				Problems: []problem{syntaxProblem(`"api.svc.dc2.peer": no local port; registration fails, write api.svc.dc2.peer:<port>`)}}}},
		{name: "empty port", value: "api:",
			want: []entry{{Raw: "api:", Service: "api",
				Problems: []problem{syntaxProblem(`"api:": no local port after the colon; registration fails`)}}}},
		{name: "port zero", value: "api:0",
			want: []entry{{Raw: "api:0", Service: "api",
				Problems: []problem{syntaxProblem(`"api:0": local port 0 is not 1-65535; registration fails`)}}}},
		{name: "negative port", value: "api:-1",
			want: []entry{{Raw: "api:-1", Service: "api",
				Problems: []problem{syntaxProblem(`"api:-1": local port -1 is not 1-65535; registration fails`)}}}},
		{name: "port above 65535", value: "api:70000",
			want: []entry{{Raw: "api:70000", Service: "api", LocalBindPort: 70000,
				Problems: []problem{syntaxProblem(`"api:70000": local port 70000 is not 1-65535; Envoy cannot listen on it`)}}}},
		{name: "octal port", value: "api:0100",
			want: []entry{{Raw: "api:0100", Service: "api", LocalBindPort: 64,
				Problems: []problem{syntaxProblem(`"api:0100": consul-k8s reads 0100 as octal 64; drop the leading 0`)}}}},
		{name: "leading zero that is no octal", value: "api:08080",
			want: []entry{{Raw: "api:08080", Service: "api",
				Problems: []problem{syntaxProblem(`"api:08080": port "08080" is not a number; registration fails`)}}}},
		{name: "unknown named port", value: "api:grpc", opts: portsOpts,
			want: []entry{{Raw: "api:grpc", Service: "api",
				Problems: []problem{syntaxProblem(`"api:grpc": no container port named "grpc"; registration fails`)}}}},
		{name: "named port without container ports", value: "api:http",
			want: []entry{{Raw: "api:http", Service: "api",
				Problems: []problem{syntaxProblem(`"api:http": no container port named "http"; registration fails`)}}}},
		{name: "prepared query without port", value: "prepared_query:geo",
			want: []entry{{Raw: "prepared_query:geo",
				Problems: []problem{syntaxProblem(`"prepared_query:geo": write prepared_query:<query>:<port>; registration fails`)}}}},
		{name: "prepared query without name", value: "prepared_query: :8200",
			want: []entry{{Raw: "prepared_query: :8200", LocalBindPort: 8200,
				Problems: []problem{syntaxProblem(`"prepared_query: :8200": no query name; write prepared_query:<query>:<port>`)}}}},
		{name: "prepared query with extra part", value: "prepared_query:geo:8200:dc2",
			want: []entry{{Raw: "prepared_query:geo:8200:dc2", PreparedQuery: "geo",
				Problems: []problem{syntaxProblem(`"prepared_query:geo:8200:dc2": port "8200:dc2" is not a number; registration fails`)}}}},
		{name: "empty service", value: ".svc:1234",
			want: []entry{{Raw: ".svc:1234", Labeled: true, LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`".svc:1234": no service name; Consul refuses the registration`)}}}},
		{name: "empty unlabeled service", value: " :1234",
			want: []entry{{Raw: ":1234", LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`":1234": no service name; Consul refuses the registration`)}}}},
		{name: "blank inside the service name", value: "my api:1234",
			want: []entry{{Raw: "my api:1234", Service: "my api", LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"my api:1234": blank inside the service name`)}}}},
		{name: "wrong number of labels", value: "api.svc.dc2:1234",
			want: []entry{{Raw: "api.svc.dc2:1234", Labeled: true, LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc.dc2:1234": 3 labels; consul-k8s refuses it, write svc.svc[.X.peer|dc]:port`)}}}},
		{name: "wrong number of labels with namespaces", value: "api.svc.billing.ns.dc2:1234", opts: onOpts,
			want: []entry{{Raw: "api.svc.billing.ns.dc2:1234", Labeled: true, LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc.billing.ns.dc2:1234": 5 labels; consul-k8s refuses it, write svc.svc.ns.ns[.X.peer|ap|dc]:port`)}}}},
		{name: "labels are case-sensitive", value: "api.svc.dc2.PEER:1234",
			want: []entry{{Raw: "api.svc.dc2.PEER:1234", Labeled: true, LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc.dc2.PEER:1234": label "PEER" is not consul-k8s's; write svc.svc[.X.peer|dc]:port`)}}}},
		{name: "namespace label with namespaces and partitions off", value: "api.svc.billing.ns:1234",
			want: []entry{{Raw: "api.svc.billing.ns:1234", Labeled: true, LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc.billing.ns:1234": .ns needs namespaces or partitions (off); write svc.svc[.X.peer|dc]:port`)}}}},
		{name: "partition label with namespaces and partitions off", value: "api.svc.ap2.ap:1234",
			want: []entry{{Raw: "api.svc.ap2.ap:1234", Labeled: true, LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc.ap2.ap:1234": .ap needs namespaces or partitions (off); write svc.svc[.X.peer|dc]:port`)}}}},
		{name: "six labels with namespaces and partitions off", value: "api.svc.billing.ns.dc2.peer:1234",
			want: []entry{{Raw: "api.svc.billing.ns.dc2.peer:1234", Labeled: true, LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc.billing.ns.dc2.peer:1234": namespaces and partitions are off; write svc.svc[.X.peer|dc]:port`)}}}},
		{name: "four-label peer form with namespaces on", value: "api.svc.dc2.peer:1234", opts: onOpts,
			want: []entry{{Raw: "api.svc.dc2.peer:1234", Labeled: true, LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc.dc2.peer:1234": namespaces or partitions on: write api.svc.default.ns.dc2.peer:1234`)}}}},
		{name: "six labels without ns", value: "api.svc.billing.nz.dc2.peer:1234", opts: onOpts,
			want: []entry{{Raw: "api.svc.billing.nz.dc2.peer:1234", Labeled: true, LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc.billing.nz.dc2.peer:1234": the 4th label must be ns; write svc.svc.ns.ns[.X.peer|ap|dc]:port`)}}}},
		{name: "empty namespace label", value: "api.svc..ns.dc2.peer:1234", opts: onOpts,
			want: []entry{{Raw: "api.svc..ns.dc2.peer:1234", Labeled: true, Service: "api", Peer: "dc2", LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc..ns.dc2.peer:1234": empty namespace label; write svc.svc.ns.ns[.X.peer|ap|dc]:port`)}}}},
		{name: "labels without .svc", value: "api.billing.ns:1234", opts: onOpts,
			want: []entry{{Raw: "api.billing.ns:1234", Service: "api", Namespace: "billing", Partition: "ns", LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.billing.ns:1234": labels need ".svc" after the service; write svc.svc.ns.ns[.X.peer|ap|dc]:port`)}}}},
		{name: "unknown option", value: "api:1234:timeout=5s",
			want: []entry{{Raw: "api:1234:timeout=5s", Service: "api", LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api:1234:timeout=5s": unknown option "timeout"; registration fails`)}}}},
		{name: "gateway mode out of its set", value: "api.svc.dc2.peer:1234:mesh_gateway_mode=Local",
			want: []entry{{Raw: "api.svc.dc2.peer:1234:mesh_gateway_mode=Local", Labeled: true, Service: "api", Peer: "dc2", LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc.dc2.peer:1234:mesh_gateway_mode=Local": mesh_gateway_mode "Local" is not local, remote or none`)}}}},
		{name: "options that are not a query", value: "api:1234:dc=%zz",
			want: []entry{{Raw: "api:1234:dc=%zz", Service: "api", LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api:1234:dc=%zz": options are not k=v joined by &; registration fails`)}}}},
		{name: "local bind address that is no IP", value: "api:1234:local_bind_address=localhost",
			want: []entry{{Raw: "api:1234:local_bind_address=localhost", Service: "api", LocalBindPort: 1234, LocalBindAddress: "localhost",
				Problems: []problem{syntaxProblem(`"api:1234:local_bind_address=localhost": local_bind_address "localhost" is not an IP address`)}}}},
		{name: "dc label and option disagree", value: "api.svc.dc3.dc:1234:dc=dc4",
			want: []entry{{Raw: "api.svc.dc3.dc:1234:dc=dc4", Labeled: true, Service: "api", Datacenter: "dc3", LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc.dc3.dc:1234:dc=dc4": .dc and dc= disagree; consul-k8s refuses it, keep one`)}}}},
		{name: "datacenter that no datacenter is called", value: "api:1234:dc3:x",
			want: []entry{{Raw: "api:1234:dc3:x", Service: "api", Datacenter: "dc3:x", LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api:1234:dc3:x": datacenter "dc3:x" is not a datacenter name`)}}}},
		{name: "entry too long", value: "api:1234:" + strings.Repeat("d", validators.MaxAnnotationEntryLength),
			want: []entry{{Raw: "api:1234:" + strings.Repeat("d", validators.MaxAnnotationEntryLength-10) + "…",
				Problems: []problem{syntaxProblem(`"api:1234:dddddddddddddddddddddddddddddddddddddddddddddddddddddd…": over 1024 bytes, no upstream is; not checked further`)}}}},

		// 1.x grammar.
		{name: "1.x unlabeled datacenter", value: "api:1234:dc3", opts: grammar1Opts,
			want: []entry{{Raw: "api:1234:dc3", Service: "api", Datacenter: "dc3", LocalBindPort: 1234}}},
		{name: "1.x reads options as a datacenter", value: "api:1234:mesh_gateway_mode=local", opts: grammar1Opts,
			want: []entry{{Raw: "api:1234:mesh_gateway_mode=local", Service: "api", Datacenter: "mesh_gateway_mode=local", LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api:1234:mesh_gateway_mode=local": consul-k8s 1.x reads "mesh_gateway_mode=local" as a datacenter`)}}}},
		{name: "1.x ignores what follows a labeled port", value: "api.svc.dc2.peer:1234:grpc", opts: grammar1Opts,
			want: []entry{{Raw: "api.svc.dc2.peer:1234:grpc", Labeled: true, Service: "api", Peer: "dc2", LocalBindPort: 1234,
				Problems: []problem{syntaxProblem(`"api.svc.dc2.peer:1234:grpc": consul-k8s 1.x ignores "grpc" after the port`)}}}},

		// Peers.
		{name: "unlabeled peer, namespaces off", value: "api.dc2.peer:9090",
			want: []entry{{Raw: "api.dc2.peer:9090", Service: "api.dc2.peer", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-annotation-unlabeled-peer", field.ErrorTypeInvalid,
					`"api.dc2.peer:9090" is service "api.dc2.peer"; for a peer write api.svc.dc2.peer:9090`)}}}},
		{name: "unlabeled peer, namespaces on", value: "api.dc2.peer:9090", opts: onOpts,
			want: []entry{{Raw: "api.dc2.peer:9090", Service: "api", Namespace: "dc2", Partition: "peer", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-annotation-unlabeled-peer", field.ErrorTypeInvalid,
					`"api.dc2.peer:9090" is namespace "dc2", partition "peer"; for a peer write api.svc.default.ns.dc2.peer:9090`)}}}},
		{name: "unlabeled peer with namespace", value: "api.billing.dc2.peer:9090", opts: onOpts,
			want: []entry{{Raw: "api.billing.dc2.peer:9090", Service: "api", Namespace: "billing", Partition: "dc2.peer", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-annotation-unlabeled-peer", field.ErrorTypeInvalid,
					`"api.billing.dc2.peer:9090" is namespace "billing", partition "dc2.peer"; for a peer write api.svc.billing.ns.dc2.peer:9090`)}}}},
		{name: "unlabeled namespace that a known peer is also called: ambiguous", value: "api.DC2:9090", opts: knownPeers(onOpts, "dc2"),
			want: []entry{{Raw: "api.DC2:9090", Service: "api", Namespace: "DC2", LocalBindPort: 9090,
				Problems: []problem{ambiguous(problemOf("upstream-annotation-unlabeled-peer", field.ErrorTypeInvalid,
					`"api.DC2:9090" is namespace "DC2", also a peer's name; if the peer was meant, write api.svc.default.ns.DC2.peer:9090`))}}}},
		{name: "unlabeled part naming a known peer, namespaces off", value: "api.dc2:9090", opts: knownPeers(offOpts, "dc2"),
			want: []entry{{Raw: "api.dc2:9090", Service: "api.dc2", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-annotation-unlabeled-peer", field.ErrorTypeInvalid,
					`"api.dc2:9090" is service "api.dc2"; for peer "dc2" write api.svc.dc2.peer:9090`),
					// The engine reported this one before the parser stopped judging rules too: the
					// namespace rule read a parse that knew no peers.
					problemOf("upstream-namespace-needs-namespaces", field.ErrorTypeForbidden,
						`"api.dc2:9090": namespaces are off, so this is service "api.dc2"`)}}}},
		{name: "unlabeled namespace that is no peer", value: "api.billing:9090", opts: knownPeers(onOpts, "dc2"),
			want: []entry{{Raw: "api.billing:9090", Service: "api", Namespace: "billing", LocalBindPort: 9090}}},
		{name: "service named like a peer is fine", value: "dc2:9090", opts: knownPeers(offOpts, "dc2"),
			want: []entry{{Raw: "dc2:9090", Service: "dc2", LocalBindPort: 9090}}},
		{name: "invalid peer name", value: "api.svc.dc_2.peer:9090",
			want: []entry{{Raw: "api.svc.dc_2.peer:9090", Labeled: true, Service: "api", Peer: "dc_2", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-peer-name-syntax", field.ErrorTypeInvalid,
					`"api.svc.dc_2.peer:9090": peer "dc_2" is not a DNS label (letters, digits, -)`)}}}},
		{name: "empty peer name", value: "api.svc..peer:9090",
			want: []entry{{Raw: "api.svc..peer:9090", Labeled: true, Service: "api", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-peer-name-syntax", field.ErrorTypeInvalid,
					`"api.svc..peer:9090": empty peer before .peer; consul-k8s makes it a local upstream`)}}}},
		{name: "peer with a datacenter option", value: "api.svc.dc2.peer:9090:dc=dc3",
			want: []entry{{Raw: "api.svc.dc2.peer:9090:dc=dc3", Labeled: true, Service: "api", Peer: "dc2", Datacenter: "dc3", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-peer-datacenter-exclusive", field.ErrorTypeForbidden,
					`"api.svc.dc2.peer:9090:dc=dc3": Consul refuses a peer upstream with a datacenter; drop dc`)}}}},
		{name: "peer with gateway mode none", value: "api.svc.dc2.peer:9090:mesh_gateway_mode=none",
			want: []entry{{Raw: "api.svc.dc2.peer:9090:mesh_gateway_mode=none", Labeled: true, Service: "api", Peer: "dc2", LocalBindPort: 9090, MeshGatewayMode: "none",
				Problems: []problem{problemOf("gateway-mode-none-peer-upstream", field.ErrorTypeInvalid,
					`"api.svc.dc2.peer:9090:mesh_gateway_mode=none": peers need mesh gateways, Consul uses remote; use local or remote`)}}}},
		{name: "local upstream with gateway mode none", value: "api:9090:mesh_gateway_mode=none",
			want: []entry{{Raw: "api:9090:mesh_gateway_mode=none", Service: "api", LocalBindPort: 9090, MeshGatewayMode: "none"}}},

		// Namespaces, partitions and wildcards.
		{name: "labeled namespace with namespaces off", value: "api.svc.billing.ns:9090", opts: apOnlyOpts,
			want: []entry{{Raw: "api.svc.billing.ns:9090", Labeled: true, Service: "api", Namespace: "billing", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-namespace-needs-namespaces", field.ErrorTypeForbidden,
					`"api.svc.billing.ns:9090": Consul namespaces are off; drop namespace "billing"`)}}}},
		{name: "labeled partition with partitions off", value: "api.svc.billing.ns.ap2.ap:9090", opts: nsOnlyOpts,
			want: []entry{{Raw: "api.svc.billing.ns.ap2.ap:9090", Labeled: true, Service: "api", Namespace: "billing", Partition: "ap2", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-partition-needs-partitions", field.ErrorTypeForbidden,
					`"api.svc.billing.ns.ap2.ap:9090": admin partitions are off; drop partition "ap2"`)}}}},
		{name: "unlabeled partition with partitions off", value: "api.billing.ap2:9090", opts: nsOnlyOpts,
			want: []entry{{Raw: "api.billing.ap2:9090", Service: "api", Namespace: "billing", Partition: "ap2", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-partition-needs-partitions", field.ErrorTypeForbidden,
					`"api.billing.ap2:9090": admin partitions are off; drop partition "ap2"`)}}}},
		{name: "dotted name with namespaces and partitions off", value: "api.billing:9090",
			want: []entry{{Raw: "api.billing:9090", Service: "api.billing", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-namespace-needs-namespaces", field.ErrorTypeForbidden,
					`"api.billing:9090": namespaces are off, so this is service "api.billing"`)}}}},
		{name: "wildcard service", value: "*:9090",
			want: []entry{{Raw: "*:9090", Service: "*", LocalBindPort: 9090,
				Problems: []problem{problemOf("upstream-no-wildcard", field.ErrorTypeInvalid, `"*:9090": Consul refuses a * upstream; name one service`)}}}},

		// Duplicates.
		{name: "same destination", value: "api:1234,db:5432,api:1235",
			want: []entry{
				{Raw: "api:1234", Service: "api", LocalBindPort: 1234},
				{Index: 1, Raw: "db:5432", Service: "db", LocalBindPort: 5432},
				{Index: 2, Raw: "api:1235", Service: "api", LocalBindPort: 1235,
					Problems: []problem{problemOf("upstream-annotation-duplicate", field.ErrorTypeDuplicate,
						`"api:1235": same upstream as "api:1234"; Consul refuses both, drop one`)}}}},
		{name: "same local port", value: "api.svc.dc2.peer:1234,api.svc.dc3.peer:1234",
			want: []entry{
				{Raw: "api.svc.dc2.peer:1234", Labeled: true, Service: "api", Peer: "dc2", LocalBindPort: 1234},
				{Index: 1, Raw: "api.svc.dc3.peer:1234", Labeled: true, Service: "api", Peer: "dc3", LocalBindPort: 1234,
					Problems: []problem{problemOf("upstream-annotation-duplicate", field.ErrorTypeDuplicate,
						`"api.svc.dc3.peer:1234": port 1234 also bound by "api.svc.dc2.peer:1234"; Consul refuses both`)}}}},
		{name: "same port on another address", value: "api:1234,db:1234:local_bind_address=127.0.0.2",
			want: []entry{
				{Raw: "api:1234", Service: "api", LocalBindPort: 1234},
				{Index: 1, Raw: "db:1234:local_bind_address=127.0.0.2", Service: "db", LocalBindPort: 1234, LocalBindAddress: "127.0.0.2"}}},
		{name: "127.0.0.1 is the default address", value: "api:1234,db:1234:local_bind_address=127.0.0.1",
			want: []entry{
				{Raw: "api:1234", Service: "api", LocalBindPort: 1234},
				{Index: 1, Raw: "db:1234:local_bind_address=127.0.0.1", Service: "db", LocalBindPort: 1234, LocalBindAddress: "127.0.0.1",
					Problems: []problem{problemOf("upstream-annotation-duplicate", field.ErrorTypeDuplicate,
						`"db:1234:local_bind_address=127.0.0.1": port 1234 also bound by "api:1234"; Consul refuses both`)}}}},
		{name: "same service, another peer, is no duplicate", value: "api.svc.dc2.peer:1234,api.svc.dc3.peer:1235,api:1236",
			want: []entry{
				{Raw: "api.svc.dc2.peer:1234", Labeled: true, Service: "api", Peer: "dc2", LocalBindPort: 1234},
				{Index: 1, Raw: "api.svc.dc3.peer:1235", Labeled: true, Service: "api", Peer: "dc3", LocalBindPort: 1235},
				{Index: 2, Raw: "api:1236", Service: "api", LocalBindPort: 1236}}},
		{name: "prepared query and service of one name are no duplicates", value: "prepared_query:api:1234,api:1235",
			want: []entry{
				{Raw: "prepared_query:api:1234", PreparedQuery: "api", LocalBindPort: 1234},
				{Index: 1, Raw: "api:1235", Service: "api", LocalBindPort: 1235}}},
		{name: "entries with syntax problems are not duplicates", value: "api:1234,api:1234:foo=bar",
			want: []entry{
				{Raw: "api:1234", Service: "api", LocalBindPort: 1234},
				{Index: 1, Raw: "api:1234:foo=bar", Service: "api", LocalBindPort: 1234,
					Problems: []problem{syntaxProblem(`"api:1234:foo=bar": unknown option "foo"; registration fails`)}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := judgeAnnotation(t, tc.value, tc.opts)
			for i := range tc.want {
				sortProblems(tc.want[i].Problems)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseUpstreamAnnotation(%q):\n got  %s\n want %s", tc.value, dumpEntries(got), dumpEntries(tc.want))
			}
		})
	}
}

func dumpEntries(es []entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n   %+v", e)
	}
	return b.String()
}

func TestParseUpstreamAnnotationCapsEntries(t *testing.T) {
	value := strings.Repeat("api:1234,", validators.MaxAnnotationEntries+500)
	got := validators.ParseUpstreamAnnotation(value, offOpts.AnnotationOptions)
	if len(got) != validators.MaxAnnotationEntries+1 {
		t.Fatalf("%d entries, want %d", len(got), validators.MaxAnnotationEntries+1)
	}
	if last := got[len(got)-1]; last.Index != validators.MaxAnnotationEntries || last.Raw != "api:1234" ||
		!reflect.DeepEqual(last.Syntax, []string{"more than 1000 entries; the rest are not checked"}) {
		t.Errorf("last entry %+v, want the syntax problem saying the rest are not checked", last)
	}
	// Every entry but the first and the last repeats the first; the engine keeps
	// MaxViolationsPerRule of them and counts the rest.
	obj, cfg := workloadWith(value, offOpts)
	res, err := mustEngine(t, cfg).Validate(validators.Create, obj, nil, newIndex(true))
	if err != nil {
		t.Fatal(err)
	}
	dups := hitsOf(res, "upstream-annotation-duplicate")
	more := fmt.Sprintf("and %d more violations of this rule", validators.MaxAnnotationEntries-1-validators.MaxViolationsPerRule)
	if last := res.Violations[len(res.Violations)-1]; len(dups) != validators.MaxViolationsPerRule+1 || !strings.HasPrefix(last.Error.Detail, more) {
		t.Errorf("%d duplicates, the last %q; want %d, the last starting %q", len(dups), last.Error.Detail, validators.MaxViolationsPerRule+1, more)
	}
}

// Findings about annotation entries are reported at the annotation, the value left out: the
// message quotes the entry.
func TestAnnotationErrors(t *testing.T) {
	path := validators.AnnotationPath(field.NewPath("spec", "template", "metadata"))
	const at = "spec.template.metadata.annotations[consul.hashicorp.com/connect-service-upstreams]"
	if path.String() != at {
		t.Fatalf("AnnotationPath = %s, want %s", path, at)
	}
	obj, cfg := workloadWith("api.dc2.peer:1234,db:1234,db:x", offOpts)
	res, err := mustEngine(t, cfg).Validate(validators.Create, obj, nil, newIndex(true))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]field.ErrorList{
		"upstream-annotation-unlabeled-peer": {{Type: field.ErrorTypeInvalid, Field: at, BadValue: field.OmitValueType{},
			Detail: `"api.dc2.peer:1234" is service "api.dc2.peer"; for a peer write api.svc.dc2.peer:1234 (upstream-annotation-unlabeled-peer)`}},
		"upstream-annotation-duplicate": {{Type: field.ErrorTypeDuplicate, Field: at, BadValue: field.OmitValueType{},
			Detail: `"db:1234": port 1234 also bound by "api.dc2.peer:1234"; Consul refuses both (upstream-annotation-duplicate)`}},
		"upstream-annotation-syntax": {{Type: field.ErrorTypeInvalid, Field: at, BadValue: field.OmitValueType{},
			Detail: `"db:x": no container port named "x"; registration fails (upstream-annotation-syntax)`}},
	}
	got := map[string]field.ErrorList{}
	for _, v := range res.Violations {
		got[v.Rule] = append(got[v.Rule], v.Error)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("violations:\n got  %v\n want %v", got, want)
	}
	if q := validators.ParseUpstreamAnnotation("db:x", offOpts.AnnotationOptions)[0].Quoted(); q != `"db:x"` {
		t.Errorf("Quoted = %s", q)
	}
}

// TestAnnotationMessagesAreShort keeps the common findings short: a warning carries at most
// 120 characters, the annotation's path and the rule name included.
func TestAnnotationMessagesAreShort(t *testing.T) {
	for _, e := range judgeAnnotation(t, "api.dc2.peer:9090,api.svc.dc_2.peer:1,db:x,api.svc.dc2.peer:9090:dc=dc3", offOpts) {
		for _, p := range e.Problems {
			if n := utf8.RuneCountInString(p.Detail); n > 110 {
				t.Errorf("%d runes: %s", n, p.Detail)
			}
		}
	}
}

// TestSyntaxMessagesOfInvalidBytesAreBounded: an invalid byte is escaped to four, so a quote
// is bounded once escaped; an entry and a port of nothing but invalid bytes still give a
// message of a few hundred bytes (two inputs the fuzzer found gave more).
func TestSyntaxMessagesOfInvalidBytesAreBounded(t *testing.T) {
	junk := strings.Repeat("\xff", 500)
	for _, value := range []string{junk + ":" + junk, "api:" + junk, "api:9090:" + junk} {
		for _, e := range validators.ParseUpstreamAnnotation(value, validators.AnnotationOptions{}) {
			if len(e.Syntax) == 0 {
				t.Errorf("%d bytes of invalid entry parsed without a syntax problem", len(value))
			}
			for _, d := range e.Syntax {
				if len(d) > 400 {
					t.Errorf("syntax problem of %d bytes: %q", len(d), d)
				}
			}
		}
	}
}

func TestContainerPorts(t *testing.T) {
	spec := &corev1.PodSpec{
		InitContainers: []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "init", ContainerPort: 1}}}},
		Containers: []corev1.Container{
			{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {ContainerPort: 9999}}},
			{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8081}, {Name: "grpc", ContainerPort: 9090}}},
		},
	}
	want := map[string]int32{"http": 8080, "grpc": 9090}
	if got := validators.ContainerPorts(spec); !reflect.DeepEqual(got, want) {
		t.Errorf("ContainerPorts = %v, want %v", got, want)
	}
	if got := validators.ContainerPorts(&corev1.PodSpec{}); got != nil {
		t.Errorf("ContainerPorts of no containers = %v, want nil", got)
	}
}

func TestParseAnnotationGrammar(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    validators.AnnotationGrammar
		err     bool
	}{
		{"", validators.AnnotationGrammar2, false},
		{"1.6.2", validators.AnnotationGrammar1, false},
		{"v1.9.11", validators.AnnotationGrammar1, false},
		{"1.4", validators.AnnotationGrammar1, false},
		{"0.49.8", validators.AnnotationGrammar1, false},
		{"1.9.0+ent", validators.AnnotationGrammar1, false},
		{"2.0.0-rc1", validators.AnnotationGrammar2, false},
		{"2.0.3", validators.AnnotationGrammar2, false},
		{"3.1.0", validators.AnnotationGrammar2, false},
		{"latest", 0, true},
		{"2", 0, true},
	} {
		got, err := validators.ParseAnnotationGrammar(tc.version)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseAnnotationGrammar(%q) = %v, %v; want %v, error %v", tc.version, got, err, tc.want, tc.err)
		}
	}
	if s := validators.AnnotationGrammar1.String(); s != "consul-k8s 1.x" {
		t.Errorf("AnnotationGrammar1 = %q", s)
	}
	if s := validators.AnnotationGrammar2.String(); s != "consul-k8s 2.x" {
		t.Errorf("AnnotationGrammar2 = %q", s)
	}
}

// FuzzParseUpstreamAnnotation feeds arbitrary annotations under every setting: the parser
// never panics, stays within its bounds, its syntax problems read as single lines, and the
// rules judge what it parsed without panicking.
func FuzzParseUpstreamAnnotation(f *testing.F) {
	for _, s := range []string{
		"api:1234", "api.svc.dc2.peer:9090,db:5432", "api.svc.billing.ns.dc2.peer:http:mesh_gateway_mode=local&dc=dc3",
		"prepared_query:geo:8200", "api.dc2.peer:1234 db:1", "api:1234:dc3?port=grpc;local_bind_address=::1",
		",,,", "api:0100", "*:1", "api.svc..peer:1", "api:1234:%zz", "é.svc.ü.peer:1:\x00",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(0xff))
	}
	f.Fuzz(func(t *testing.T, value string, flags uint8) {
		opts := validators.AnnotationOptions{
			NamespacesEnabled: flags&1 != 0,
			PartitionsEnabled: flags&2 != 0,
			ContainerPorts:    map[string]int32{"http": 8080},
		}
		if flags&4 != 0 {
			opts.Grammar = validators.AnnotationGrammar1
		}
		start := time.Now()
		got := validators.ParseUpstreamAnnotation(value, opts)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%d bytes took %v", len(value), d)
		}
		if len(got) > validators.MaxAnnotationEntries+1 {
			t.Fatalf("%d entries", len(got))
		}
		for i, e := range got {
			if e.Index != i {
				t.Errorf("entry %d has index %d", i, e.Index)
			}
			if len(e.Raw) > validators.MaxAnnotationEntryLength+len("…") {
				t.Errorf("entry %d keeps %d bytes", i, len(e.Raw))
			}
			for _, d := range e.Syntax {
				if strings.ContainsAny(d, "\n\r") || len(d) > 400 {
					t.Errorf("entry %d: syntax problem of %d bytes or on several lines: %q", i, len(d), d)
				}
			}
			if len(e.Syntax) == 0 && (e.LocalBindPort < 1 || e.LocalBindPort > 65535 || e.Service == "" && e.PreparedQuery == "") {
				t.Errorf("entry %d without syntax problems registers no upstream: %+v", i, e)
			}
		}
		if again := validators.ParseUpstreamAnnotation(value, opts); !reflect.DeepEqual(again, got) {
			t.Errorf("two parses differ")
		}
		judged := annotationOpts{AnnotationOptions: opts}
		if flags&8 != 0 {
			judged.known = []string{"dc2"}
		}
		for _, e := range judgeAnnotation(t, value, judged) {
			for _, p := range e.Problems {
				if strings.ContainsAny(p.Detail, "\n\r") {
					t.Errorf("%s finding on several lines: %q", p.Rule, p.Detail)
				}
			}
		}
	})
}

// BenchmarkParseUpstreamAnnotation measures the parser on annotations of realistic entries,
// reporting the cost of one entry.
func BenchmarkParseUpstreamAnnotation(b *testing.B) {
	forms := []string{
		"api-%d.svc.default.ns.cluster-02.peer:%d",
		"db-%d:%d",
		"cache-%d.svc.billing.ns.cluster-03.peer:%d:mesh_gateway_mode=local",
		"geo-%d.svc.billing.ns.dc3.dc:%d",
	}
	opts := validators.AnnotationOptions{NamespacesEnabled: true, ContainerPorts: map[string]int32{"http": 8080}}
	for _, n := range []int{1, 10, 100} {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(forms[i%len(forms)], i, 10000+i)
		}
		value := strings.Join(parts, ", ")
		for _, e := range judgeAnnotation(b, value, annotationOpts{AnnotationOptions: opts}) {
			if len(e.Problems) > 0 {
				b.Fatalf("the benchmark measures valid entries: %+v", e.Problems[0])
			}
		}
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				validators.ParseUpstreamAnnotation(value, opts)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
		})
	}
}

// TestAnnotationDocumentedExamples keeps the examples of docs/rules/upstream-annotation.md
// true: the rules each entry of the wrong example breaks, and none for the right ones.
func TestAnnotationDocumentedExamples(t *testing.T) {
	wrong := "backend.cluster-02.peer:9090, billing.svc.cluster-02.peer:9091 ledger.svc.cluster-02.peer:9092, " +
		"audit.svc.cluster_02.peer:9093, search.svc.cluster-02.peer:9094:dc=dc2, " +
		"geo.svc.cluster-02.peer:9095:mesh_gateway_mode=none, cache:9090, reports.billing:9096, " +
		"metrics.svc.monitoring.ns:9097, stats:0100"
	want := [][]string{
		{"upstream-annotation-unlabeled-peer"},
		{"upstream-annotation-syntax"},
		{"upstream-peer-name-syntax"},
		{"upstream-peer-datacenter-exclusive"},
		{"gateway-mode-none-peer-upstream"},
		{"upstream-annotation-duplicate"},
		{"upstream-namespace-needs-namespaces"},
		{"upstream-annotation-syntax"},
		{"upstream-annotation-syntax"},
	}
	opts := knownPeers(offOpts, "cluster-02")
	opts.ContainerPorts = map[string]int32{"http": 8080}
	got := judgeAnnotation(t, wrong, opts)
	var rules [][]string
	for _, e := range got {
		var r []string
		for _, p := range e.Problems {
			r = append(r, p.Rule)
		}
		rules = append(rules, r)
	}
	if !reflect.DeepEqual(rules, want) {
		t.Errorf("wrong example: rules %v, want %v%s", rules, want, dumpEntries(got))
	}
	for _, right := range []struct {
		value string
		opts  annotationOpts
	}{
		{"backend.svc.cluster-02.peer:9090, billing.svc.cluster-02.peer:9091, " +
			"ledger.svc.cluster-02.peer:9092:mesh_gateway_mode=local, cache:9190, reports:9096, stats:http", opts},
		{"backend.svc.default.ns.cluster-02.peer:9090, billing.svc.payments.ns.cluster-02.peer:9091, " +
			"ledger.svc.payments.ns.ap2.ap:9092, reports.payments:9096", knownPeers(onOpts, "cluster-02")},
	} {
		for _, e := range judgeAnnotation(t, right.value, right.opts) {
			if len(e.Problems) > 0 {
				t.Errorf("right example %q: %+v", right.value, e.Problems)
			}
		}
	}
}

// TestAnnotationCostIsLinear gates the parser's cost deterministically, by allocations: an
// entry costs the same in a list of 10 as in a list of 500.
func TestAnnotationCostIsLinear(t *testing.T) {
	perEntry := func(n int) float64 {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf("api-%d.svc.cluster-02.peer:%d", i, 10000+i)
		}
		value := strings.Join(parts, ",")
		return testing.AllocsPerRun(20, func() { validators.ParseUpstreamAnnotation(value, offOpts.AnnotationOptions) }) / float64(n)
	}
	small, large := perEntry(10), perEntry(500)
	if large > small+1 {
		t.Errorf("%.1f allocations per entry among 500, %.1f among 10", large, small)
	}
}
