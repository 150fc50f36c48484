package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/consul-peering-guard/consul-peering-guard/internal/server"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// startServer runs a TLSServer on a loopback port until the test ends and returns its
// address and a TLS configuration that trusts it.
func startServer(t *testing.T, o server.TLSServerOptions) (string, *tls.Config) {
	t.Helper()
	ca, err := framework.NewCA("server-test")
	if err != nil {
		t.Fatal(err)
	}
	o.CertDir = filepath.Join(t.TempDir(), "certs")
	if _, err := ca.WriteServing(o.CertDir); err != nil {
		t.Fatal(err)
	}
	o.Host, o.Log = "127.0.0.1", logr.Discard()
	s := server.NewTLSServer(o)
	s.Register("/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server stopped with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for s.Addr() == "" {
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	return s.Addr(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func handshake(addr string, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout, Deadline: time.Now().Add(timeout)}, "tcp", addr, cfg)
}

func TestConnectionLimitIsHonoured(t *testing.T) {
	const limit = 3
	addr, cfg := startServer(t, server.TLSServerOptions{MaxConnections: limit, ReadHeaderTimeout: 30 * time.Second, ShutdownTimeout: time.Second})
	var open []*tls.Conn
	for range limit {
		c, err := handshake(addr, cfg, 5*time.Second)
		if err != nil {
			t.Fatalf("connection within the limit: %v", err)
		}
		open = append(open, c)
	}
	defer func() {
		for _, c := range open {
			_ = c.Close()
		}
	}()
	if c, err := handshake(addr, cfg, 500*time.Millisecond); err == nil {
		_ = c.Close()
		t.Fatalf("a connection over the limit of %d was served", limit)
	}
	// One closes; a new connection is served.
	_ = open[0].Close()
	open = open[1:]
	c, err := handshake(addr, cfg, 5*time.Second)
	if err != nil {
		t.Fatalf("after a connection closed: %v", err)
	}
	open = append(open, c)
}

func TestHalfOpenConnectionsTimeOutAndGiveTheirPlaceBack(t *testing.T) {
	addr, cfg := startServer(t, server.TLSServerOptions{MaxConnections: 2, ReadHeaderTimeout: 300 * time.Millisecond,
		ReadTimeout: 10 * time.Second, ShutdownTimeout: time.Second})
	var raw []net.Conn
	for range 2 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		raw = append(raw, c)
	}
	// Neither says a word: both are closed by the server once the handshake timeout passes.
	for i, c := range raw {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("half-open connection %d still open after %s", i, time.Since(start))
		}
	}
	// A client that completes its handshake is served in their place.
	c, err := handshake(addr, cfg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
}

func TestHeaderTimeoutIsCappedByTheReadTimeout(t *testing.T) {
	addr, cfg := startServer(t, server.TLSServerOptions{ReadHeaderTimeout: time.Minute, ReadTimeout: 300 * time.Millisecond, ShutdownTimeout: time.Second})
	c, err := handshake(addr, cfg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_, _ = c.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\n"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a half-sent request outlived the read timeout")
	}
}

func TestLargeHeadersAreRefused(t *testing.T) {
	addr, cfg := startServer(t, server.TLSServerOptions{MaxHeaderBytes: 4 << 10, ReadTimeout: 5 * time.Second, ShutdownTimeout: time.Second})
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("HTTP %d, want 431", resp.StatusCode)
	}
}

func TestTLSFloorIs13UnlessLowered(t *testing.T) {
	addr, cfg := startServer(t, server.TLSServerOptions{ShutdownTimeout: time.Second})
	tls12 := cfg.Clone()
	tls12.MaxVersion = tls.VersionTLS12
	if c, err := handshake(addr, tls12, 5*time.Second); err == nil {
		_ = c.Close()
		t.Error("TLS 1.2 accepted by default")
	}
	lowered, cfg := startServer(t, server.TLSServerOptions{MinTLSVersion: tls.VersionTLS12, ShutdownTimeout: time.Second})
	cbc := cfg.Clone()
	cbc.MaxVersion, cbc.CipherSuites = tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
	if c, err := handshake(lowered, cbc, 5*time.Second); err == nil {
		_ = c.Close()
		t.Error("a CBC-SHA1 suite accepted at TLS 1.2")
	}
	aead := cfg.Clone()
	aead.MaxVersion = tls.VersionTLS12
	c, err := handshake(lowered, aead, 5*time.Second)
	if err != nil {
		t.Fatalf("TLS 1.2 with an AEAD suite refused once lowered: %v", err)
	}
	_ = c.Close()
}

func TestClientCertificateIsRequiredWhenAClientCAIsSet(t *testing.T) {
	clientCA, err := framework.NewCA("client-ca")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, clientCA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	addr, cfg := startServer(t, server.TLSServerOptions{ClientCAFile: caFile, ClientNames: []string{"kube-apiserver"}, ShutdownTimeout: time.Second})
	get := func(certPEM, keyPEM []byte) error {
		c := cfg.Clone()
		if certPEM != nil {
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			c.Certificates = []tls.Certificate{pair}
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: c}, Timeout: 10 * time.Second}
		resp, err := client.Get("https://" + addr + "/")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		return nil
	}
	good, goodKey, err := clientCA.IssueClient("kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	if err := get(good, goodKey); err != nil {
		t.Errorf("the allowed client certificate: %v", err)
	}
	other, otherKey, err := clientCA.IssueClient("someone-else")
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2][]byte{"no certificate": {}, "another name": {other, otherKey}} {
		var op *net.OpError
		if err := get(pair[0], pair[1]); !errors.As(err, &op) || op.Op != "remote error" {
			t.Errorf("%s: %v, want the server's TLS alert", name, err)
		}
	}
}
