package reliability

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// servedSerial returns the serial number of the certificate a fresh connection sees.
func servedSerial(t *testing.T, port int) string {
	t.Helper()
	conn, err := dialTLS(t, port, &tls.Config{RootCAs: trusted()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// Replacing the files in --cert-dir is picked up without a restart, and no review fails
// while it happens.
func TestCertificateRotation(t *testing.T) {
	w, certDir := startGuard(t)
	before := servedSerial(t, w.Port)

	stop := make(chan struct{})
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	sample := framework.Samples(1)[0]
	body := framework.ReviewBody(sample.Kind, "CREATE", sample.Object, "")
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := framework.TLSClient(ca.CertPEM, false) // a new connection, and handshake, per review
			for {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				if _, resp, err := framework.PostReview(c, base(w), sample.Kind, body); err != nil || resp == nil || resp.Allowed != sample.Allowed {
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	newSerial, err := ca.WriteServing(certDir)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for servedSerial(t, w.Port) != newSerial.String() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if got := servedSerial(t, w.Port); got != newSerial.String() || got == before {
		t.Fatalf("serving serial %s, want the new %s (old %s)", got, newSerial, before)
	}
	if failed.Load() != 0 || sent.Load() == 0 {
		t.Fatalf("%d of %d reviews failed during the rotation", failed.Load(), sent.Load())
	}
	t.Logf("rotation: %d reviews during the swap, 0 failed", sent.Load())
}

// On SIGTERM the webhook reports not ready first, keeps answering during --shutdown-delay,
// then stops accepting connections while it finishes a review still in flight, and exits
// cleanly within the grace period.
func TestGracefulShutdown(t *testing.T) {
	w, _ := startGuard(t, "--shutdown-delay=2s", "--shutdown-timeout=10s")
	sample := framework.Samples(1)[2] // ProxyDefaults, allowed
	body := framework.ReviewBody(sample.Kind, "CREATE", sample.Object, "")

	// A review whose body is still arriving when SIGTERM comes.
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, base(w)+webhook.Path(sample.Kind), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body))
	inflight := make(chan error, 1)
	go func() {
		resp, err := framework.TLSClient(ca.CertPEM, false).Do(req)
		if err != nil {
			inflight <- err
			return
		}
		defer func() { _ = resp.Body.Close() }()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte(`"allowed":true`)) {
			inflight <- fmt.Errorf("in-flight review: HTTP %d %s", resp.StatusCode, raw)
			return
		}
		inflight <- nil
	}()
	if _, err := pw.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := syscall.Kill(w.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Readiness turns false first...
	deadline := time.Now().Add(time.Second)
	for {
		if ok, _ := w.Ready(); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still ready one second after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ...while reviews are still answered during the delay.
	c := framework.TLSClient(ca.CertPEM, false)
	if _, resp, err := framework.PostReview(c, base(w), sample.Kind, body); err != nil || resp == nil || !resp.Allowed {
		t.Fatalf("review during the shutdown delay: %v %+v", err, resp)
	}
	// After the delay the listener is closed: new connections are refused, while the process
	// waits for the review whose body is still arriving.
	time.Sleep(time.Until(start.Add(2500 * time.Millisecond)))
	if conn, err := dialTLS(t, w.Port, &tls.Config{RootCAs: trusted()}); err == nil {
		_ = conn.Close()
		t.Fatal("a new connection was accepted after the shutdown delay")
	}
	select {
	case <-w.Exited():
		t.Fatal("exited before the in-flight review finished")
	default:
	}
	if _, err := pw.Write(body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	if err := <-inflight; err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Exited():
	case <-time.After(20 * time.Second):
		t.Fatal("did not exit within the grace period")
	}
	if err := w.ExitErr(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("exited after %s, before the 2s shutdown delay", took)
	}
}

// Not ready while an informer cannot sync: here the service account may not list
// PeeringDialers. The log says why, and readiness follows once the permission is granted.
func TestNotReadyUntilCachesSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kubeconfig, role := userWithoutDialerReads(ctx, t, "guard-limited")
	certDir := filepath.Join(t.TempDir(), "certs")
	if _, err := ca.WriteServing(certDir); err != nil {
		t.Fatal(err)
	}
	w, err := framework.StartWebhook(binary, kubeconfig, certDir, "--log-format=json")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	// The TLS server comes up, but readiness stays false, and the log says why.
	deadline := time.Now().Add(30 * time.Second)
	saysWhy := func() bool {
		return strings.Contains(w.Logs(), "peeringdialers") && strings.Contains(w.Logs(), "forbidden")
	}
	for !saysWhy() {
		if time.Now().After(deadline) {
			t.Fatalf("the logs do not say why:\n%s", w.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ok, body := w.Ready(); ok || !strings.Contains(body, "[-]caches") || !strings.Contains(body, "[+]webhook") {
		t.Fatalf("ready=%v without list permission on peeringdialers:\n%s", ok, body)
	}
	if v := w.MetricValue("consul_peering_guard_cache_synced"); v != 0 {
		t.Errorf("cache_synced = %v while not synced", v)
	}
	// Grant the missing permission: the informer recovers and the webhook becomes ready.
	role.Rules[0].Resources = append(role.Rules[0].Resources, "peeringdialers")
	if err := cluster.Client.Update(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitReady(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The gauge is set by a runnable the manager starts once the caches have synced.
	for deadline := time.Now().Add(10 * time.Second); w.MetricValue("consul_peering_guard_cache_synced") != 1 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if v := w.MetricValue("consul_peering_guard_cache_synced"); v != 1 {
		t.Errorf("cache_synced = %v once ready", v)
	}
}

// userWithoutDialerReads makes a user who may read every kind the webhook watches but
// PeeringDialers, so its informers never sync; it returns the user's kubeconfig and the
// ClusterRole (a test may grant the missing permission). Both are removed after the test.
func userWithoutDialerReads(ctx context.Context, t *testing.T, name string) (string, *rbacv1.ClusterRole) {
	t.Helper()
	kubeconfig, err := cluster.KubeconfigFor(envtest.User{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"consul.hashicorp.com"}, Resources: []string{"meshes", "proxydefaults", "servicedefaults", "exportedservices", "peeringacceptors", "samenessgroups"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}},
	}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: name, APIGroup: "rbac.authorization.k8s.io"}}}
	for _, obj := range []client.Object{role, binding} {
		if err := cluster.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), obj) })
	}
	return kubeconfig, role
}
