// Package snapshot judges a snapshot of a cluster rather than one admission: manifests for
// `validate` and `check`, a cluster's current objects for `audit`. Each object is checked as
// if it were created into a cluster holding all the others.
package snapshot

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// UnknownFieldRule names the finding for a manifest field that its kind does not define. The
// manifest reader finds it while decoding, before the rule engine runs, and only offline: the
// webhook sees objects the API server has already pruned.
const UnknownFieldRule = "unknown-field"

// Item is one object to check and where it came from.
type Item struct {
	Object runtime.Object
	File   string
	// Findings were made before the engine ran (while decoding); they lead the verdict.
	Findings []validators.Violation
}

// Finding is the verdict on one item.
type Finding struct {
	Item
	Ref    kinds.ObjectRef
	Result validators.Result
}

// Check validates every item against a cluster state that holds all items and the gateways,
// and returns one finding per item, in order.
func Check(engine *validators.Engine, items []Item, gateways []state.Gateway) ([]Finding, error) {
	idx := state.NewIndex()
	for _, it := range items {
		idx.Upsert(it.Object)
	}
	for _, g := range gateways {
		idx.SetGateway(g.Ref, g.Status)
	}
	out := make([]Finding, 0, len(items))
	for _, it := range items {
		res, err := engine.Validate(validators.Create, it.Object, nil, idx)
		if err != nil {
			return nil, err
		}
		if len(it.Findings) > 0 {
			res.Violations = append(append([]validators.Violation(nil), it.Findings...), res.Violations...)
		}
		ref, _ := kinds.RefOf(it.Object)
		out = append(out, Finding{Item: it, Ref: ref, Result: res})
	}
	return out, nil
}

// Cluster is one cluster's manifests ready to judge: the engine under its cluster file's
// settings, its objects and its mesh gateways. validate and check both build it with
// PrepareCluster, so that check judges each cluster exactly as validate does.
type Cluster struct {
	Engine   *validators.Engine
	Items    []Item
	Gateways []state.Gateway
}

// PrepareCluster builds the engine of one cluster from its configuration (the flags' with
// its cluster file's keys over them), and its items and gateways from its manifests. A manifest has no status: a
// gateway Deployment that asks for replicas counts as ready, as it will be once applied.
// Unknown fields are reported with the given action (warn, or deny for --strict, or off).
// gatewayInstalled counts a ready mesh gateway that no manifest holds (the Consul Helm chart
// runs it); the cluster file's meshGatewayInstalled overrides it.
func PrepareCluster(c *manifest.Cluster, unknownFields validators.Action, gatewayInstalled bool) (*Cluster, error) {
	engine, err := validators.NewEngine(c.Settings.Config)
	if err != nil {
		return nil, err
	}
	out := &Cluster{Engine: engine, Items: make([]Item, len(c.Set.Objects))}
	for i, o := range c.Set.Objects {
		out.Items[i] = Item{Object: o.Object, File: o.Source.File, Findings: UnknownFieldViolations(o.UnknownFields, unknownFields)}
	}
	for _, g := range c.Set.Gateways {
		out.Gateways = append(out.Gateways, state.Gateway{Ref: state.GatewayRef{Namespace: g.Namespace, Name: g.Name}, Status: validators.GatewayReady})
	}
	if c.Settings.MeshGatewayInstalled != nil {
		gatewayInstalled = *c.Settings.MeshGatewayInstalled
	}
	if gatewayInstalled {
		out.Gateways = append(out.Gateways, state.Gateway{Ref: InstalledGateway, Status: validators.GatewayReady})
	}
	return out, nil
}

// Check validates every object of the cluster, as Check does.
func (c *Cluster) Check() ([]Finding, error) { return Check(c.Engine, c.Items, c.Gateways) }

// InstalledGateway stands for the mesh gateway the Consul Helm chart runs, when the manifests
// validated offline do not hold it.
var InstalledGateway = state.GatewayRef{Name: "installed-by-the-consul-helm-chart"}

// UnknownFieldViolations turns the unknown fields of a manifest into unknown-field findings
// with the given action; none when the action is off.
func UnknownFieldViolations(fields []manifest.UnknownField, action validators.Action) []validators.Violation {
	if action == validators.Off || len(fields) == 0 {
		return nil
	}
	out := make([]validators.Violation, 0, len(fields))
	for _, f := range fields {
		name := f.Path[strings.LastIndexByte(f.Path, '.')+1:]
		detail := fmt.Sprintf("unknown field %q: the consul-k8s schema does not define it, so kubectl apply refuses it or the API server drops it", name)
		if f.Suggestion != "" {
			detail = fmt.Sprintf("unknown field %q, did you mean `%s`? Keys are case-sensitive: kubectl apply refuses it or the API server drops it", name, f.Suggestion)
		}
		out = append(out, validators.Violation{Rule: UnknownFieldRule, Action: action, Error: &field.Error{
			Type: field.ErrorTypeForbidden, Field: f.Path, BadValue: "", Detail: detail + " (" + UnknownFieldRule + ")",
		}})
	}
	return out
}
