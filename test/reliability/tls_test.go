package reliability

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/internal/server"
)

func dialTLS(t *testing.T, port int, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	return tls.DialWithDialer(d, "tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
}

func trusted() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	return pool
}

func TestTLSAndHTTPHardening(t *testing.T) {
	w, _ := startGuard(t, "--read-timeout=1s")

	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		conn, err := dialTLS(t, w.Port, &tls.Config{RootCAs: trusted(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		if err == nil {
			_ = conn.Close()
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
	})
	t.Run("TLS 1.2 is refused by default", func(t *testing.T) {
		conn, err := dialTLS(t, w.Port, &tls.Config{RootCAs: trusted(), MaxVersion: tls.VersionTLS12})
		if err == nil {
			_ = conn.Close()
			t.Fatal("a TLS 1.2 handshake succeeded; the default minimum is 1.3")
		}
	})
	t.Run("TLS 1.3 is accepted", func(t *testing.T) {
		conn, err := dialTLS(t, w.Port, &tls.Config{RootCAs: trusted(), MinVersion: tls.VersionTLS13})
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.Close()
	})
	t.Run("HTTP/2 is not negotiated by default", func(t *testing.T) {
		conn, err := dialTLS(t, w.Port, &tls.Config{RootCAs: trusted(), NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		if p := conn.ConnectionState().NegotiatedProtocol; p == "h2" {
			t.Fatalf("negotiated %q", p)
		}
	})
	t.Run("no plaintext listener", func(t *testing.T) {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/validate-consul-hashicorp-com-v1alpha1-mesh", w.Port))
		if err == nil {
			defer func() { _ = resp.Body.Close() }()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("plain HTTP got %d", resp.StatusCode)
			}
		}
	})
	t.Run("slow clients are cut off by the read timeout", func(t *testing.T) {
		conn, err := dialTLS(t, w.Port, &tls.Config{RootCAs: trusted()})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		_, _ = conn.Write([]byte("POST /validate-consul-hashicorp-com-v1alpha1-mesh HTTP/1.1\r\nHost: x\r\n"))
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		start := time.Now()
		_, err = bufio.NewReader(conn).ReadString('\n')
		if err == nil && time.Since(start) > 5*time.Second {
			t.Fatal("the server kept a half-sent request open")
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("connection closed only after %s", time.Since(start))
		}
	})
	t.Run("metrics listen on loopback by default", func(t *testing.T) {
		out, err := exec(binary, "serve", "--help")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, `--metrics-bind-address string`) || !strings.Contains(out, `(default "127.0.0.1:8080")`) {
			t.Fatalf("metrics default is not loopback:\n%s", out)
		}
	})

	lowered, _ := startGuard(t, "--tls-min-version=1.2", "--enable-http2")
	t.Run("--tls-min-version=1.2 accepts TLS 1.2 with an AEAD suite", func(t *testing.T) {
		conn, err := dialTLS(t, lowered.Port, &tls.Config{RootCAs: trusted(), MaxVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		if v, suite := conn.ConnectionState().Version, conn.ConnectionState().CipherSuite; v != tls.VersionTLS12 || !slices.Contains(server.TLS12CipherSuites, suite) {
			t.Fatalf("negotiated %s with %s", tls.VersionName(v), tls.CipherSuiteName(suite))
		}
	})
	t.Run("--tls-min-version=1.2 refuses the CBC-SHA1 suites", func(t *testing.T) {
		conn, err := dialTLS(t, lowered.Port, &tls.Config{RootCAs: trusted(), MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}})
		if err == nil {
			_ = conn.Close()
			t.Fatalf("a TLS 1.2 handshake with %s succeeded", tls.CipherSuiteName(conn.ConnectionState().CipherSuite))
		}
	})
	t.Run("--enable-http2 negotiates h2", func(t *testing.T) {
		conn, err := dialTLS(t, lowered.Port, &tls.Config{RootCAs: trusted(), NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
			t.Fatalf("negotiated %q", p)
		}
	})
}
