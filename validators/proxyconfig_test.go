package validators_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// pdConfig is ProxyDefaults global with spec.config set to the given JSON.
func pdConfig(config string) *v1alpha1.ProxyDefaults {
	p := pd("global", "")
	p.Spec.Config = json.RawMessage(config)
	return p
}

// configCase checks one proxy-config rule against one spec.config: want lists every error
// of that rule as a whole field.Error (type, field, value, detail without the rule suffix),
// in order; an empty want is a passing case.
type configCase struct {
	name   string
	rule   string
	config string
	want   field.ErrorList
}

func runConfigCases(t *testing.T, cases []configCase) {
	t.Helper()
	engine := mustEngine(t, validators.Config{})
	for _, tc := range cases {
		t.Run(tc.rule+"/"+tc.name, func(t *testing.T) {
			r := validators.RuleByName(tc.rule)
			if r == nil {
				t.Fatalf("case names unknown rule %q", tc.rule)
			}
			res, err := engine.Validate(validators.Create, pdConfig(tc.config), nil, newIndex(true))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			var got []field.Error
			for _, v := range res.Violations {
				if v.Rule != tc.rule {
					continue
				}
				if v.Action != r.DefaultAction {
					t.Errorf("%s reported as %s, want %s", v.Error.Field, v.Action, r.DefaultAction)
				}
				got = append(got, *v.Error)
			}
			var want []field.Error
			for _, fe := range tc.want {
				w := *fe
				w.Detail += " (" + tc.rule + ")"
				want = append(want, w)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s errors:\n got  %s\n want %s", tc.rule, renderErrors(got), renderErrors(want))
			}
			checkRendering(t, res)
			if len(tc.want) > 0 {
				failingCases[tc.rule]++
			} else {
				passingCases[tc.rule]++
			}
		})
	}
}

func renderErrors(errs []field.Error) string {
	var b strings.Builder
	for _, fe := range errs {
		fmt.Fprintf(&b, "\n    %s %s %#v %q", fe.Type, fe.Field, fe.BadValue, fe.Detail)
	}
	return b.String()
}

// configKey is the path of a key under spec.config, and of fields under it.
func configKey(key ...string) *field.Path {
	p := field.NewPath("spec", "config")
	for _, k := range key {
		p = p.Child(k)
	}
	return p
}

var omit = field.OmitValueType{}

