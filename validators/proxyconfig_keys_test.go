package validators

import (
	"slices"
	"strings"
	"testing"
)

// consulProxyConfigKeys is the key table's source, struct by struct, as read from Consul's
// agent/xds/config.go (1.14, 1.15), agent/xds/config/config.go (1.16 to main) and
// command/connect/envoy/bootstrap_config.go: a change of the table must change this too.
var consulProxyConfigKeys = map[string][]string{
	"ProxyConfig": {"envoy_public_listener_json", "envoy_listener_tracing_json", "envoy_local_cluster_json",
		"local_connect_timeout_ms", "local_request_timeout_ms", "local_idle_timeout_ms", "protocol",
		"bind_address", "bind_port", "max_inbound_connections", "balance_inbound_connections", "max_request_headers_kb"},
	"XDSCommonConfig": {"xds_fetch_timeout_ms"},
	"GatewayConfig": {"envoy_gateway_bind_tagged_addresses", "envoy_mesh_gateway_bind_tagged_addresses",
		"envoy_gateway_bind_addresses", "envoy_mesh_gateway_bind_addresses",
		"envoy_gateway_no_default_bind", "envoy_mesh_gateway_no_default_bind", "envoy_dns_discovery_type",
		"connect_timeout_ms", "envoy_gateway_remote_tcp_enable_keepalive", "envoy_gateway_remote_tcp_keepalive_time",
		"envoy_gateway_remote_tcp_keepalive_interval", "envoy_gateway_remote_tcp_keepalive_probes"},
	"BootstrapConfig": {"envoy_statsd_url", "envoy_dogstatsd_url", "envoy_stats_tags", "envoy_prometheus_bind_addr",
		"envoy_stats_bind_addr", "envoy_stats_flush_interval", "envoy_hcp_metrics_bind_socket_dir",
		"envoy_telemetry_collector_bind_socket_dir", "envoy_bootstrap_json_tpl", "envoy_extra_static_clusters_json",
		"envoy_extra_static_listeners_json", "envoy_extra_stats_sinks_json", "envoy_stats_config_json", "envoy_tracing_json"},
}

func TestProxyConfigKeyTable(t *testing.T) {
	var want []string
	for strct, names := range consulProxyConfigKeys {
		for _, n := range names {
			want = append(want, n)
			k := lookupProxyConfigKey(n)
			if k == nil {
				t.Errorf("%s key %s missing from the table", strct, n)
				continue
			}
			wantReader := map[bool]configReader{true: readerBootstrap, false: readerXDS}[strct == "BootstrapConfig"]
			if n == "protocol" {
				wantReader = readerConfigEntry // also decoded, without the xDS hooks, when the entry is written
			}
			if k.Reader != wantReader {
				t.Errorf("%s: reader %d, want %d (%s)", n, k.Reader, wantReader, strct)
			}
		}
	}
	var got []string
	for _, k := range proxyConfigKeys {
		got = append(got, k.Name)
		if k.Name != strings.ToLower(k.Name) {
			t.Errorf("%s: not lower case; Consul's lookups fold case", k.Name)
		}
		if len(k.Allowed) > 0 && k.Type != cfgString {
			t.Errorf("%s: an enumeration on a non-string", k.Name)
		}
		isJSONName := strings.HasSuffix(k.Name, "_json") || strings.HasSuffix(k.Name, "_json_tpl")
		if isJSONName != k.escapeHatch() {
			t.Errorf("%s: escape hatch %v, but its name says %v", k.Name, k.escapeHatch(), isJSONName)
		}
		if k.AliasOf != "" {
			target := lookupProxyConfigKey(k.AliasOf)
			if target == nil || target.AliasOf != "" || target.Type != k.Type || target.Reader != k.Reader {
				t.Errorf("%s: alias of %q, which is not a canonical key of the same type", k.Name, k.AliasOf)
			}
		}
		if _, ok := misplacedProxyConfigSettings[k.Name]; ok {
			t.Errorf("%s is both read and listed as misplaced", k.Name)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("table keys:\n got  %v\n want %v", got, want)
	}

	for _, tc := range []struct{ key, want string }{
		{"protocol", "protocol"}, {"Protocol", "protocol"}, {"ENVOY_MESH_GATEWAY_BIND_ADDRESSES", "envoy_mesh_gateway_bind_addresses"},
		{"protocols", ""}, {"", ""},
	} {
		k := lookupProxyConfigKey(tc.key)
		if got := ""; k != nil {
			got = k.Name
			if got != tc.want {
				t.Errorf("lookup(%q) = %q, want %q", tc.key, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("lookup(%q) = nil, want %q", tc.key, tc.want)
		}
	}
}

func TestNearestProxyConfigKey(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"protocoll", "protocol"},
		{"proto", ""}, // 3 edits in 5 letters: too far
		{"envoy_mesh_gateway_bind_adresses", "envoy_gateway_bind_addresses"}, // never an alias
		{"localconnecttimeoutms", "local_connect_timeout_ms"},
		{"envoy_prometheus_bind_address", "envoy_prometheus_bind_addr"},
		{"retries", ""},
		{"x", ""},
		{strings.Repeat("protocol", 9), ""}, // longer than maxSuggestKeyLen
	} {
		if got := nearestProxyConfigKey(tc.key); got != tc.want {
			t.Errorf("nearestProxyConfigKey(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"protocoll", "protocol", 1}, {"ab", "ba", 2}} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
