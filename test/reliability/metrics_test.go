package reliability

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// tokenFor creates a service account and returns a bearer token for it.
func tokenFor(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	if err := cluster.Client.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(600))}}
	if err := cluster.Client.SubResource("token").Create(ctx, sa, req); err != nil {
		t.Fatal(err)
	}
	return req.Status.Token
}

func ptr[T any](v T) *T { return &v }

func scrape(t *testing.T, port int, token string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// The metrics server's certificate is self-signed by controller-runtime; the point
		// here is the authentication and authorization in front of it, not its trust.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/metrics", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	var resp *http.Response
	// The HTTPS metrics server comes up beside the webhook, not before readiness: wait for it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err = c.Do(req); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// --metrics-secure puts the metrics behind Kubernetes authentication (TokenReview) and
// authorization (SubjectAccessReview on GET /metrics), through controller-runtime's filter.
func TestSecureMetricsNeedAnAuthorizedToken(t *testing.T) {
	ctx, cancel := framework.Context(2 * time.Minute)
	defer cancel()
	certDir := t.TempDir()
	if _, err := ca.WriteServing(certDir); err != nil {
		t.Fatal(err)
	}
	w, err := framework.StartWebhook(binary, cluster.Kubeconfig, certDir, "--metrics-secure")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	if err := w.WaitReady(time.Minute); err != nil {
		t.Fatal(err)
	}

	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "scraper", Namespace: "default"}}}
	if err := cluster.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	allowed, stranger := tokenFor(t, ctx, "scraper"), tokenFor(t, ctx, "stranger")

	if code, _ := scrape(t, w.MetricsPort, ""); code != http.StatusUnauthorized {
		t.Errorf("without a token: HTTP %d, want 401", code)
	}
	if code, _ := scrape(t, w.MetricsPort, stranger); code != http.StatusForbidden {
		t.Errorf("with a token not allowed to GET /metrics: HTTP %d, want 403", code)
	}
	code, body := scrape(t, w.MetricsPort, allowed)
	if code != http.StatusOK || !strings.Contains(body, "consul_peering_guard_cache_synced") {
		t.Errorf("with an authorized token: HTTP %d\n%.300s", code, body)
	}
}