// meshGatewayConfig is a realistic mesh gateway configuration from Consul's documented
// gateway options and escape hatches, written as consul-k8s users write it.
const meshGatewayConfig = `{
  "envoy_gateway_bind_addresses": {
    "lan": {"address": "0.0.0.0", "port": 8443},
    "wan": {"address": "10.0.0.12", "port": "8444"}
  },
  "envoy_gateway_no_default_bind": true,
  "envoy_gateway_bind_tagged_addresses": "false",
  "envoy_gateway_remote_tcp_enable_keepalive": true,
  "envoy_gateway_remote_tcp_keepalive_time": 120,
  "envoy_gateway_remote_tcp_keepalive_interval": "30",
  "envoy_gateway_remote_tcp_keepalive_probes": 3,
  "connect_timeout_ms": "5000",
  "envoy_dns_discovery_type": "STRICT_DNS",
  "protocol": "http2",
  "local_connect_timeout_ms": 1000,
  "local_request_timeout_ms": 0,
  "local_idle_timeout_ms": 300000,
  "max_inbound_connections": 1024,
  "balance_inbound_connections": "exact_balance",
  "max_request_headers_kb": "96",
  "xds_fetch_timeout_ms": 15000,
  "bind_address": "0.0.0.0",
  "bind_port": 21000,
  "envoy_prometheus_bind_addr": "0.0.0.0:20200",
  "envoy_stats_bind_addr": "0.0.0.0:9102",
  "envoy_statsd_url": "udp://127.0.0.1:9125",
  "envoy_dogstatsd_url": "unix:///var/run/dogstatsd.sock",
  "envoy_stats_tags": ["cluster=dc1", "team=platform"],
  "envoy_stats_flush_interval": "10s",
  "envoy_telemetry_collector_bind_socket_dir": "/consul/telemetry",
  "envoy_tracing_json": "{\"http\": {\"name\": \"envoy.tracers.zipkin\", \"typedConfig\": {\"@type\": \"type.googleapis.com/envoy.config.trace.v3.ZipkinConfig\", \"collector_cluster\": \"zipkin\", \"collector_endpoint\": \"/api/v2/spans\"}}}",
  "envoy_extra_static_clusters_json": "{\"name\": \"zipkin\", \"type\": \"STRICT_DNS\", \"connect_timeout\": \"5s\"},\n{\"name\": \"jaeger\", \"type\": \"STRICT_DNS\", \"connect_timeout\": \"5s\"}",
  "envoy_extra_static_listeners_json": "{\"name\": \"extra\"}",
  "envoy_extra_stats_sinks_json": "{\"name\": \"envoy.stat_sinks.statsd\"}",
  "envoy_stats_config_json": "{\"stats_tags\": [{\"tag_name\": \"team\", \"fixed_value\": \"platform\"}]}",
  "envoy_public_listener_json": "{\"@type\": \"type.googleapis.com/envoy.config.listener.v3.Listener\", \"name\": \"public_listener\"}",
  "envoy_listener_tracing_json": "{\"provider\": {\"name\": \"envoy.tracers.zipkin\"}, \"random_sampling\": {\"value\": 50}}",
  "envoy_local_cluster_json": "{\"name\": \"local_app\", \"connect_timeout\": \"5s\"}",
  "envoy_bootstrap_json_tpl": "{\"admin\": {\"address\": {\"socket_address\": {\"address\": \"{{ .AdminBindAddress }}\", \"port_value\": {{ .AdminBindPort }}}}}}"
}`

