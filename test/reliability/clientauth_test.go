package reliability

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// apiServerClientName is the common name of the client certificate the API server presents.
const apiServerClientName = "kube-apiserver-webhook-client"

// Issue 27, item 2: with --client-ca-file and --client-cn-name, only the API server (which
// presents the client certificate its AdmissionConfiguration names) reaches the webhook.
// A kube-apiserver started with that configuration gets a rule's refusal (the webhook
// answered); a plain HTTPS client, a certificate with another name and one from another CA
// are refused during the handshake. Each denial is logged with the caller's name.
func TestOnlyTheAPIServerIsAnswered(t *testing.T) {
	dir := t.TempDir()
	clientCA, err := framework.NewCA("apiserver-client-ca")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := clientCA.IssueClient(apiServerClientName)
	if err != nil {
		t.Fatal(err)
	}
	admission, err := framework.WebhookClientAuth(dir, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := framework.StartClusterWith(framework.ClusterOptions{APIServerFlags: map[string]string{
		"enable-aggregator-routing":     "true",
		"admission-control-config-file": admission,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })

	caFile := filepath.Join(dir, "client-ca.crt")
	if err := os.WriteFile(caFile, clientCA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(dir, "certs")
	if _, err := ca.WriteServing(certDir); err != nil {
		t.Fatal(err)
	}
	w, err := framework.StartWebhook(binary, c.Kubeconfig, certDir, "--log-format=json",
		"--client-ca-file="+caFile, "--client-cn-name="+apiServerClientName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	if err := w.WaitReady(time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterWebhook("cpg-client-auth", w.Port, ca.CertPEM); err != nil {
		t.Fatal(err)
	}

	t.Run("the API server presenting its certificate is answered", func(t *testing.T) {
		ctx, cancel := framework.Context(time.Minute)
		defer cancel()
		// Returns once a server-side dry run is refused by proxy-defaults-name: the webhook
		// answered the API server.
		if err := c.WaitForWebhook(ctx); err != nil {
			t.Fatal(err)
		}
		w.WaitForJSONLogLine(30*time.Second, func(entry map[string]any) bool { return entry["msg"] == "denied" })
		callers := deniedClients(t, w.Logs())
		if len(callers) == 0 || callers[0] != apiServerClientName {
			t.Errorf("denials logged with callers %q, want %q", callers, apiServerClientName)
		}
		// The figure: the API server's answer time with the client certificate on the
		// webhook's connections (each a refusal by proxy-defaults-name, so the webhook answered).
		var took []time.Duration
		for i := range 20 {
			pd := &v1alpha1.ProxyDefaults{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("edge-%d", i)}}
			start := time.Now()
			err := c.Client.Create(ctx, pd, client.DryRunAll)
			took = append(took, time.Since(start))
			if err == nil || !strings.Contains(err.Error(), "(proxy-defaults-name)") {
				t.Fatalf("dry run %d: want the refusal by proxy-defaults-name, got %v", i, err)
			}
		}
		slices.Sort(took)
		t.Logf("20 writes through the API server with its client certificate: answer p50 %v, max %v", took[len(took)/2], took[len(took)-1])
	})

	review := framework.ReviewBody(kinds.ProxyDefaults, "CREATE",
		`{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ProxyDefaults","metadata":{"name":"webhook-probe","namespace":"default"}}`, "")
	otherCA, err := framework.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	wrongNameCert, wrongNameKey, err := clientCA.IssueClient("some-pod")
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey, err := otherCA.IssueClient(apiServerClientName)
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2][]byte{
		"a client without a certificate":            {},
		"a certificate with another common name":    {wrongNameCert, wrongNameKey},
		"a certificate signed by another authority": {otherCert, otherKey},
	} {
		t.Run(name+" is refused at TLS", func(t *testing.T) {
			client := framework.TLSClient(ca.CertPEM, false)
			if pair[0] != nil {
				cert, err := tls.X509KeyPair(pair[0], pair[1])
				if err != nil {
					t.Fatal(err)
				}
				client.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{cert}
			}
			status, resp, err := framework.PostReview(client, base(w), kinds.ProxyDefaults, review)
			if err == nil {
				t.Fatalf("answered HTTP %d: %+v", status, resp)
			}
			// TLS 1.3 ends the client's handshake before the server has checked its
			// certificate, so the refusal arrives as the server's alert on the first read.
			var op *net.OpError
			if !errors.As(err, &op) || op.Op != "remote error" {
				t.Errorf("refused with %v, want the server's TLS alert", err)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// deniedClients returns the client field (the caller's certificate) of every "denied" line
// of a JSON log.
func deniedClients(t *testing.T, logs string) []string {
	t.Helper()
	var callers []string
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg    string `json:"msg"`
			Client string `json:"client"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "denied" {
			callers = append(callers, line.Client)
		}
	}
	return callers
}
