package validators

import (
	"cmp"
	"strings"
)

// The keys Consul reads from a proxy's opaque config (ProxyDefaults spec.config), as facts
// taken from Consul's sources for the versions we support (1.14 and later): the union of
// every version, so that a key one supported version reads is never called unknown.
//
//   - agent/xds/config.go (1.14, 1.15) and agent/xds/config/config.go (1.16 and later):
//     ProxyConfig, GatewayConfig and XDSCommonConfig, decoded by mapstructure with weakly
//     typed input and two decode hooks (a one-element list stands for its element; alias
//     keys are renamed);
//   - command/connect/envoy/bootstrap_config.go: BootstrapConfig, decoded by plain
//     mapstructure.WeakDecode (no hooks) by `consul connect envoy` and consul-dataplane;
//   - agent/structs/config_entry.go: ProxyConfigEntry.Normalize decodes protocol when the
//     entry is written (plain WeakDecode), so Consul refuses the entry when it does not decode.
//
// mapstructure matches a key to a field exactly first, then case-insensitively, so
// "Protocol" is read as "protocol"; lookups here fold case for the same reason.

// configType is the Go type Consul decodes a key into, and so what it accepts.
type configType int

const (
	cfgString        configType = iota // string: strings, numbers and booleans
	cfgInt                             // int or *int: numbers, booleans, strings strconv.ParseInt reads
	cfgUint32                          // *uint32: numbers, booleans, strings strconv.ParseUint reads in 32 bits
	cfgBool                            // bool: booleans, numbers, strings strconv.ParseBool reads, ""
	cfgStringList                      // []string: a list of strings, or one string
	cfgBindAddresses                   // map[string]{Address string, Port int}
	cfgJSONObject                      // escape hatch: a string holding one JSON object
	cfgJSONObjects                     // escape hatch: a string holding JSON objects separated by commas
	cfgTemplate                        // escape hatch: a string holding a Go text/template
)

// configReader is the part of Consul that decodes a key.
type configReader int

const (
	readerXDS       configReader = iota // the agent or server building Envoy's xDS resources
	readerBootstrap                     // consul connect envoy / consul-dataplane writing Envoy's bootstrap
	// readerConfigEntry: Consul's servers decode the key when the entry is written (newer
	// versions' ProxyConfigEntry.Normalize reads protocol with plain mapstructure.WeakDecode,
	// no hooks) and refuse the entry when it does not decode; the xDS side reads it too.
	readerConfigEntry
)

// proxyConfigKey describes one key Consul reads.
type proxyConfigKey struct {
	Name   string
	Type   configType
	Reader configReader
	// Allowed restricts the decoded string to these values ("" always allowed: the default).
	Allowed []string
	// FoldCase: Consul lower-cases the value before comparing it with Allowed.
	FoldCase bool
	// AliasOf is set on a deprecated name Consul renames to this key.
	AliasOf string
}

// escapeHatch reports whether the value is JSON (or a template) for Envoy.
func (k *proxyConfigKey) escapeHatch() bool {
	return k.Type == cfgJSONObject || k.Type == cfgJSONObjects || k.Type == cfgTemplate
}

// canonical is the key Consul reads the value as: the key an alias renames to, else the key.
func (k *proxyConfigKey) canonical() string { return cmp.Or(k.AliasOf, k.Name) }

