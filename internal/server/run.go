// Package server wires the `serve` command: the controller-runtime manager, its cache
// restricted to what the rules read, the state index, the TLS webhook server, health and
// readiness probes and the metrics endpoint. Tests start it exactly as production does.
package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/openreports"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// Options is everything `serve` is configured with.
type Options struct {
	Engine          validators.Config
	GatewaySelector labels.Selector
	// GatewayNamespace, when set, is the only namespace whose Deployments are watched for
	// mesh gateways (so a namespaced Role suffices); empty watches every namespace.
	GatewayNamespace string
	// ExemptNamespaces are allowed without checking.
	ExemptNamespaces []string
	// KindRecheck is how often a kind whose CustomResourceDefinition is missing is looked for.
	KindRecheck time.Duration
	// TLSServerOptions configure the webhook's listener (its Log is set from Log).
	TLSServerOptions
	MetricsBindAddress     string
	MetricsSecure          bool
	HealthProbeBindAddress string
	// SideServerOptions bound the probe and metrics listeners.
	SideServerOptions SideServerOptions
	// MaxInFlight, MaxInFlightBytes, InFlightWait and BodyReadTimeout bound the reviews
	// judged at once and their bodies (webhook.Deps).
	MaxInFlight      int
	MaxInFlightBytes int64
	InFlightWait     time.Duration
	BodyReadTimeout  time.Duration
	// CacheSyncTimeout bounds one readiness check's wait for the state index to sync.
	CacheSyncTimeout time.Duration
	AuditInterval    time.Duration
	// AuditChunkSize is how many objects one list request of the audit asks for (0: a
	// kind at once).
	AuditChunkSize int64
	// AuditLeaseNamespace holds the Lease that elects the one replica that audits; empty
	// audits on every replica.
	AuditLeaseNamespace string
	// AuditWorkloads also audits the workloads people write that carry the upstreams
	// annotation: a state rule finding one is reported, never by refusing its rollout.
	AuditWorkloads bool
	// Reports keeps the audit's findings as OpenReports Reports (needs AuditInterval).
	Reports bool
	// Registration is the webhook configuration applied once serve is ready.
	Registration Registration
	Log          logr.Logger
}

// serveScheme is kinds.NewScheme plus the OpenReports types the audit's reports are written as.
func serveScheme() *runtime.Scheme {
	s := kinds.NewScheme()
	if err := orv1alpha1.Install(s); err != nil {
		panic(err) // static registration of known types cannot fail at runtime
	}
	return s
}

