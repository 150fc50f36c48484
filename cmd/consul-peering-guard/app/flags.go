package app

import (
	"encoding"
	"fmt"
	"reflect"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// DefaultGatewaySelector matches the mesh gateway Deployment of the Consul Helm chart.
const DefaultGatewaySelector = "component=mesh-gateway"

// engineFlags are the flags that describe the consul-k8s installation: the fields of
// validators.Config and how to find its mesh gateway. serve, validate, check, audit and vap
// share them so that all of them judge alike.
type engineFlags struct {
	cfg             validators.Config
	gatewaySelector string
}

func (f *engineFlags) add(fs *pflag.FlagSet) {
	BindConfig(fs, &f.cfg)
	fs.StringVar(&f.gatewaySelector, "mesh-gateway-selector", DefaultGatewaySelector, "label selector of this cluster's mesh gateway Deployments: one with a ready replica (offline: one asking for a replica) is present; one asking for replicas with none ready is not ready yet and rules needing a gateway only warn")
}

// BindConfig binds a flag onto every field of the configuration with a flag tag (the flags
// serve, validate, check, audit and vap share, and what the chart passes serve), named
// and described by its flag and help tags; a field that is not a bool or a string reads
// its flag as it reads its JSON (encoding.TextUnmarshaler), or is a pflag.Value.
func BindConfig(fs *pflag.FlagSet, cfg *validators.Config) {
	v := reflect.ValueOf(cfg).Elem()
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		name, help := sf.Tag.Get("flag"), sf.Tag.Get("help")
		if name == "" {
			continue
		}
		switch p := v.Field(i).Addr().Interface().(type) {
		case *bool:
			fs.BoolVar(p, name, *p, help)
		case *string:
			fs.StringVar(p, name, *p, help)
		case pflag.Value:
			fs.Var(p, name, help)
		default:
			fs.Var(textFlag{v.Field(i)}, name, help)
		}
	}
}

// textFlag is the flag of a field that reads itself from text; a pointer field is
// allocated when the flag is set, and set to nil by an empty value.
type textFlag struct{ field reflect.Value }

func (f textFlag) Set(s string) error {
	if f.field.Kind() != reflect.Pointer {
		return f.field.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	if s == "" {
		f.field.SetZero()
		return nil
	}
	target := reflect.New(f.field.Type().Elem())
	if err := target.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
		return err
	}
	f.field.Set(target)
	return nil
}

func (f textFlag) String() string {
	if !f.field.IsValid() || f.field.IsZero() {
		return ""
	}
	text, _ := f.field.Interface().(encoding.TextMarshaler).MarshalText() // the field was read from text
	return string(text)
}

func (textFlag) Type() string { return "string" }

// config is the engine configuration of the flags, checked.
func (f *engineFlags) config() (validators.Config, error) {
	return f.cfg.Clone(), f.cfg.Validate()
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

// options are the manifest reading options of the flags, with base the configuration a
// cluster file's keys are decoded over; a bound that is not positive is a usage error (exit 2).
func (f *inputFlags) options(sel labels.Selector, base validators.Config) (manifest.Options, error) {
	if f.maxInputBytes <= 0 {
		return manifest.Options{}, &exitError{code: exitUsage, err: fmt.Errorf("--max-input-bytes must be positive, got %d", f.maxInputBytes)}
	}
	return manifest.Options{GatewaySelector: sel, MaxInputBytes: f.maxInputBytes, Base: base}, nil
}
