package app

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/consul-peering-guard/consul-peering-guard/internal/collect"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/internal/server"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

func newServeCommand() *cobra.Command {
	var (
		ef         engineFlags
		o          server.Options
		tlsMin     string
		logFormat  string
		logLevel   string
		kubeconfig string
		kubeCtx    string
		skipObject bool
		auditElect bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the validating admission webhook",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logFormat, logLevel, cmd)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			ctrl.SetLogger(log)
			klog.SetLogger(log.WithName("client-go"))
			if o.Engine, err = ef.config(); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if skipObject {
				policies.SkipEnforced(&o.Engine)
			}
			if o.GatewaySelector, err = ef.selector(); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if err := checkNamespaces(o.GatewayNamespace, o.ExemptNamespaces); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			switch tlsMin {
			case "1.2":
				o.MinTLSVersion = tls.VersionTLS12
			case "1.3":
				o.MinTLSVersion = tls.VersionTLS13
			default:
				return &exitError{code: exitUsage, err: fmt.Errorf("--tls-min-version %q: want 1.2 or 1.3", tlsMin)}
			}
			for name, v := range map[string]int64{"--max-connections": int64(o.MaxConnections), "--max-in-flight": int64(o.MaxInFlight),
				"--max-header-bytes": int64(o.MaxHeaderBytes), "--max-in-flight-bytes": o.MaxInFlightBytes} {
				if v < 0 {
					return &exitError{code: exitUsage, err: fmt.Errorf("%s %d: must not be negative", name, v)}
				}
			}
			for name, v := range map[string]int64{"--max-side-connections": int64(o.SideServerOptions.MaxConnections),
				"--in-flight-wait": int64(o.InFlightWait), "--body-read-timeout": int64(o.BodyReadTimeout)} {
				if v <= 0 {
					return &exitError{code: exitUsage, err: fmt.Errorf("%s: must be positive", name)}
				}
			}
			if len(o.ClientNames) > 0 && o.ClientCAFile == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--client-cn-name needs --client-ca-file: the names are checked on certificates those CAs signed")}
			}
			// The probe and metrics ports get the webhook port's header and idle timeouts.
			o.SideServerOptions.ReadHeaderTimeout, o.SideServerOptions.IdleTimeout = o.ReadHeaderTimeout, o.IdleTimeout
			o.SideServerOptions.MaxHeaderBytes = o.MaxHeaderBytes
			if o.AuditChunkSize < 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--audit-chunk-size %d: must not be negative", o.AuditChunkSize)}
			}
			if o.AuditInterval > 0 && auditElect {
				if o.AuditLeaseNamespace == "" {
					o.AuditLeaseNamespace = podNamespace()
				}
				if errs := validation.IsDNS1123Label(o.AuditLeaseNamespace); o.AuditLeaseNamespace != "" && len(errs) > 0 {
					return &exitError{code: exitUsage, err: fmt.Errorf("--audit-lease-namespace %q: %s", o.AuditLeaseNamespace, strings.Join(errs, "; "))}
				}
				if o.AuditLeaseNamespace == "" {
					return &exitError{code: exitUsage, err: fmt.Errorf("--audit-interval: name the namespace of the audit's Lease with --audit-lease-namespace (outside a pod it cannot be found), or audit on every replica with --audit-leader-election=false")}
				}
			} else {
				o.AuditLeaseNamespace = ""
			}
			if o.Reports && o.AuditInterval <= 0 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--reports needs --audit-interval: the reports hold what the periodic audit finds")}
			}
			if o.Registration.Owner != "" && o.Registration.File == "" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--webhook-configuration-owner needs --webhook-configuration")}
			}
			if o.Registration.File != "" {
				if _, _, err := server.ReadWebhookConfiguration(o.Registration.File); err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("--webhook-configuration: %w", err)}
				}
			}
			cfg, err := restConfig(kubeconfig, kubeCtx)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			o.Log = log
			return server.Run(ctrl.SetupSignalHandler(), cfg, o)
		},
	}
	fs := cmd.Flags()
	ef.add(fs)
	fs.BoolVar(&skipObject, "skip-object-rules", false, "leave the object-only rules that `vap` renders as ValidatingAdmissionPolicies to those policies (installed beside the webhook), so each violation is reported once")
	AddPolicyMaxListItems(fs, &ef.cfg.PolicyMaxListItems)
	fs.StringVar(&o.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "folder with tls.crt and tls.key; files are reloaded when they change")
	fs.StringVar(&o.Host, "host", "", "address to serve the webhook on (all interfaces when empty)")
	fs.IntVar(&o.Port, "port", 9443, "HTTPS port of the webhook")
	fs.StringVar(&tlsMin, "tls-min-version", "1.3", "minimum TLS version: 1.3, or 1.2 (then only ECDHE suites with AES-GCM or ChaCha20-Poly1305) for a client that lacks 1.3")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", "", "PEM file of the CAs whose client certificates the webhook port accepts; when set, a caller without such a certificate is refused during the TLS handshake (the API server presents one from its AdmissionConfiguration's kubeconfig)")
	fs.StringArrayVar(&o.ClientNames, "client-cn-name", nil, "with --client-ca-file, a subject common name the client certificate may carry (repeatable; none: any certificate the CAs signed)")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false, "serve HTTP/2 (off by default: HTTP/2 rapid-reset and stream floods)")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", "127.0.0.1:8080", "Prometheus metrics address; 0 disables; use :8443 with --metrics-secure to expose it beyond loopback")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", false, "serve metrics over HTTPS behind Kubernetes authentication and authorization")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "address of /healthz and /readyz (ready once the TLS server serves and the informer caches have synced)")
	fs.DurationVar(&o.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, "time allowed for the TLS handshake and the request headers")
	fs.DurationVar(&o.ReadTimeout, "read-timeout", 10*time.Second, "time allowed to read one request")
	fs.DurationVar(&o.WriteTimeout, "write-timeout", 15*time.Second, "time allowed to write one response")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", 90*time.Second, "keep-alive connections idle longer are closed")
	fs.IntVar(&o.MaxConnections, "max-connections", 1000, "connections the webhook port serves at once (0: no limit); more wait to be accepted")
	fs.IntVar(&o.SideServerOptions.MaxConnections, "max-side-connections", server.DefaultMaxSideConnections, "connections the probe port, and the metrics port, each serve at once; more wait to be accepted")
	fs.IntVar(&o.MaxHeaderBytes, "max-header-bytes", 64<<10, "largest request headers accepted")
	fs.IntVar(&o.MaxInFlight, "max-in-flight", 0, "reviews judged at once; more wait --in-flight-wait for a place, then are answered 429 (0: 8 per CPU the Go runtime uses)")
	fs.Int64Var(&o.MaxInFlightBytes, "max-in-flight-bytes", webhook.DefaultMaxInFlightBytes, fmt.Sprintf("request body bytes held at once, charged as they arrive; more wait --in-flight-wait for room, then are answered 429 (at least %d, the largest review)", webhook.MaxRequestBytes))
	fs.DurationVar(&o.InFlightWait, "in-flight-wait", webhook.DefaultInFlightWait, "how long a review beyond --max-in-flight or --max-in-flight-bytes waits for a place before it is answered 429 (keep it well under the webhook's timeoutSeconds)")
	fs.DurationVar(&o.BodyReadTimeout, "body-read-timeout", webhook.DefaultBodyReadTimeout, "time a request body has to arrive once its headers are in (the API server sends it at once)")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 0, "on SIGTERM, report not ready this long before closing the listener")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "time in-flight reviews get to finish on shutdown")
	fs.DurationVar(&o.CacheSyncTimeout, "cache-sync-timeout", 2*time.Second, "how long one /readyz check waits for the informer caches to sync before answering not ready")
	fs.StringVar(&o.GatewayNamespace, "mesh-gateway-namespace", "", "watch mesh gateway Deployments only in this namespace (a namespaced Role then suffices); empty: every namespace")
	fs.StringArrayVar(&o.ExemptNamespaces, "exempt-namespace", nil, "allow objects in this namespace without checking them (repeatable; break glass and restores)")
	fs.DurationVar(&o.KindRecheck, "kind-recheck-interval", 10*time.Second, "how often a kind whose CustomResourceDefinition is missing is looked for again")
	fs.DurationVar(&o.AuditInterval, "audit-interval", 0, "re-check every object this often (0 disables), exporting metrics and Events")
	fs.Int64Var(&o.AuditChunkSize, "audit-chunk-size", collect.DefaultChunkSize, "objects one list request of the audit asks for, so that memory holds one page (0: a kind at once)")
	fs.BoolVar(&auditElect, "audit-leader-election", true, "only the replica holding the audit's Lease (coordination.k8s.io) audits, records Events and writes Reports")
	fs.StringVar(&o.AuditLeaseNamespace, "audit-lease-namespace", "", "namespace of the audit's Lease; empty: the pod's ($POD_NAMESPACE, else its service account's)")
	fs.BoolVar(&o.AuditWorkloads, "audit-workloads", true, "the audit also judges the workloads people write that carry the upstreams annotation (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs; needs list on them), so a state rule finding one after it was admitted is reported, never by refusing its rollout")
	fs.BoolVar(&o.Reports, "reports", false, "keep the audit's findings as one OpenReports Report (openreports.io/v1alpha1) per namespace; needs --audit-interval and the Report CRD")
	fs.StringVar(&o.Registration.File, "webhook-configuration", "", "ValidatingWebhookConfiguration (YAML) to apply with server-side apply once serve is ready and its Service has a ready endpoint; the chart mounts it from a ConfigMap. Empty: register nothing")
	fs.StringVar(&o.Registration.Owner, "webhook-configuration-owner", "", "ClusterRole that owns the applied configuration, so that deleting it (helm uninstall) makes the garbage collector delete the configuration")
	fs.StringVar(&logFormat, "log-format", "json", "log format: json or text; one line per denial with kind, namespace, name, operation, rule, field and user")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info or error")
	fs.StringVar(&kubeconfig, "kubeconfig", "", kubeconfigUsage)
	fs.StringVar(&kubeCtx, "context", "", "kubeconfig context to use instead of the current one")
	return cmd
}