// Run serves the webhook until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	engine, err := validators.NewEngine(o.Engine)
	if err != nil {
		return err
	}
	var reg *registrar
	if o.Registration.File != "" {
		obj, svc, err := ReadWebhookConfiguration(o.Registration.File)
		if err != nil {
			return fmt.Errorf("--webhook-configuration: %w", err)
		}
		reg = &registrar{obj: obj, svc: svc, reg: o.Registration, interval: time.Second, log: o.Log.WithName("registration")}
	}
	scheme := serveScheme()
	tlsOpts := o.TLSServerOptions
	tlsOpts.Log = o.Log.WithName("webhook-server")
	webhookServer := NewTLSServer(tlsOpts)
	shutdown := o.ShutdownDelay + o.ShutdownTimeout + 5*time.Second
	gateways := cache.ByObject{Label: o.GatewaySelector}
	if o.GatewayNamespace != "" {
		gateways.Namespaces = map[string]cache.Config{o.GatewayNamespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:        scheme,
		Logger:        o.Log,
		WebhookServer: webhookServer,
		// The probe and metrics ports are served below (newProbeServer, newMetricsServer)
		// on bounded listeners; the manager's own take any number of connections.
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		GracefulShutdownTimeout: &shutdown,
		Cache: cache.Options{
			ByObject: map[client.Object]cache.ByObject{&appsv1.Deployment{}: gateways},
			// The cache holds only what the state index reads: memory grows with the number
			// of objects, not their size. The audit lists whole objects from the API server.
			DefaultTransform: state.StripForIndex,
		},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	idx := state.NewIndex()
	m := webhook.NewMetrics(metrics.Registry)
	// The watcher registers the informers once the cache runs, so the manager never waits
	// for a sync (and a SIGTERM is honoured while a list is refused); until every watched
	// kind has synced, the gate refuses reviews and readiness is false.
	watcher := state.NewWatcher(mgr.GetCache(), idx, state.WatcherOptions{
		Recheck: o.KindRecheck, Registerer: metrics.Registry, Synced: m.CacheSynced, Log: o.Log.WithName("watcher"),
	})
	if err := mgr.Add(watcher); err != nil {
		return err
	}
	gate := webhook.NewGate(o.ExemptNamespaces, watcher.Synced, metrics.Registry)
	webhook.RegisterStateMetrics(metrics.Registry, idx)
	webhook.RegisterServerMetrics(metrics.Registry, webhookServer)
	// GetWebhookServer also adds the server to the manager's runnables.
	st := state.NewConfirmedGateways(idx, mgr.GetAPIReader(), o.GatewaySelector, o.GatewayNamespace)
	webhook.Register(mgr.GetWebhookServer(), webhook.Deps{Engine: engine, State: st, Log: o.Log.WithName("admission"), Metrics: m, Gate: gate,
		MaxInFlight: o.MaxInFlight, MaxInFlightBytes: o.MaxInFlightBytes, InFlightWait: o.InFlightWait, BodyReadTimeout: o.BodyReadTimeout})

	sideLog := o.Log.WithName("side-servers")
	probes, err := newProbeServer(o.HealthProbeBindAddress,
		map[string]healthz.Checker{"ping": healthz.Ping},
		map[string]healthz.Checker{"webhook": webhookServer.StartedChecker(), "caches": syncedChecker(watcher.Synced, o.CacheSyncTimeout, o.Log)},
		o.SideServerOptions, sideLog)
	if err != nil {
		return err
	}
	metricsSrv, err := newMetricsServer(o.MetricsBindAddress, o.MetricsSecure, o.MinTLS(), cfg, mgr.GetHTTPClient(), o.SideServerOptions, sideLog)
	if err != nil {
		closeListeners(probes)
		return err
	}
	if err := addServers(mgr, probes, metricsSrv); err != nil {
		closeListeners(probes, metricsSrv)
		return err
	}
	if o.AuditInterval > 0 {
		a := &auditor{reader: mgr.GetAPIReader(), state: idx, synced: watcher.Synced, chunk: o.AuditChunkSize, exempt: gate.ExemptNamespaces(),
			engine: engine, metrics: m, events: mgr.GetEventRecorder("consul-peering-guard"), interval: o.AuditInterval,
			workloads: o.AuditWorkloads, log: o.Log.WithName("audit")}
		if o.AuditLeaseNamespace != "" {
			if a.lease, err = auditLease(cfg, o.AuditLeaseNamespace); err != nil {
				return err
			}
		}
		if o.Reports {
			// Read Reports straight from the API server: a cache would need list and watch on
			// every Report of the cluster, Kyverno's included.
			a.reports = &openreports.Writer{Reader: mgr.GetAPIReader(), Client: mgr.GetClient()}
		}
		if err := mgr.Add(a); err != nil {
			return err
		}
	}
	if reg != nil {
		// Reads are uncached: a watch would need list on every ClusterRole and EndpointSlice.
		reg.reader, reg.writer = mgr.GetAPIReader(), mgr.GetClient()
		reg.ready = func() bool {
			return webhookServer.Serving() && !webhookServer.CertificateNotAfter().IsZero() && watcher.Synced()
		}
		if err := mgr.Add(reg); err != nil {
			return err
		}
	}
	o.Log.Info("starting", "partition", o.Engine.LocalPartition(), "partitionsEnabled", o.Engine.PartitionsEnabled,
		"namespacesEnabled", o.Engine.NamespacesEnabled, "meshGatewaySelector", o.GatewaySelector.String(),
		"meshGatewayNamespace", o.GatewayNamespace, "exemptNamespaces", gate.ExemptNamespaces())
	return mgr.Start(ctx)
}

// auditLease is the Lease lock of the audit in namespace, held under this process's identity
// (host name and a random suffix, so two processes on one host differ).
func auditLease(cfg *rest.Config, namespace string) (resourcelock.Interface, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("audit lease identity: %w", err)
	}
	lock, err := resourcelock.NewFromKubeconfig(resourcelock.LeasesResourceLock, namespace, AuditLeaseName,
		resourcelock.ResourceLockConfig{Identity: host + "_" + string(uuid.NewUUID())}, cfg, renewDeadline)
	if err != nil {
		return nil, fmt.Errorf("audit lease: %w", err)
	}
	return lock, nil
}

// syncedChecker is ready once every watched kind has synced into the state index; a check
// waits up to timeout for it. Until then the informers' own logs say why (for example a
// forbidden list).
func syncedChecker(synced func() bool, timeout time.Duration, log logr.Logger) func(*http.Request) error {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), timeout)
		defer cancel()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for !synced() {
			select {
			case <-ctx.Done():
				log.Info("not ready: informer caches have not synced; check that the service account may list and watch the watched kinds")
				return errors.New("informer caches have not synced")
			case <-tick.C:
			}
		}
		return nil
	}
}
