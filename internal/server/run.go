// Package server wires the `serve` command: the controller-runtime manager, its cache
// restricted to what the rules read, the state index, the TLS webhook server, health and
// readiness probes and the metrics endpoint. Tests start it exactly as production does.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// Options is everything `serve` is configured with.
type Options struct {
	Engine                 validators.Config
	GatewaySelector        labels.Selector
	CertDir                string
	Host                   string
	Port                   int
	MinTLSVersion          uint16
	EnableHTTP2            bool
	MetricsBindAddress     string
	MetricsSecure          bool
	HealthProbeBindAddress string
	ReadHeaderTimeout      time.Duration
	ReadTimeout            time.Duration
	WriteTimeout           time.Duration
	IdleTimeout            time.Duration
	MaxConnections         int
	MaxHeaderBytes         int
	// MaxInFlight and MaxInFlightBytes bound the reviews judged at once (webhook.Deps).
	MaxInFlight      int
	MaxInFlightBytes int64
	ShutdownDelay    time.Duration
	ShutdownTimeout  time.Duration
	// CacheSyncTimeout bounds one readiness check's wait for the informers.
	CacheSyncTimeout time.Duration
	AuditInterval    time.Duration
	Log              logr.Logger
}

// NewScheme returns the scheme of every type the webhook decodes or caches.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err) // static registration of built-in types cannot fail at runtime
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Run serves the webhook until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	engine, err := validators.NewEngine(o.Engine)
	if err != nil {
		return err
	}
	scheme := NewScheme()
	webhookServer := NewTLSServer(TLSServerOptions{
		Host: o.Host, Port: o.Port, CertDir: o.CertDir, MinTLSVersion: o.MinTLSVersion, EnableHTTP2: o.EnableHTTP2,
		ReadHeaderTimeout: o.ReadHeaderTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, IdleTimeout: o.IdleTimeout,
		MaxConnections: o.MaxConnections, MaxHeaderBytes: o.MaxHeaderBytes,
		ShutdownDelay: o.ShutdownDelay, ShutdownTimeout: o.ShutdownTimeout, Log: o.Log.WithName("webhook-server"),
	})
	metricsOpts := metricsserver.Options{BindAddress: o.MetricsBindAddress, SecureServing: o.MetricsSecure}
	if o.MetricsSecure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
		metricsOpts.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12; c.NextProtos = []string{"http/1.1"} }}
	}
	shutdown := o.ShutdownDelay + o.ShutdownTimeout + 5*time.Second
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                  scheme,
		Logger:                  o.Log,
		WebhookServer:           webhookServer,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  o.HealthProbeBindAddress,
		GracefulShutdownTimeout: &shutdown,
		Cache: cache.Options{
			ByObject: map[client.Object]cache.ByObject{&appsv1.Deployment{}: {Label: o.GatewaySelector}},
			// The rules only read metadata, gateway modes and consumers; drop managedFields to save memory.
			DefaultTransform: cache.TransformStripManagedFields(),
		},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	idx := state.NewIndex()
	if err := webhook.FeedIndex(ctx, mgr.GetCache(), idx); err != nil {
		return err
	}
	m := webhook.NewMetrics(metrics.Registry)
	webhook.RegisterStateMetrics(metrics.Registry, idx)
	webhook.RegisterServerMetrics(metrics.Registry, webhookServer)
	// GetWebhookServer also adds the server to the manager's runnables.
	webhook.Register(mgr.GetWebhookServer(), webhook.Deps{Engine: engine, State: idx, Log: o.Log.WithName("admission"), Metrics: m,
		MaxInFlight: o.MaxInFlight, MaxInFlightBytes: o.MaxInFlightBytes})

	synced := cacheSyncedChecker(mgr.GetCache(), o.CacheSyncTimeout, o.Log)
	if err := mgr.AddHealthzCheck("ping", func(*http.Request) error { return nil }); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", webhookServer.StartedChecker()); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("caches", synced); err != nil {
		return err
	}
	// cache_synced turns 1 as soon as the informers sync, whether or not a probe has asked.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			m.CacheSynced.Set(1)
		}
		<-ctx.Done()
		return nil
	})); err != nil {
		return err
	}
	if o.AuditInterval > 0 {
		a := &auditor{reader: mgr.GetClient(), selector: o.GatewaySelector, engine: engine, metrics: m,
			events: mgr.GetEventRecorder("consul-peering-guard"), interval: o.AuditInterval, log: o.Log.WithName("audit")}
		if err := mgr.Add(a); err != nil {
			return err
		}
	}
	o.Log.Info("starting", "partition", o.Engine.LocalPartition(), "partitionsEnabled", o.Engine.PartitionsEnabled,
		"namespacesEnabled", o.Engine.NamespacesEnabled, "meshGatewaySelector", o.GatewaySelector.String())
	return mgr.Start(ctx)
}

// cacheSyncedChecker is ready once every informer has synced; until then it says which
// wait timed out, and the informers' own logs say why (for example a forbidden list).
func cacheSyncedChecker(c cache.Cache, timeout time.Duration, log logr.Logger) func(*http.Request) error {
	var done atomic.Bool
	return func(req *http.Request) error {
		if done.Load() {
			return nil
		}
		ctx, cancel := context.WithTimeout(req.Context(), timeout)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			log.Info("not ready: informer caches have not synced; check that the service account may list and watch the watched kinds")
			return errors.New("informer caches have not synced")
		}
		done.Store(true)
		return nil
	}
}
