package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
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
	// MinTLSVersion is the lowest TLS version accepted; zero means TLS 1.3. At TLS 1.2 only
	// the ECDHE AEAD suites (TLS12CipherSuites) are offered.
	MinTLSVersion uint16
	EnableHTTP2   bool
	// ClientCAFile, when set, is a PEM bundle of the CAs whose client certificates are
	// accepted: every caller must present one (the API server does, from the kubeconfig of
	// its AdmissionConfiguration); a caller without one is refused during the handshake.
	ClientCAFile string
	// ClientNames, with ClientCAFile, are the subject common names accepted; empty accepts
	// any certificate the CAs signed.
	ClientNames []string
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
	o.CertName = cmp.Or(o.CertName, "tls.crt")
	o.KeyName = cmp.Or(o.KeyName, "tls.key")
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

// TLS12CipherSuites are the suites offered when TLS 1.2 is allowed: ECDHE key exchange with
// an AEAD cipher only, none of the CBC-SHA1 suites Go would otherwise accept. TLS 1.3 suites
// are not configurable and all AEAD.
var TLS12CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// MinTLS returns the TLS floor: MinTLSVersion, or TLS 1.3 when it is zero (the API server
// speaks 1.3, so nothing older need be accepted).
func (o TLSServerOptions) MinTLS() uint16 {
	if o.MinTLSVersion == 0 {
		return tls.VersionTLS13
	}
	return o.MinTLSVersion
}

// TLSConfig builds the server's TLS configuration around a certificate source and, when
// client authentication is on, the pool of client CAs.
func (s *TLSServer) TLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), clientCAs *x509.CertPool) *tls.Config {
	cfg := &tls.Config{MinVersion: s.opts.MinTLS(), GetCertificate: getCert, NextProtos: []string{"http/1.1"}, CipherSuites: TLS12CipherSuites}
	if s.opts.EnableHTTP2 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	if clientCAs != nil {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = clientCAs
		cfg.VerifyConnection = allowedClientNames(s.opts.ClientNames)
	}
	return cfg
}

// allowedClientNames returns a check that the verified client certificate carries one of
// the allowed subject common names; nil when any is allowed.
func allowedClientNames(names []string) func(tls.ConnectionState) error {
	if len(names) == 0 {
		return nil
	}
	allowed := make(map[string]struct{}, len(names))
	for _, n := range names {
		allowed[n] = struct{}{}
	}
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no client certificate")
		}
		cn := cs.PeerCertificates[0].Subject.CommonName
		if _, ok := allowed[cn]; !ok {
			return fmt.Errorf("client certificate common name %q is not allowed", cn)
		}
		return nil
	}
}

// loadClientCAs reads ClientCAFile; nil when client authentication is off.
func (o TLSServerOptions) loadClientCAs() (*x509.CertPool, error) {
	if o.ClientCAFile == "" {
		if len(o.ClientNames) > 0 {
			return nil, errors.New("client common names are set without a client CA file")
		}
		return nil, nil
	}
	raw, err := os.ReadFile(o.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("client CA file %s: no PEM certificate in it", o.ClientCAFile)
	}
	return pool, nil
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
	clientCAs, err := s.opts.loadClientCAs()
	if err != nil {
		return err
	}
	tcp, err := net.Listen("tcp", net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port)))
	if err != nil {
		return err
	}
	if s.opts.MaxConnections > 0 {
		// Below TLS, so that a connection holds its place from accept to close, handshake included.
		tcp = netutil.LimitListener(tcp, s.opts.MaxConnections)
	}
	ln := tls.NewListener(tcp, s.TLSConfig(watcher.GetCertificate, clientCAs))
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
	s.opts.Log.Info("serving admission webhook", "address", s.addr, "minTLS", tls.VersionName(s.opts.MinTLS()), "http2", s.opts.EnableHTTP2,
		"maxConnections", s.opts.MaxConnections, "clientAuth", clientCAs != nil, "clientNames", s.opts.ClientNames)
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

// StartedChecker implements webhook.Server: ready once the listener presents its serving
// certificate in a TLS handshake, and not ready again from the moment shutdown begins. With
// client authentication on, the check has no client certificate, so the handshake may then
// fail; the server presenting its certificate first is what counts.
func (s *TLSServer) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		if s.draining.Load() {
			return errors.New("webhook server is shutting down")
		}
		if !s.started.Load() {
			return errors.New("webhook server has not started")
		}
		var presented atomic.Bool
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", s.Addr(), &tls.Config{
			InsecureSkipVerify: true, //nolint:gosec // a local handshake check, not a client
			VerifyConnection: func(cs tls.ConnectionState) error {
				presented.Store(len(cs.PeerCertificates) > 0)
				return nil
			},
		})
		if conn != nil {
			_ = conn.Close()
		}
		if err != nil && !presented.Load() {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return nil
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
