package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/net/netutil"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// TLSServerOptions configures the HTTPS server of the admission webhook.
type TLSServerOptions struct {
	Host, CertDir, CertName, KeyName string
	Port                             int
	MinTLSVersion                    uint16
	EnableHTTP2                      bool
	// ReadHeaderTimeout bounds the TLS handshake and the request headers (net/http gives the
	// handshake the shortest of ReadHeaderTimeout, ReadTimeout and WriteTimeout), so a
	// connection that never completes either gives its place back.
	ReadHeaderTimeout time.Duration
	// ReadTimeout, WriteTimeout and IdleTimeout bound slow or idle clients.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxConnections bounds the connections open at once; more wait in the kernel's accept
	// queue until one closes. Zero means no bound.
	MaxConnections int
	// MaxHeaderBytes bounds the request headers; zero means net/http's 1 MiB.
	MaxHeaderBytes int
	// ShutdownDelay keeps serving, reported not ready, so endpoints drain before the listener closes.
	ShutdownDelay time.Duration
	// ShutdownTimeout bounds how long in-flight reviews may take to finish.
	ShutdownTimeout time.Duration
	Log             logr.Logger
}

// TLSServer is the webhook server: controller-runtime's Server interface with timeouts, a
// connection limit, a TLS floor, HTTP/2 off unless asked for, certificate reload from CertDir and a drain phase.
// There is no plaintext listener.
type TLSServer struct {
	opts     TLSServerOptions
	mux      *http.ServeMux
	mu       sync.Mutex
	addr     string
	started  atomic.Bool
	draining atomic.Bool
	getCert  func(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

var _ ctrlwebhook.Server = (*TLSServer)(nil)

// NewTLSServer returns a server that is not yet listening.
func NewTLSServer(o TLSServerOptions) *TLSServer {
	if o.CertName == "" {
		o.CertName = "tls.crt"
	}
	if o.KeyName == "" {
		o.KeyName = "tls.key"
	}
	return &TLSServer{opts: o, mux: http.NewServeMux()}
}

// NeedLeaderElection implements webhook.Server: every replica serves.
func (s *TLSServer) NeedLeaderElection() bool { return false }

// Register implements webhook.Server.
func (s *TLSServer) Register(path string, hook http.Handler) { s.mux.Handle(path, hook) }

// WebhookMux implements webhook.Server.
func (s *TLSServer) WebhookMux() *http.ServeMux { return s.mux }

// Addr is the address the server listens on once started (useful with port 0 in tests).
func (s *TLSServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// TLSConfig builds the server's TLS configuration around a certificate source.
func (s *TLSServer) TLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	cfg := &tls.Config{MinVersion: s.opts.MinTLSVersion, GetCertificate: getCert, NextProtos: []string{"http/1.1"}}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if s.opts.EnableHTTP2 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	return cfg
}

// Start implements webhook.Server: it serves until ctx ends, then reports not ready, waits
// ShutdownDelay, stops accepting and lets in-flight reviews finish within ShutdownTimeout.
func (s *TLSServer) Start(ctx context.Context) error {
	watcher, err := certwatcher.New(filepath.Join(s.opts.CertDir, s.opts.CertName), filepath.Join(s.opts.CertDir, s.opts.KeyName))
	if err != nil {
		return fmt.Errorf("serving certificate in %s: %w", s.opts.CertDir, err)
	}
	go func() {
		if err := watcher.Start(ctx); err != nil {
			s.opts.Log.Error(err, "certificate watcher stopped")
		}
	}()
	tcp, err := net.Listen("tcp", net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port)))
	if err != nil {
		return err
	}
	if s.opts.MaxConnections > 0 {
		// Below TLS, so that a connection holds its place from accept to close, handshake included.
		tcp = netutil.LimitListener(tcp, s.opts.MaxConnections)
	}
	ln := tls.NewListener(tcp, s.TLSConfig(watcher.GetCertificate))
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.getCert = watcher.GetCertificate
	s.mu.Unlock()

	headerTimeout := s.opts.ReadHeaderTimeout
	if rt := s.opts.ReadTimeout; rt > 0 && (headerTimeout <= 0 || headerTimeout > rt) {
		headerTimeout = rt // the headers cannot have longer than the whole request
	}
	srv := &http.Server{
		Handler:           s.mux,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		// Failed handshakes and cut-off clients are routine under the bounds above; they go
		// to the structured log at debug level, not to stderr line by line.
		ErrorLog: log.New(debugWriter{s.opts.Log.V(1)}, "", 0),
	}
	if !s.opts.EnableHTTP2 {
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	done := make(chan struct{})
	go func() { //nolint:gosec // ctx is cancelled by now; draining needs a deadline of its own
		defer close(done)
		<-ctx.Done()
		s.draining.Store(true)
		s.opts.Log.Info("shutting down: reporting not ready, then draining", "delay", s.opts.ShutdownDelay, "timeout", s.opts.ShutdownTimeout)
		time.Sleep(s.opts.ShutdownDelay)
		sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			s.opts.Log.Error(err, "in-flight reviews did not finish in time")
		}
	}()
	s.opts.Log.Info("serving admission webhook", "address", s.addr, "minTLS", tls.VersionName(s.TLSConfig(nil).MinVersion), "http2", s.opts.EnableHTTP2,
		"maxConnections", s.opts.MaxConnections)
	s.started.Store(true)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-done
	return nil
}

// debugWriter turns net/http's error log lines into debug-level structured log entries.
type debugWriter struct{ log logr.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Info("http server", "error", strings.TrimSpace(string(p)))
	return len(p), nil
}

// StartedChecker implements webhook.Server: ready once a TLS handshake with the listener
// succeeds, and not ready again from the moment shutdown begins.
func (s *TLSServer) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		if s.draining.Load() {
			return errors.New("webhook server is shutting down")
		}
		if !s.started.Load() {
			return errors.New("webhook server has not started")
		}
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", s.Addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a local handshake check, not a client
		if err != nil {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return conn.Close()
	}
}

// Serving reports whether the server accepts reviews and is not shutting down.
func (s *TLSServer) Serving() bool { return s.started.Load() && !s.draining.Load() }

// CertificateNotAfter returns when the certificate being served expires, zero before start.
func (s *TLSServer) CertificateNotAfter() time.Time {
	s.mu.Lock()
	get := s.getCert
	s.mu.Unlock()
	if get == nil {
		return time.Time{}
	}
	cert, err := get(nil)
	if err != nil || cert == nil || len(cert.Certificate) == 0 {
		return time.Time{}
	}
	if cert.Leaf != nil {
		return cert.Leaf.NotAfter
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return time.Time{}
	}
	return leaf.NotAfter
}
