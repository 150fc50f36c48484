package validators

import (
	"fmt"

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
		if m.override() && m.peer != "" && m.mode == modeNone {
			errs = append(errs, field.Invalid(m.path(), m.mode,
				fmt.Sprintf("peer %q is reached only through mesh gateways; use remote or local", m.peer)))
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
		if !m.override() && m.mode == modeNone {
			errs = append(errs, field.Invalid(m.path(), m.mode, "cluster peering is in use; use remote (the default) or local"))
		}
	}
	return errs
}

func checkGatewayModeLocalNeedsGateway(in *Input) field.ErrorList {
	gw := in.State.MeshGateway()
	if gw == GatewayReady {
		return nil
	}
	var errs field.ErrorList
	for _, m := range in.gatewayModes() {
		// The specification names the spec-level mode and peer overrides; upstream defaults
		// also apply to local upstreams, which need no gateway in this partition.
		if m.mode != modeLocal || m.where == inDefaults || (m.override() && m.peer == "") {
			continue
		}
		errs = append(errs, field.Invalid(m.path(), m.mode, in.gatewayDetail(gw, "mode local needs it; deploy one or use remote")))
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
		return in.pendingUntil(errs)
	}
	return errs
}
