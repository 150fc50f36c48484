package server

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// auditor periodically re-checks every object against today's state.
type auditor struct {
	mgr      manager.Manager
	engine   *validators.Engine
	metrics  *webhook.Metrics
	interval time.Duration
	log      logr.Logger
}

func newAuditor(mgr manager.Manager, engine *validators.Engine, m *webhook.Metrics, interval time.Duration, log logr.Logger) *auditor {
	return &auditor{mgr: mgr, engine: engine, metrics: m, interval: interval, log: log}
}

// NeedLeaderElection: every replica may audit; the results are idempotent.
func (a *auditor) NeedLeaderElection() bool { return false }

func (a *auditor) Start(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