// proxyConfigKeys is every key of ProxyConfig, XDSCommonConfig, GatewayConfig and
// BootstrapConfig in Consul 1.14 and later.
var proxyConfigKeys = []proxyConfigKey{
	// ProxyConfig: sidecars.
	{Name: "protocol", Type: cfgString, Reader: readerConfigEntry, Allowed: []string{"tcp", "http", "http2", "grpc"}, FoldCase: true},
	{Name: "bind_address", Type: cfgString},
	{Name: "bind_port", Type: cfgInt},
	{Name: "local_connect_timeout_ms", Type: cfgInt},
	{Name: "local_request_timeout_ms", Type: cfgInt},
	{Name: "local_idle_timeout_ms", Type: cfgInt},
	{Name: "max_inbound_connections", Type: cfgInt},
	{Name: "balance_inbound_connections", Type: cfgString, Allowed: []string{"exact_balance"}},
	{Name: "max_request_headers_kb", Type: cfgUint32},
	{Name: "envoy_public_listener_json", Type: cfgJSONObject},
	{Name: "envoy_listener_tracing_json", Type: cfgJSONObject},
	{Name: "envoy_local_cluster_json", Type: cfgJSONObject},

	// XDSCommonConfig: sidecars and gateways.
	{Name: "xds_fetch_timeout_ms", Type: cfgInt},

	// GatewayConfig: mesh, terminating and ingress gateways.
	{Name: "envoy_gateway_bind_tagged_addresses", Type: cfgBool},
	{Name: "envoy_mesh_gateway_bind_tagged_addresses", Type: cfgBool, AliasOf: "envoy_gateway_bind_tagged_addresses"},
	{Name: "envoy_gateway_bind_addresses", Type: cfgBindAddresses},
	{Name: "envoy_mesh_gateway_bind_addresses", Type: cfgBindAddresses, AliasOf: "envoy_gateway_bind_addresses"},
	{Name: "envoy_gateway_no_default_bind", Type: cfgBool},
	{Name: "envoy_mesh_gateway_no_default_bind", Type: cfgBool, AliasOf: "envoy_gateway_no_default_bind"},
	{Name: "envoy_dns_discovery_type", Type: cfgString, Allowed: []string{"LOGICAL_DNS", "STRICT_DNS"}, FoldCase: true},
	{Name: "connect_timeout_ms", Type: cfgInt},
	{Name: "envoy_gateway_remote_tcp_enable_keepalive", Type: cfgBool},
	{Name: "envoy_gateway_remote_tcp_keepalive_time", Type: cfgInt},
	{Name: "envoy_gateway_remote_tcp_keepalive_interval", Type: cfgInt},
	{Name: "envoy_gateway_remote_tcp_keepalive_probes", Type: cfgInt},

	// BootstrapConfig: Envoy's bootstrap, every proxy kind.
	{Name: "envoy_statsd_url", Type: cfgString, Reader: readerBootstrap},
	{Name: "envoy_dogstatsd_url", Type: cfgString, Reader: readerBootstrap},
	{Name: "envoy_stats_tags", Type: cfgStringList, Reader: readerBootstrap},
	{Name: "envoy_prometheus_bind_addr", Type: cfgString, Reader: readerBootstrap},
	{Name: "envoy_stats_bind_addr", Type: cfgString, Reader: readerBootstrap},
	{Name: "envoy_stats_flush_interval", Type: cfgString, Reader: readerBootstrap},
	{Name: "envoy_hcp_metrics_bind_socket_dir", Type: cfgString, Reader: readerBootstrap},
	{Name: "envoy_telemetry_collector_bind_socket_dir", Type: cfgString, Reader: readerBootstrap},
	{Name: "envoy_bootstrap_json_tpl", Type: cfgTemplate, Reader: readerBootstrap},
	{Name: "envoy_extra_static_clusters_json", Type: cfgJSONObjects, Reader: readerBootstrap},
	{Name: "envoy_extra_static_listeners_json", Type: cfgJSONObjects, Reader: readerBootstrap},
	{Name: "envoy_extra_stats_sinks_json", Type: cfgJSONObjects, Reader: readerBootstrap},
	{Name: "envoy_stats_config_json", Type: cfgJSONObject, Reader: readerBootstrap},
	{Name: "envoy_tracing_json", Type: cfgJSONObject, Reader: readerBootstrap},
}

// misplacedProxyConfigSettings are keys Consul reads somewhere else than a proxy's top-level
// config, with where they belong: the commonest reason for one to end up in spec.config.
var misplacedProxyConfigSettings = map[string]string{ //nolint:gosec // G101 matches "pass" in passive_health_check: key names, no credentials
	"envoy_listener_json":   "an upstream setting: use ServiceDefaults upstreamConfig envoyListenerJSON",
	"envoy_cluster_json":    "an upstream setting: use ServiceDefaults upstreamConfig envoyClusterJSON",
	"limits":                "an upstream setting: use ServiceDefaults upstreamConfig limits",
	"passive_health_check":  "an upstream setting: use ServiceDefaults upstreamConfig passiveHealthCheck",
	"local_service_address": "read only by Consul's built-in proxy, which consul-k8s does not run",
	"handshake_timeout_ms":  "read only by Consul's built-in proxy, which consul-k8s does not run",
	"tcp_check_address":     "read only by Consul's built-in proxy, which consul-k8s does not run",
	"disable_tcp_check":     "read only by Consul's built-in proxy, which consul-k8s does not run",
}

// proxyConfigKeyIndex finds a key's description by its lower-cased name.
var proxyConfigKeyIndex = func() map[string]*proxyConfigKey {
	m := make(map[string]*proxyConfigKey, len(proxyConfigKeys))
	for i := range proxyConfigKeys {
		k := &proxyConfigKeys[i]
		if _, dup := m[k.Name]; dup || k.Name != strings.ToLower(k.Name) {
			panic("validators: proxy config key listed twice or not lower case: " + k.Name)
		}
		m[k.Name] = k
	}
	return m
}()

// lookupProxyConfigKey returns the description of a key as Consul matches it (ignoring
// case), or nil when Consul does not read it.
func lookupProxyConfigKey(name string) *proxyConfigKey {
	if k := proxyConfigKeyIndex[name]; k != nil {
		return k
	}
	return proxyConfigKeyIndex[strings.ToLower(name)]
}