func TestProxyConfigDecodes(t *testing.T) {
	const rule = "proxy-config-decodes"
	p := configKey
	runConfigCases(t, []configCase{
		{name: "documented mesh gateway options", rule: rule, config: meshGatewayConfig},
		{name: "no config", rule: rule, config: ``},
		{name: "null config", rule: rule, config: `null`},
		{name: "empty config", rule: rule, config: `{}`},
		{name: "null values keep the defaults", rule: rule,
			config: `{"protocol": null, "local_connect_timeout_ms": null, "envoy_gateway_bind_addresses": null}`},

		// Integers.
		{name: "integer written as a string", rule: rule, config: `{"local_connect_timeout_ms": "5000"}`},
		{name: "integer in other bases and with underscores", rule: rule,
			config: `{"local_connect_timeout_ms": "0x1388", "connect_timeout_ms": "5_000", "bind_port": "0o777"}`},
		{name: "integer from a boolean, a fraction and an empty string", rule: rule,
			config: `{"bind_port": true, "local_connect_timeout_ms": 2500.7, "connect_timeout_ms": ""}`},
		{name: "one-element list stands for its element (xDS hook)", rule: rule,
			config: `{"local_connect_timeout_ms": [5000], "bind_address": ["0.0.0.0"]}`},
		{name: "protocol in a one-element list (the entry write decodes it without the hook)", rule: rule,
			config: `{"protocol": ["http"]}`,
			want:   field.ErrorList{field.Invalid(p("protocol"), omit, "want a string, not a list")}},
		{name: "duration string for milliseconds", rule: rule, config: `{"local_connect_timeout_ms": "5s"}`,
			want: field.ErrorList{field.Invalid(p("local_connect_timeout_ms"), "5s",
				"not a whole number: write a whole number of milliseconds, such as 5000")}},
		{name: "decimal string", rule: rule, config: `{"connect_timeout_ms": "5000.0"}`,
			want: field.ErrorList{field.Invalid(p("connect_timeout_ms"), "5000.0",
				"not a whole number: write a whole number of milliseconds, such as 5000")}},
		{name: "string beyond int64", rule: rule, config: `{"bind_port": "99999999999999999999"}`,
			want: field.ErrorList{field.Invalid(p("bind_port"), "99999999999999999999",
				"out of range: write a whole number")}},
		{name: "object for an integer", rule: rule, config: `{"local_request_timeout_ms": {"seconds": 5}}`,
			want: field.ErrorList{field.Invalid(p("local_request_timeout_ms"), omit,
				"an object, not a number: write a whole number of milliseconds, such as 5000")}},
		{name: "two-element list for an integer", rule: rule, config: `{"xds_fetch_timeout_ms": [1, 2]}`,
			want: field.ErrorList{field.Invalid(p("xds_fetch_timeout_ms"), omit,
				"a list, not a number: write a whole number of milliseconds, such as 5000")}},
		{name: "case-insensitive key is read and checked", rule: rule, config: `{"Local_Connect_Timeout_MS": "5s"}`,
			want: field.ErrorList{field.Invalid(p("Local_Connect_Timeout_MS"), "5s",
				"not a whole number: write a whole number of milliseconds, such as 5000")}},

		// Unsigned 32-bit integers.
		{name: "uint32 within range", rule: rule, config: `{"max_request_headers_kb": "4294967295"}`},
		{name: "uint32 overflow", rule: rule, config: `{"max_request_headers_kb": "4294967296"}`,
			want: field.ErrorList{field.Invalid(p("max_request_headers_kb"), "4294967296",
				"out of range: write a whole number of kilobytes, such as 96")}},
		{name: "uint32 negative string", rule: rule, config: `{"max_request_headers_kb": "-1"}`,
			want: field.ErrorList{field.Invalid(p("max_request_headers_kb"), "-1",
				"not a whole number: write a whole number of kilobytes, such as 96")}},

		// Booleans.
		{name: "booleans in every weak form", rule: rule,
			config: `{"envoy_gateway_no_default_bind": "T", "envoy_gateway_bind_tagged_addresses": 1, "envoy_gateway_remote_tcp_enable_keepalive": ""}`},
		{name: "boolean maybe", rule: rule, config: `{"envoy_gateway_bind_tagged_addresses": "maybe"}`,
			want: field.ErrorList{field.Invalid(p("envoy_gateway_bind_tagged_addresses"), "maybe",
				"not a boolean: write true or false")}},
		{name: "boolean yes (strconv.ParseBool refuses it)", rule: rule, config: `{"envoy_gateway_no_default_bind": "yes"}`,
			want: field.ErrorList{field.Invalid(p("envoy_gateway_no_default_bind"), "yes",
				"not a boolean: write true or false")}},
		{name: "boolean as an object", rule: rule, config: `{"envoy_gateway_remote_tcp_enable_keepalive": {}}`,
			want: field.ErrorList{field.Invalid(p("envoy_gateway_remote_tcp_enable_keepalive"), omit,
				"want true or false, not an object")}},
		{name: "deprecated alias read and checked", rule: rule,
			config: `{"envoy_mesh_gateway_bind_tagged_addresses": true, "envoy_mesh_gateway_no_default_bind": "maybe"}`,
			want: field.ErrorList{field.Invalid(p("envoy_mesh_gateway_no_default_bind"), "maybe",
				"not a boolean: write true or false")}},

		// Strings and enumerations.
		{name: "strings from numbers and booleans", rule: rule, config: `{"bind_address": 5, "envoy_stats_flush_interval": true}`},
		{name: "protocol in any case (Consul lower-cases it)", rule: rule, config: `{"protocol": "GRPC"}`},
		{name: "protocol outside the set", rule: rule, config: `{"protocol": "https"}`,
			want: field.ErrorList{field.NotSupported(p("protocol"), "https", []string{"tcp", "http", "http2", "grpc"})}},
		{name: "protocol as an object", rule: rule, config: `{"protocol": {"name": "http"}}`,
			want: field.ErrorList{field.Invalid(p("protocol"), omit, "want a string, not an object")}},
		{name: "dns discovery type lower case", rule: rule, config: `{"envoy_dns_discovery_type": "logical_dns"}`},
		{name: "dns discovery type outside the set", rule: rule, config: `{"envoy_dns_discovery_type": "EDS"}`,
			want: field.ErrorList{field.NotSupported(p("envoy_dns_discovery_type"), "EDS", []string{"LOGICAL_DNS", "STRICT_DNS"})}},
		{name: "connection balance is case-sensitive", rule: rule, config: `{"balance_inbound_connections": "EXACT_BALANCE"}`,
			want: field.ErrorList{field.NotSupported(p("balance_inbound_connections"), "EXACT_BALANCE", []string{"exact_balance"})}},
		{name: "empty enumerations are the default", rule: rule,
			config: `{"protocol": "", "balance_inbound_connections": "", "envoy_dns_discovery_type": ""}`},
		{name: "bootstrap keys get no list unwrapping", rule: rule, config: `{"envoy_statsd_url": ["udp://127.0.0.1:9125"]}`,
			want: field.ErrorList{field.Invalid(p("envoy_statsd_url"), omit, "want a string, not a list")}},

		// String lists.
		{name: "one string for a list", rule: rule, config: `{"envoy_stats_tags": "team=platform"}`},
		{name: "empty object for a list", rule: rule, config: `{"envoy_stats_tags": {}}`},
		{name: "object for a list", rule: rule, config: `{"envoy_stats_tags": {"team": "platform"}}`,
			want: field.ErrorList{field.Invalid(p("envoy_stats_tags"), omit, "want a list of strings, not an object")}},
		{name: "object in a list", rule: rule, config: `{"envoy_stats_tags": ["a=b", {"c": "d"}, 3]}`,
			want: field.ErrorList{field.Invalid(p("envoy_stats_tags").Index(1), omit, "want a string, not an object")}},

		// Gateway bind addresses.
		{name: "bind addresses as a list of maps (merged)", rule: rule,
			config: `{"envoy_gateway_bind_addresses": [{"a": {"address": "0.0.0.0", "port": 1}}, {"b": {"Address": "::", "Port": 2}}]}`},
		{name: "bind addresses as a string", rule: rule, config: `{"envoy_gateway_bind_addresses": "0.0.0.0:8443"}`,
			want: field.ErrorList{field.Invalid(p("envoy_gateway_bind_addresses"), "0.0.0.0:8443",
				"want a map of name: {address, port}, not a string")}},
		{name: "bind address as host:port", rule: rule, config: `{"envoy_gateway_bind_addresses": {"public": "0.0.0.0:8443"}}`,
			want: field.ErrorList{field.Invalid(p("envoy_gateway_bind_addresses", "public"), "0.0.0.0:8443",
				"want {address, port}, not a string")}},
		{name: "bind address without port, empty address, port out of range", rule: rule,
			config: `{"envoy_gateway_bind_addresses": {"a": {"address": "0.0.0.0"}, "b": {"address": "", "port": 70000}}}`,
			want: field.ErrorList{
				field.Required(p("envoy_gateway_bind_addresses", "a", "port"), "the port Envoy listens on, 1 to 65535"),
				field.Required(p("envoy_gateway_bind_addresses", "b", "address"), "the IP address Envoy listens on, such as 0.0.0.0"),
				field.Invalid(p("envoy_gateway_bind_addresses", "b", "port"), float64(70000), "write a port number, 1 to 65535"),
			}},
		{name: "bind address with a named port and an object address", rule: rule,
			config: `{"envoy_mesh_gateway_bind_addresses": {"wan": {"Address": {"ip": "1.2.3.4"}, "port": "https"}}}`,
			want: field.ErrorList{
				field.Invalid(p("envoy_mesh_gateway_bind_addresses", "wan", "Address"), omit, "want an IP address, not an object"),
				field.Invalid(p("envoy_mesh_gateway_bind_addresses", "wan", "port"), "https", "not a whole number: write a port number, 1 to 65535"),
			}},
		{name: "bind address name with a dot", rule: rule,
			config: `{"envoy_gateway_bind_addresses": {"lan.v4": {"address": "0.0.0.0", "port": 0}}}`,
			want: field.ErrorList{field.Invalid(p("envoy_gateway_bind_addresses").Key("lan.v4").Child("port"), float64(0),
				"write a port number, 1 to 65535")}},

		// The config itself, and what the other rules own.
		{name: "config that is not an object", rule: rule, config: `["protocol", "http"]`,
			want: field.ErrorList{field.Invalid(field.NewPath("spec", "config"), omit,
				"want an object of key: value, not a list; Consul cannot read any of it")}},
		{name: "escape hatches and unknown keys are other rules'", rule: rule,
			config: `{"envoy_tracing_json": {"http": {}}, "protocoll": {"x": 1}}`},
		{name: "a spelling Consul ignores is not decoded", rule: rule, config: `{"protocol": "http", "Protocol": "bogus"}`},
	})
}