// serviceAccountNamespace is where a pod's service account namespace is mounted.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// podNamespace is the namespace this process runs in: $POD_NAMESPACE, else the mounted
// service account's, else "" (outside a pod).
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	raw, err := os.ReadFile(serviceAccountNamespace)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(raw))
}

// checkNamespaces refuses namespace names the API server could never hold.
func checkNamespaces(gateway string, exempt []string) error {
	if gateway != "" {
		if errs := validation.IsDNS1123Label(gateway); len(errs) > 0 {
			return fmt.Errorf("--mesh-gateway-namespace %q: %s", gateway, strings.Join(errs, "; "))
		}
	}
	for _, ns := range exempt {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("--exempt-namespace %q: %s", ns, strings.Join(errs, "; "))
		}
	}
	return nil
}

func newLogger(format, level string, cmd *cobra.Command) (logr.Logger, error) {
	opts := []zap.Opts{zap.WriteTo(cmd.ErrOrStderr())}
	switch format {
	case "json":
		opts = append(opts, zap.JSONEncoder())
	case "text":
		opts = append(opts, zap.ConsoleEncoder())
	default:
		return logr.Logger{}, fmt.Errorf("--log-format %q: want json or text", format)
	}
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return logr.Logger{}, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts = append(opts, zap.Level(lvl))
	return zap.New(opts...), nil
}

// kubeconfigUsage is the help of --kubeconfig: the order in which the connection is found.
const kubeconfigUsage = "kubeconfig file; without it: $KUBECONFIG, then the pod's service account (in a cluster), then ~/.kube/config"

// restConfig loads the API server connection from --kubeconfig, else $KUBECONFIG, the pod's
// service account or ~/.kube/config, in that order, with --context over the current context.
func restConfig(kubeconfig, context string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := config.GetConfigWithContext(context)
	if err != nil {
		return nil, fmt.Errorf("no cluster configuration (set --kubeconfig): %w", err)
	}
	return cfg, nil
}
