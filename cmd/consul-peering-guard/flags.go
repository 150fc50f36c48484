package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// DefaultGatewaySelector matches the mesh gateway Deployment of the Consul Helm chart.
const DefaultGatewaySelector = "component=mesh-gateway"

// engineFlags are the flags that describe the consul-k8s installation; serve, validate and
// audit share them so that all three judge alike.
type engineFlags struct {
	partitionsEnabled bool
	partition         string
	namespacesEnabled bool
	consulVersion     string
	edition           string
	consulK8sVersion  string
	injectDefault     bool
	rules             []string
	gatewaySelector   string
}

func (f *engineFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.partitionsEnabled, "partitions-enabled", false, "Consul admin partitions are enabled (global.adminPartitions.enabled)")
	fs.StringVar(&f.partition, "partition", "", "this cluster's admin partition (global.adminPartitions.name); default when partitions are off")
	fs.BoolVar(&f.namespacesEnabled, "namespaces-enabled", false, "Consul namespaces are enabled (global.enableConsulNamespaces)")
	fs.StringVar(&f.consulVersion, "consul-version", "", "deny features newer than this Consul version, e.g. 1.15 (peer consumers 1.13, peering 1.14, upstream peer 1.15, sameness groups 1.16); empty disables the check")
	fs.StringVar(&f.consulK8sVersion, "consul-k8s-version", "", "the consul-k8s version installed (e.g. 1.6.2); selects the grammar of the connect-service-upstreams annotation, empty means the newest")
	fs.BoolVar(&f.injectDefault, "connect-inject-default", false, "consul-k8s injects every pod that does not opt out (connectInject.default of the Consul chart); otherwise only pods annotated connect-inject \"true\" are injected, and only injected pods' upstreams are judged")
	fs.StringVar(&f.edition, "consul-edition", "", "the Consul edition, ce or enterprise; empty means unknown and no rule guesses it (only ce denies samenessGroup consumers)")
	fs.StringArrayVar(&f.rules, "rule", nil, "set a rule's action, NAME=deny|warn|off (repeatable)")
	fs.StringVar(&f.gatewaySelector, "mesh-gateway-selector", DefaultGatewaySelector, "label selector of this cluster's mesh gateway Deployments: one with a ready replica (offline: one asking for a replica) is present; one asking for replicas with none ready is not ready yet and rules needing a gateway only warn")
}

func (f *engineFlags) config() (validators.Config, error) {
	cfg := validators.Config{
		PartitionsEnabled:    f.partitionsEnabled,
		Partition:            f.partition,
		NamespacesEnabled:    f.namespacesEnabled,
		ConnectInjectDefault: f.injectDefault,
	}
	edition, err := validators.ParseEdition(f.edition)
	if err != nil {
		return cfg, fmt.Errorf("--consul-edition: %w", err)
	}
	cfg.Edition = edition
	if cfg.AnnotationGrammar, err = validators.ParseAnnotationGrammar(f.consulK8sVersion); err != nil {
		return cfg, fmt.Errorf("--consul-k8s-version: %w", err)
	}
	if f.consulVersion != "" {
		v, err := validators.ParseConsulVersion(f.consulVersion)
		if err != nil {
			return cfg, err
		}
		cfg.ConsulVersion = v
	}
	for _, s := range f.rules {
		name, action, err := validators.ParseRuleSetting(s)
		if err != nil {
			return cfg, err
		}
		if cfg.Actions == nil {
			cfg.Actions = map[string]validators.Action{}
		}
		cfg.Actions[name] = action
	}
	return cfg, cfg.Validate()
}

// offline is what the offline commands (validate, check, audit) read from the flags: the
// engine configuration and the gateway selector; a bad value is a usage error (exit 2).
func (f *engineFlags) offline() (validators.Config, labels.Selector, error) {
	cfg, err := f.config()
	if err != nil {
		return cfg, nil, &exitError{code: exitUsage, err: err}
	}
	sel, err := f.selector()
	if err != nil {
		return cfg, nil, &exitError{code: exitUsage, err: err}
	}
	return cfg, sel, nil
}

func (f *engineFlags) selector() (labels.Selector, error) {
	sel, err := labels.Parse(f.gatewaySelector)
	if err != nil {
		return nil, fmt.Errorf("--mesh-gateway-selector %q: %w", f.gatewaySelector, err)
	}
	if sel.Empty() {
		return nil, fmt.Errorf("--mesh-gateway-selector must not be empty")
	}
	return sel, nil
}

// inputFlags bound what validate and check read from files.
type inputFlags struct {
	maxInputBytes int64
}

func (f *inputFlags) add(fs *pflag.FlagSet) {
	fs.Int64Var(&f.maxInputBytes, "max-input-bytes", manifest.DefaultMaxInputBytes, "bound on the bytes of all input together (files, stdin and what kustomizations read); reading costs several times the input in memory")
}

// options are the manifest reading options of the flags; a bound that is not positive is a
// usage error (exit 2).
func (f *inputFlags) options(sel labels.Selector) (manifest.Options, error) {
	if f.maxInputBytes <= 0 {
		return manifest.Options{}, &exitError{code: exitUsage, err: fmt.Errorf("--max-input-bytes must be positive, got %d", f.maxInputBytes)}
	}
	return manifest.Options{GatewaySelector: sel, MaxInputBytes: f.maxInputBytes}, nil
}