func TestProxyConfigEscapeHatchJSON(t *testing.T) {
	const rule = "proxy-config-escape-hatch-json"
	p := configKey
	runConfigCases(t, []configCase{
		{name: "documented escape hatches", rule: rule, config: meshGatewayConfig},
		{name: "empty strings leave them unset", rule: rule, config: `{"envoy_tracing_json": "", "envoy_extra_static_clusters_json": ""}`},
		{name: "one-element list (xDS hook)", rule: rule, config: `{"envoy_local_cluster_json": ["{\"name\": \"x\"}"]}`},
		{name: "object instead of a string", rule: rule, config: `{"envoy_tracing_json": {"http": {"name": "envoy.tracers.zipkin"}}}`,
			want: field.ErrorList{field.Invalid(p("envoy_tracing_json"), omit,
				"want a string holding JSON, not an object: write the JSON as a YAML block (key: |) or a quoted string")}},
		{name: "number instead of a string", rule: rule, config: `{"envoy_stats_config_json": 5}`,
			want: field.ErrorList{field.Invalid(p("envoy_stats_config_json"), float64(5), "want a string holding JSON, not a number")}},
		{name: "blank string", rule: rule, config: `{"envoy_public_listener_json": "  \n"}`,
			want: field.ErrorList{field.Invalid(p("envoy_public_listener_json"), "  \n", "blank: remove the key or give the JSON")}},
		{name: "invalid JSON", rule: rule, config: `{"envoy_local_cluster_json": "{\"name\": local_app}"}`,
			want: field.ErrorList{field.Invalid(p("envoy_local_cluster_json"), omit,
				"not valid JSON at byte 10: invalid character 'l' looking for beginning of value")}},
		{name: "list where Consul takes one object", rule: rule, config: `{"envoy_listener_tracing_json": "[{\"a\": 1}]"}`,
			want: field.ErrorList{field.Invalid(p("envoy_listener_tracing_json"), omit,
				"want one JSON object {...}, not a list: Consul takes a single object here")}},
		{name: "string where Consul takes an object", rule: rule, config: `{"envoy_stats_config_json": "\"stats\""}`,
			want: field.ErrorList{field.Invalid(p("envoy_stats_config_json"), omit, "want one JSON object {...}, not a string")}},
		{name: "objects list wrapped in brackets", rule: rule,
			config: `{"envoy_extra_static_clusters_json": "[{\"name\": \"a\"}, {\"name\": \"b\"}]"}`,
			want: field.ErrorList{field.Invalid(p("envoy_extra_static_clusters_json"), omit,
				"element 0 is a list, want JSON objects {...} separated by commas, without [ ] around them: Consul adds the list")}},
		{name: "objects list with a number", rule: rule, config: `{"envoy_extra_stats_sinks_json": "{\"name\": \"a\"}, 7"}`,
			want: field.ErrorList{field.Invalid(p("envoy_extra_stats_sinks_json"), omit,
				"element 1 is a number, want JSON objects {...} separated by commas")}},
		{name: "objects list with a trailing comma", rule: rule, config: `{"envoy_extra_static_listeners_json": "{\"name\": \"a\"},"}`,
			want: field.ErrorList{field.Invalid(p("envoy_extra_static_listeners_json"), omit,
				"not valid JSON: it ends too early (a missing } or ], or a trailing comma) (objects separated by commas)")}},
		{name: "bootstrap template that does not parse", rule: rule, config: `{"envoy_bootstrap_json_tpl": "{\"admin\": {{ .AdminBindAddress }"}`,
			want: field.ErrorList{field.Invalid(p("envoy_bootstrap_json_tpl"), omit,
				`not a Go template: envoy_bootstrap_json_tpl:1: unexpected "}" in operand`)}},
		{name: "bootstrap template as an object", rule: rule, config: `{"ENVOY_BOOTSTRAP_JSON_TPL": {"admin": {}}}`,
			want: field.ErrorList{field.Invalid(p("ENVOY_BOOTSTRAP_JSON_TPL"), omit,
				"want a string holding JSON, not an object: write the JSON as a YAML block (key: |) or a quoted string")}},
		{name: "upstream escape hatches are not proxy keys", rule: rule, config: `{"envoy_cluster_json": {"name": "x"}}`},
	})
}

