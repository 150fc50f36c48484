package server

import (
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
)

// DefaultMaxSideConnections bounds the connections of the probe port and of the metrics
// port, each: their callers are the kubelet and a scraper or two, and an idle connection
// costs a goroutine and its buffers, so without a bound anyone who can reach the port
// grows the process past its memory limit.
const DefaultMaxSideConnections = 64

// SideServerOptions bound the probe and metrics listeners, as TLSServerOptions bound the
// webhook's.
type SideServerOptions struct {
	// MaxConnections bounds the connections of each listener open at once; more wait in
	// the kernel's accept queue. Zero means DefaultMaxSideConnections.
	MaxConnections int
	// ReadHeaderTimeout bounds the request headers (and the TLS handshake of secure
	// metrics), IdleTimeout a keep-alive connection between requests.
	ReadHeaderTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request headers; zero means net/http's 1 MiB.
	MaxHeaderBytes int
}

// listen opens a TCP listener on addr holding at most max connections at once; the bound
// sits below any TLS, so a connection holds its place from accept to close.
func listen(addr string, maxConns int) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if maxConns <= 0 {
		maxConns = DefaultMaxSideConnections
	}
	return netutil.LimitListener(ln, maxConns), nil
}

// sideServer is an HTTP server on a bounded listener, run by the manager with the servers
// it starts before anything else (probes must answer while caches sync).
func sideServer(name string, ln net.Listener, h http.Handler, o SideServerOptions, lg logr.Logger) *manager.Server {
	shutdown := 5 * time.Second
	return &manager.Server{
		Name: name,
		Server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: o.ReadHeaderTimeout,
			IdleTimeout:       o.IdleTimeout,
			MaxHeaderBytes:    o.MaxHeaderBytes,
			ErrorLog:          log.New(debugWriter{lg.V(1)}, "", 0),
		},
		Listener:        ln,
		ShutdownTimeout: &shutdown,
	}
}

// probeHandler serves /healthz and /readyz (and their /<check> subpaths) as the manager's
// own probe server does.
func probeHandler(live, ready map[string]healthz.Checker) http.Handler {
	mux := http.NewServeMux()
	for path, checks := range map[string]map[string]healthz.Checker{"/healthz": live, "/readyz": ready} {
		h := http.StripPrefix(path, &healthz.Handler{Checks: checks})
		mux.Handle(path, h)
		mux.Handle(path+"/", h)
	}
	return mux
}

// newProbeServer binds the probe port; nil when addr is empty or "0" (disabled).
func newProbeServer(addr string, live, ready map[string]healthz.Checker, o SideServerOptions, lg logr.Logger) (*manager.Server, error) {
	if addr == "" || addr == "0" {
		return nil, nil
	}
	ln, err := listen(addr, o.MaxConnections)
	if err != nil {
		return nil, fmt.Errorf("health probe address %s: %w", addr, err)
	}
	return sideServer("health probe", ln, probeHandler(live, ready), o, lg), nil
}

// newMetricsServer binds the metrics port and serves the controller-runtime registry on
// /metrics: plain HTTP, or with secure HTTPS (a self-signed certificate, as
// controller-runtime's metrics server makes) behind Kubernetes authentication and
// authorization. nil when addr is "0" (disabled).
func newMetricsServer(addr string, secure bool, minTLS uint16, cfg *rest.Config, httpClient *http.Client, o SideServerOptions, lg logr.Logger) (*manager.Server, error) {
	if addr == "" || addr == "0" {
		return nil, nil
	}
	h := promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
	var tlsCfg *tls.Config
	if secure {
		filter, err := filters.WithAuthenticationAndAuthorization(cfg, httpClient)
		if err != nil {
			return nil, fmt.Errorf("metrics authentication: %w", err)
		}
		if h, err = filter(lg.WithValues("path", "/metrics"), h); err != nil {
			return nil, fmt.Errorf("metrics authentication: %w", err)
		}
		certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("localhost", []net.IP{net.IPv4(127, 0, 0, 1)}, nil)
		if err != nil {
			return nil, fmt.Errorf("metrics serving certificate: %w", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("metrics serving certificate: %w", err)
		}
		tlsCfg = &tls.Config{MinVersion: minTLS, CipherSuites: TLS12CipherSuites, NextProtos: []string{"http/1.1"}, Certificates: []tls.Certificate{pair}}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	ln, err := listen(addr, o.MaxConnections)
	if err != nil {
		return nil, fmt.Errorf("metrics address %s: %w", addr, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	srv := sideServer("metrics", ln, mux, o, lg)
	if tlsCfg != nil {
		// HTTP/2 off, as on the webhook port.
		srv.Server.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	return srv, nil
}

// addServers adds the servers that are not nil to the manager.
func addServers(mgr manager.Manager, servers ...*manager.Server) error {
	for _, s := range servers {
		if s == nil {
			continue
		}
		if err := mgr.Add(s); err != nil {
			return err
		}
	}
	return nil
}

// closeListeners closes the listeners of servers that will never be started.
func closeListeners(servers ...*manager.Server) {
	for _, s := range servers {
		if s != nil && s.Listener != nil {
			_ = s.Listener.Close()
		}
	}
}
