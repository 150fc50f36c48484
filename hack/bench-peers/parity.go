package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type gatewayState int

const (
	noGateway gatewayState = iota
	readyGateway
	// notReadyGateway: the Deployment exists and asks for a replica, none ready yet (the
	// gateway applied in the same GitOps pass as the export).
	notReadyGateway
)

func (g gatewayState) String() string {
	return [...]string{"no mesh gateway", "a ready mesh gateway", "a mesh gateway not ready yet"}[g]
}

// parityCase is one object every engine judges, through the API server, alone.
type parityCase struct {
	name     string
	rule     string
	gateway  gatewayState
	resource schema.GroupVersionResource
	object   map[string]any
	// existing: the object was stored before any policy; the case is an update that only adds
	// a label (a harmless edit).
	existing bool
	// deny is what the specification asks; core cases are the rule itself, on which the
	// engines must agree. The others show where the specification asks for more than the rule.
	deny bool
	core bool
}

func parityCases() []parityCase {
	return []parityCase{
		{name: "peer upstream with mode none", rule: "gateway-mode-none-peer-upstream", resource: gvrServiceDefaults,
			object: serviceDefaults("parity-none", "dc2", "none"), deny: true, core: true},
		{name: "peer upstream with mode remote", rule: "gateway-mode-none-peer-upstream", resource: gvrServiceDefaults,
			object: serviceDefaults("parity-remote", "dc2", "remote"), core: true},
		{name: "local upstream with mode none", rule: "gateway-mode-none-peer-upstream", resource: gvrServiceDefaults,
			object: serviceDefaults("parity-local-none", "", "none"), core: true},
		{name: "dialer named dc2.west", rule: "peer-name-syntax", resource: gvrDialers,
			object: dialer("dc2.west"), deny: true, core: true},
		{name: "acceptor named with 64 characters", rule: "peer-name-syntax", resource: gvrAcceptors,
			object: acceptor(strings.Repeat("a", 64)), deny: true, core: true},
		{name: "dialer named dc4", rule: "peer-name-syntax", resource: gvrDialers,
			object: dialer("dc4"), core: true},
		{name: "export to a peer, no gateway", rule: "export-needs-mesh-gateway", gateway: noGateway, resource: gvrExportedServices,
			object: exportedServices("api", map[string]any{"peer": "dc2"}), deny: true, core: true},
		{name: "export to a sameness group, no gateway", rule: "export-needs-mesh-gateway", gateway: noGateway, resource: gvrExportedServices,
			object: exportedServices("api", map[string]any{"samenessGroup": "group"}), deny: true, core: true},
		{name: "export to a peer, gateway ready", rule: "export-needs-mesh-gateway", gateway: readyGateway, resource: gvrExportedServices,
			object: exportedServices("api", map[string]any{"peer": "dc2"}), core: true},
		{name: "export to a peer, gateway applied in the same pass (not ready yet)", rule: "export-needs-mesh-gateway", gateway: notReadyGateway,
			resource: gvrExportedServices, object: exportedServices("api", map[string]any{"peer": "dc2"})},
		{name: "label added to a dialer stored before the rule (dc3.east)", rule: "peer-name-syntax", resource: gvrDialers,
			object: dialer("dc3.east"), existing: true},
	}
}

// verdict is what the API server answered for one case.
type verdict struct {
	denied   bool
	failed   bool // the call failed for another reason than a refusal
	message  string
	warnings []string
}

func (v verdict) String() string {
	// What the engine said, without the API server's preamble.
	msg := v.message
	if i := strings.Index(msg, "denied the request: "); i >= 0 {
		msg = msg[i+len("denied the request: "):]
	}
	switch {
	case v.failed:
		return "error: " + clip(msg, 90)
	case v.denied:
		return "deny: " + clip(msg, 90)
	case len(v.warnings) > 0:
		return "allow, warning: " + clip(v.warnings[0], 80)
	}
	return "allow"
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "|", "/")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// warningCollector receives the API server's warnings for the parity client.
type warningCollector struct {
	mu   sync.Mutex
	list []string
}

