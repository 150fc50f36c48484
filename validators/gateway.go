package validators

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

var supportedModes = []string{modeLocal, modeRemote, modeNone}

func checkGatewayModeValid(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	for _, m := range in.gatewayModes() {
		switch m.mode {
		case "", modeLocal, modeRemote, modeNone:
		default:
			errs = append(errs, field.NotSupported(m.path(), m.mode, supportedModes))
		}
	}
	return errs
}

func checkGatewayModeNonePeerUpstream(in *ObjectInput) field.ErrorList {
	var errs field.ErrorList
	for _, m := range in.gatewayModes() {
		if m.isOverride() && m.peer() != "" && m.mode == modeNone {
			errs = append(errs, field.Invalid(m.path(), m.mode,
				fmt.Sprintf(msgGatewayModeNonePeer, m.peer())))
		}
	}
	return errs
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
		if !m.isOverride() && m.mode == modeNone {
			errs = append(errs, field.Invalid(m.path(), m.mode, "cluster peering is in use; use remote (the default) or local"))
		}
	}
	return errs
}

// checkGatewayModeLocalNeedsGateway denies mode local without a gateway while peering is in
// use (a peer override always is); without peering the mode carries no peer traffic yet
// (consul-k8s's own fixtures apply it in clusters with neither), so it only warns.
func checkGatewayModeLocalNeedsGateway(in *Input) field.ErrorList {
	gw := in.State.MeshGateway()
	if gw == GatewayReady {
		return nil
	}
	modes := in.gatewayModes()
	inUse := peeringInUse(in.State) || slices.ContainsFunc(modes, func(m modeField) bool { return m.isOverride() && m.peer() != "" })
	var errs, idle field.ErrorList
	for _, m := range modes {
		// The specification names the spec-level mode and peer overrides; upstream defaults
		// also apply to local upstreams, which need no gateway in this partition.
		if m.mode != modeLocal || m.defaults || (m.isOverride() && m.peer() == "") {
			continue
		}
		if inUse {
			errs = append(errs, field.Invalid(m.path(), m.mode, in.gatewayDetail(gw, "mode local needs it; deploy one or use remote")))
			continue
		}
		// The same message as a denial, so that an update bringing peering ratchets it.
		fe := field.Invalid(m.path(), m.mode, in.gatewayDetail(gw, "mode local needs it; deploy one or use remote"))
		errs, idle = append(errs, fe), append(idle, fe)
	}
	in.warnOnly(idle)
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
