package e2e

import "testing"

// proxyDefaultsConfig is ProxyDefaults global with spec.config given as YAML flow mappings.
func proxyDefaultsConfig(config string) string {
	return `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata: {name: global, namespace: default}
spec:
  config: {` + config + `}
`
}

// spec.config is schemaless for the API server: only the webhook judges it as Consul will.
func TestProxyConfigThroughKubectl(t *testing.T) {
	useGuard(t)
	reset(t)
	refused(t, cluster.Apply(proxyDefaultsConfig(`envoy_gateway_bind_tagged_addresses: "maybe"`)),
		"spec.config.envoy_gateway_bind_tagged_addresses", "proxy-config-decodes")
	refused(t, cluster.Apply(proxyDefaultsConfig(`envoy_tracing_json: {http: {name: envoy.tracers.zipkin}}`)),
		"spec.config.envoy_tracing_json", "proxy-config-escape-hatch-json")
	warned(t, cluster.Apply(proxyDefaultsConfig(`protocl: http, local_connect_timeout_ms: 5000`)), //nolint:misspell // the typo is the test: the key is suggested as protocol
		"spec.config.protocl", "proxy-config-unknown-key")
}