func TestProxyConfigUnknownKey(t *testing.T) {
	const rule = "proxy-config-unknown-key"
	p := configKey
	var many strings.Builder
	many.WriteString("{")
	for i := 0; i < 60; i++ {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"unknown_%02d": 1`, i)
	}
	many.WriteString("}")
	var manyWant field.ErrorList
	for i := 0; i < 49; i++ {
		k := fmt.Sprintf("unknown_%02d", i)
		manyWant = append(manyWant, field.Invalid(p(k), k, "Consul's Envoy integration does not read this key and ignores it"))
	}
	manyWant = append(manyWant, field.Invalid(field.NewPath("spec", "config"), omit, "11 more findings like the ones above; fix those first"))

	runConfigCases(t, []configCase{
		{name: "every documented key", rule: rule, config: meshGatewayConfig},
		{name: "deprecated aliases and other cases are read", rule: rule,
			config: `{"envoy_mesh_gateway_bind_addresses": {}, "PROTOCOL": "http", "Envoy_Tracing_JSON": ""}`},
		{name: "typo", rule: rule, config: `{"protocoll": "http"}`,
			want: field.ErrorList{field.Invalid(p("protocoll"), "protocoll", "did you mean protocol? Consul ignores keys it does not read")}},
		{name: "gateway option typo", rule: rule, config: `{"envoy_gateway_bind_adresses": {}}`,
			want: field.ErrorList{field.Invalid(p("envoy_gateway_bind_adresses"), "envoy_gateway_bind_adresses",
				"did you mean envoy_gateway_bind_addresses? Consul ignores keys it does not read")}},
		{name: "camel case as in the CRD fields", rule: rule, config: `{"localConnectTimeoutMs": 5000}`,
			want: field.ErrorList{field.Invalid(p("localConnectTimeoutMs"), "localConnectTimeoutMs",
				"did you mean local_connect_timeout_ms? Consul ignores keys it does not read")}},
		{name: "upstream key in the proxy config", rule: rule, config: `{"envoy_cluster_json": "{}", "passive_health_check": {}}`,
			want: field.ErrorList{
				field.Invalid(p("envoy_cluster_json"), "envoy_cluster_json",
					"an upstream setting: use ServiceDefaults upstreamConfig envoyClusterJSON; Consul ignores it here"),
				field.Invalid(p("passive_health_check"), "passive_health_check",
					"an upstream setting: use ServiceDefaults upstreamConfig passiveHealthCheck; Consul ignores it here"),
			}},
		{name: "built-in proxy key", rule: rule, config: `{"local_service_address": "127.0.0.1:8080"}`,
			want: field.ErrorList{field.Invalid(p("local_service_address"), "local_service_address",
				"read only by Consul's built-in proxy, which consul-k8s does not run; Consul ignores it here")}},
		{name: "nothing close", rule: rule, config: `{"retries": 3, "a.b": true}`,
			want: field.ErrorList{
				field.Invalid(field.NewPath("spec", "config").Key("a.b"), "a.b", "Consul's Envoy integration does not read this key and ignores it"),
				field.Invalid(p("retries"), "retries", "Consul's Envoy integration does not read this key and ignores it"),
			}},
		{name: "another spelling of a key that is set", rule: rule,
			config: `{"protocol": "http", "Protocol": "grpc", "envoy_gateway_no_default_bind": true, "envoy_mesh_gateway_no_default_bind": false}`,
			want: field.ErrorList{
				field.Invalid(p("Protocol"), "Protocol", "ignored: Consul reads protocol, which is also set; remove one"),
				field.Invalid(p("envoy_mesh_gateway_no_default_bind"), "envoy_mesh_gateway_no_default_bind",
					"ignored: Consul reads envoy_gateway_no_default_bind, which is also set; remove one"),
			}},
		{name: "findings are capped", rule: rule, config: many.String(), want: manyWant},
	})
}

// Bad input of any size costs bounded work and never panics: deep nesting, long keys,
// many bad entries.
func TestProxyConfigBoundedWork(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	var wide strings.Builder
	wide.WriteString(`{"envoy_gateway_bind_addresses": {`)
	for i := 0; i < 20000; i++ {
		if i > 0 {
			wide.WriteString(",")
		}
		fmt.Fprintf(&wide, `"l%d": "x"`, i)
	}
	wide.WriteString(`}`)
	var keys strings.Builder
	keys.WriteString("{")
	for i := 0; i < 20000; i++ {
		if i > 0 {
			keys.WriteString(",")
		}
		fmt.Fprintf(&keys, `"%s%d": 1`, strings.Repeat("envoy_gateway_", 4), i)
	}
	for _, cfg := range []string{
		`{"envoy_tracing_json": ` + deep + `, "protocol": ` + deep + `, "x": ` + deep + `}`,
		`{"envoy_extra_static_clusters_json": ` + mustQuote(strings.Repeat("[", 100000)) + `}`,
		`{"envoy_bootstrap_json_tpl": ` + mustQuote(strings.Repeat("{{", 50000)) + `}`,
		`{"` + strings.Repeat("k", 1<<20) + `": 1}`,
		wide.String() + `}`,
		keys.String() + `}`,
	} {
		start := time.Now()
		res, err := mustEngine(t, validators.Config{}).Validate(validators.Create, pdConfig(cfg), nil, newIndex(true))
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		for _, rule := range []string{"proxy-config-decodes", "proxy-config-escape-hatch-json", "proxy-config-unknown-key"} {
			if n := len(hitsOf(res, rule)); n > 50 {
				t.Errorf("%s: %d findings, want at most 50", rule, n)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("config of %d bytes took %s", len(cfg), d)
		}
	}
}

func mustQuote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// FuzzProxyConfig validates arbitrary bytes as spec.config: no input may make a rule panic
// or render a finding the engine cannot show.
func FuzzProxyConfig(f *testing.F) {
	for _, s := range []string{
		meshGatewayConfig, `{}`, `null`, `[1]`, `{"local_connect_timeout_ms": "5s"}`,
		`{"envoy_gateway_bind_addresses": [{"a": {"address": "", "port": "x"}}, 1]}`,
		`{"envoy_extra_static_clusters_json": "[{}], 1"}`, `{"envoy_bootstrap_json_tpl": "{{"}`,
		`{"Protocol": "x", "protocol": ["a", "b"], "envoy_stats_tags": [{}]}`,
	} {
		f.Add([]byte(s))
	}
	engine := mustEngine(f, validators.Config{})
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := engine.Validate(validators.Create, pdConfig(string(data)), nil, newIndex(true))
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		checkRendering(t, res)
	})
}
