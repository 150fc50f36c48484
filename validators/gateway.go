package validators

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

var supportedModes = []string{modeLocal, modeRemote, modeNone}

func checkGatewayModeValid(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	for _, m := range in.gatewayModes() {
		if m.mode != "" && !slices.Contains(supportedModes, m.mode) {
			errs = append(errs, field.NotSupported(m.at, m.mode, supportedModes))
		}
	}
	for u := range in.eachUpstream() {
		if u.mode != "" && !slices.Contains(supportedModes, u.mode) {
			errs = append(errs, field.NotSupported(in.upstreamPath(u, "meshGateway", "mode"), u.mode, supportedModes))
		}
	}
	return errs
}

var supportedModesDetail = func() string {
	q := make([]string, len(supportedModes))
	for i, m := range supportedModes {
		q[i] = strconv.Quote(m)
	}
	return "supported values: " + strings.Join(q, ", ")
}()

func celModeInvalid(v string) string {
	return "!(" + v + " in ['', " + lit(modeLocal) + ", " + lit(modeRemote) + ", " + lit(modeNone) + "])"
}

func celGatewayModeValid(g *celGen, k kinds.Kind) {
	g.scalar(specModePath.String(), func(r string) string { return celModeInvalid(str(r, "spec", "meshGateway", "mode")) },
		func(r string) string { return str(r, "spec", "meshGateway", "mode") }, lit(supportedModesDetail))
	if k != kinds.ServiceDefaults {
		return
	}
	defaultsMode := func(r string) string { return str(r, "spec", "upstreamConfig", "defaults", "meshGateway", "mode") }
	g.scalar(defaultsModePath.String(), func(r string) string { return celModeInvalid(defaultsMode(r)) }, defaultsMode, lit(supportedModesDetail))
	g.list(overrideSite(".meshGateway.mode", func(x string) string { return celModeInvalid(celMode(x)) }, celMode,
		constDetail(supportedModesDetail)))
}

const msgGatewayModeNonePeer = "peer %q is reached only through mesh gateways; use remote or local"

func checkGatewayModeNonePeerUpstream(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	for u := range in.eachUpstream() {
		if u.toPeer && u.mode == modeNone {
			fe := in.upstreamError(u, field.ErrorTypeInvalid, u.mode,
				fmt.Sprintf(msgGatewayModeNonePeer, u.peer),
				"peers need mesh gateways, Consul uses remote; use local or remote", "meshGateway", "mode")
			if u.entry == nil {
				fe = in.identify(fe, u.peer) // the peer reached with mode none, as the policy ratchets it
			}
			errs = append(errs, fe)
		}
	}
	return errs
}

func celGatewayModeNonePeerUpstream(g *celGen, _ kinds.Kind) {
	g.list(overrideSite(".meshGateway.mode",
		func(x string) string { return str(x, "peer") + " != '' && " + celMode(x) + " == " + lit(modeNone) },
		func(x string) string { return str(x, "peer") },
		func(x string) string { return celFormat(msgGatewayModeNonePeer, str(x, "peer")) }))
}

func peeringInUse(st ClusterState) bool {
	return st.AnyPeer() || st.ExportsToPeer()
}

func checkGatewayModeNoneWithPeering(in *Input) field.ErrorList {
	switch in.Object.(type) {
	case *v1alpha1.PeeringAcceptor, *v1alpha1.PeeringDialer:
		if in.Operation != Create || in.State.ProxyDefaultsGatewayMode() != modeNone {
			return nil
		}
		return field.ErrorList{field.Forbidden(namePath,
			"ProxyDefaults sets meshGateway.mode none, which peering cannot use; set it to remote or local first")}
	}
	if !peeringInUse(in.State) {
		return nil
	}
	var errs field.ErrorList
	for _, m := range in.gatewayModes() {
		if m.mode == modeNone {
			errs = append(errs, field.Invalid(m.at, m.mode, "cluster peering is in use; use remote (the default) or local"))
		}
	}
	return errs
}

// checkGatewayModeLocalNeedsGateway denies mode local without a gateway while peering is in
// use (a peer upstream always is); without peering the mode carries no peer traffic yet
// (consul-k8s's own fixtures apply it in clusters with neither), so it only warns, with the
// same message, so that an update bringing peering ratchets it. The specification names the
// spec-level mode and peer upstreams; upstream defaults also apply to local upstreams, which
// need no gateway in this partition.
func checkGatewayModeLocalNeedsGateway(in *Input) field.ErrorList {
	gw := in.State.MeshGateway()
	if gw == GatewayReady {
		return nil
	}
	const fix = "mode local needs it; deploy one or use remote"
	var errs field.ErrorList
	for _, m := range in.gatewayModes() {
		if m.mode == modeLocal && !m.defaults {
			errs = append(errs, field.Invalid(m.at, m.mode, in.gatewayDetail(gw, fix)))
		}
	}
	ups := in.upstreams()
	for u := range in.eachUpstream() {
		if u.peer != "" && u.mode == modeLocal {
			errs = append(errs, in.upstreamError(u, field.ErrorTypeInvalid, u.mode, in.gatewayDetail(gw, fix),
				in.gatewayDetail(gw, "mode local needs it; use remote"), "meshGateway", "mode"))
		}
	}
	if len(errs) > 0 && !peeringInUse(in.State) && !slices.ContainsFunc(ups, func(u upstream) bool { return u.peer != "" }) {
		in.warnOnly(errs)
	}
	return in.unlessGatewayComing(gw, errs)
}

// gatewayDetail says what is wrong with this partition's mesh gateway and what to do.
func (in *Input) gatewayDetail(gw GatewayStatus, fix string) string {
	if gw == GatewayNotReady {
		return fmt.Sprintf("mesh gateway not ready yet (partition %q); %s", in.Config.LocalPartition(), fix)
	}
	return fmt.Sprintf("no ready mesh gateway in partition %q; %s", in.Config.LocalPartition(), fix)
}

// unlessGatewayComing turns findings about a missing gateway into warnings while a gateway
// exists that has no ready replica yet.
func (in *Input) unlessGatewayComing(gw GatewayStatus, errs field.ErrorList) field.ErrorList {
	if gw == GatewayNotReady {
		return in.warnOnly(errs)
	}
	return errs
}
