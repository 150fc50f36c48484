package validators_test

import (
	"encoding/json"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// fuzzSeeds are realistic manifests (as the API server sends them, in JSON) of each kind.
var fuzzSeeds = map[kinds.Kind][]string{
	kinds.Mesh: {
		`{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"Mesh","metadata":{"name":"mesh","namespace":"consul"},"spec":{"peering":{"peerThroughMeshGateways":true}}}`,
		`{"metadata":{"name":"mesh"},"spec":{"transparentProxy":{"meshDestinationsOnly":true},"tls":{"incoming":{"tlsMinVersion":"TLSv1_2"}},"http":{"sanitizeXForwardedClientCert":true}}}`,
		`{"metadata":{"name":"cluster"},"spec":{"peering":null}}`,
	},
	kinds.ProxyDefaults: {
		`{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ProxyDefaults","metadata":{"name":"global","namespace":"consul"},"spec":{"meshGateway":{"mode":"local"},"config":{"protocol":"http"}}}`,
		`{"metadata":{"name":"global"},"spec":{"meshGateway":{"mode":"none"},"mode":"transparent","accessLogs":{"enabled":true}}}`,
		`{"metadata":{"name":"default"},"spec":{"meshGateway":{"mode":"Remote"}}}`,
	},
	kinds.ServiceDefaults: {
		`{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ServiceDefaults","metadata":{"name":"frontend","namespace":"default"},"spec":{"protocol":"http","upstreamConfig":{"overrides":[{"name":"backend","peer":"dc2","meshGateway":{"mode":"local"}}]}}}`,
		`{"metadata":{"name":"web"},"spec":{"meshGateway":{"mode":"none"},"upstreamConfig":{"defaults":{"connectTimeoutMs":500,"limits":{"maxConnections":10},"passiveHealthCheck":{"interval":"10s","maxFailures":3}},"overrides":[null,{"name":"*","namespace":"*","peer":"DC2","partition":"ap2","meshGateway":{"mode":"none"}},{"name":"api","namespace":"default","peer":"dc2"},{"name":"api","peer":"dc2"}]}}}`,
		`{"metadata":{"name":"web"},"spec":{"upstreamConfig":{"defaults":{"name":"x","peer":"dc2","namespace":"ns","partition":"p"},"overrides":[]}}}`,
	},
	kinds.ExportedServices: {
		`{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ExportedServices","metadata":{"name":"default","namespace":"consul"},"spec":{"services":[{"name":"backend","consumers":[{"peer":"dc2"}]}]}}`,
		`{"metadata":{"name":"ap1"},"spec":{"services":[{"name":"consul","namespace":"*","consumers":[{"peer":"*"},{"partition":"*","samenessGroup":"g"},{}]},{"name":""},{"name":"*","namespace":"*","consumers":[{"samenessGroup":"group"}]}]}}`,
		`{"metadata":{"name":"default"},"spec":{}}`,
	},
	kinds.PeeringAcceptor: {
		`{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"PeeringAcceptor","metadata":{"name":"dc2","namespace":"consul"},"spec":{"peer":{"secret":{"name":"peering-token","key":"data","backend":"kubernetes"}}},"status":{"latestPeeringVersion":2,"secret":{"name":"peering-token","key":"data","backend":"kubernetes","resourceVersion":"42"}}}`,
		`{"metadata":{"name":"DC2.west"},"spec":{"peer":null}}`,
	},
	kinds.PeeringDialer: {
		`{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"PeeringDialer","metadata":{"name":"dc1","namespace":"consul"},"spec":{"peer":{"secret":{"name":"peering-token","key":"data","backend":"kubernetes"}}}}`,
		`{"metadata":{"name":"dc1-"},"spec":{"peer":{"secret":{"backend":"vault"}}}}`,
	},
}

// FuzzValidateJSON decodes arbitrary JSON into one of the six kinds (picked by the first
// byte) and validates it on CREATE and UPDATE under several configurations and cluster
// states: no input may make a rule panic (the engine turns a panic into an error).
func FuzzValidateJSON(f *testing.F) {
	for i, k := range kinds.Consul {
		for _, s := range fuzzSeeds[k] {
			f.Add(append([]byte{byte(i)}, s...))
		}
	}

	var engines []*validators.Engine
	for _, cfg := range []validators.Config{
		{},
		{PartitionsEnabled: true, Partition: "ap1", NamespacesEnabled: true},
		withActions(consul("1.13"), "upstream-peer-known", "deny", "consumer-peer-known", "deny", "singleton", "off"),
	} {
		engines = append(engines, mustEngine(f, cfg))
	}
	busy := newIndex(true, acceptor("dc2", k8sSecret()), inNamespace("other", dialer("dc2", k8sSecret())),
		pd("global", "none"), mesh("mesh", true), es("default", svc("api", toPeer("dc2"))))

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		kind := kinds.Consul[int(data[0])%len(kinds.Consul)]
		obj, _ := kinds.New(kind)
		if err := json.Unmarshal(data[1:], obj); err != nil {
			return
		}
		withSelf := state.NewIndex()
		withSelf.Upsert(obj)
		for _, e := range engines {
			for _, idx := range []*state.Index{state.NewIndex(), busy, withSelf} {
				for _, op := range []validators.Operation{validators.Create, validators.Update} {
					old := obj
					if op == validators.Create {
						old = nil
					}
					res, err := e.Validate(op, obj, old, idx)
					if err != nil {
						t.Fatalf("%s %s: %v", op, kind, err)
					}
					if res.Kind != kind {
						t.Fatalf("Result.Kind = %s, want %s", res.Kind, kind)
					}
					checkRendering(t, res)
					_ = res.Allowed()
					_ = res.Denials()
					_ = res.Warnings()
				}
			}
		}
		withSelf.Delete(obj)
	})
}

// FuzzValidPeerName checks ValidPeerName against the specification's regular expression.
func FuzzValidPeerName(f *testing.F) {
	for _, s := range []string{"", "a", "dc2", "-dc", "dc-", "DC2", "a--b", longName(63), longName(64), "dç2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validators.ValidPeerName(s), peerNameRE.MatchString(s); got != want {
			t.Errorf("ValidPeerName(%q) = %v, spec regexp says %v", s, got, want)
		}
	})
}