func (w *warningCollector) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warningCollector) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// judge sends one case through the API server as a server-side dry run.
func (b *bench) judge(ctx context.Context, c parityCase) verdict {
	_ = b.warnings.take()
	res := b.dyn.Resource(c.resource).Namespace("default")
	var err error
	if c.existing {
		cur, getErr := res.Get(ctx, u(c.object).GetName(), metav1.GetOptions{})
		if getErr != nil {
			return verdict{failed: true, message: getErr.Error()}
		}
		labels := cur.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels["team"] = "payments"
		cur.SetLabels(labels)
		_, err = res.Update(ctx, cur, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
	} else {
		_, err = res.Create(ctx, u(c.object), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	}
	if err == nil {
		return verdict{warnings: b.warnings.take()}
	}
	msg := err.Error()
	if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || strings.Contains(err.Error(), "denied the request") {
		return verdict{denied: true, message: msg}
	}
	return verdict{failed: true, message: msg}
}

// setGateway makes the mesh gateway Deployment match state and gives every engine time to
// see it: ours through its watch (waited for), Gatekeeper through its replicated inventory
// (a watch too, given the same margin), Kyverno reads it live.
func (b *bench) setGateway(ctx context.Context, state gatewayState) error {
	deps := b.dyn.Resource(gvrDeployments).Namespace("consul")
	gw := u(gatewayDeployment())
	err := deps.Delete(ctx, gw.GetName(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := b.ours.proc.WaitForGateways(wctx, 0); err != nil {
		return fmt.Errorf("gateway removed: %w", err)
	}
	if err := b.ours.proc.WaitForNotReadyGateways(wctx, 0); err != nil {
		return fmt.Errorf("gateway removed: %w", err)
	}
	if state != noGateway {
		if _, err := deps.Create(ctx, gw, metav1.CreateOptions{}); err != nil {
			return err
		}
		ready := int32(0)
		if state == readyGateway {
			ready = 1
		}
		if err := b.cluster.MarkDeploymentReady(ctx, "consul", gw.GetName(), ready); err != nil {
			return err
		}
		if state == readyGateway {
			err = b.ours.proc.WaitForGateways(wctx, 1)
		} else {
			err = b.ours.proc.WaitForNotReadyGateways(wctx, 1)
		}
		if err != nil {
			return fmt.Errorf("gateway %s: %w", state, err)
		}
	}
	time.Sleep(2 * time.Second)
	return nil
}

// parity runs every case through every setup (each engine alone) and returns the verdicts,
// indexed [setup][case].
func (b *bench) parity(ctx context.Context, setups []*setup, cases []parityCase) ([][]verdict, error) {
	out := make([][]verdict, len(setups))
	for si, s := range setups {
		if err := s.activate(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		out[si] = make([]verdict, len(cases))
		for _, state := range []gatewayState{noGateway, readyGateway, notReadyGateway} {
			if err := b.setGateway(ctx, state); err != nil {
				return nil, err
			}
			for ci, c := range cases {
				if c.gateway == state {
					out[si][ci] = b.judge(ctx, c)
				}
			}
		}
	}
	return out, nil
}

// parityReport renders the verdicts and lists every disagreement with the specification.
// A refusal counts only when it names the case's rule; ours (reference) must match the
// specification on every case, the others on the core ones.
func parityReport(setups []*setup, cases []parityCase, verdicts [][]verdict, reference *engine) (string, int) {
	var sb strings.Builder
	sb.WriteString("| case | rule | specification |")
	for _, s := range setups {
		sb.WriteString(" " + s.name + " |")
	}
	sb.WriteString("\n|---|---|---|" + strings.Repeat("---|", len(setups)) + "\n")
	var notes []string
	coreDisagreements := 0
	for ci, c := range cases {
		want := "allow"
		if c.deny {
			want = "deny"
		}
		fmt.Fprintf(&sb, "| %s | `%s` | %s |", c.name, c.rule, want)
		for si, s := range setups {
			v := verdicts[si][ci]
			fmt.Fprintf(&sb, " %s |", v)
			otherRule := v.denied && !strings.Contains(v.message, c.rule)
			if v.failed || otherRule || v.denied != c.deny {
				kind := "known difference"
				if c.core || v.failed || otherRule || s.eng == reference {
					kind = "DISAGREEMENT"
					coreDisagreements++
				}
				notes = append(notes, fmt.Sprintf("- %s: %s, case %q: the specification says %s by %s, %s answered %s.", kind, s.name, c.name, want, c.rule, s.name, v))
			}
		}
		sb.WriteString("\n")
	}
	if len(notes) > 0 {
		sb.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	return sb.String(), coreDisagreements
}
