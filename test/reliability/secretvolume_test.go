package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// writeSecretVolume lays out a folder the way the kubelet projects a Secret: the files are
// symlinks through ..data, which points at a timestamped folder and is swapped atomically
// when the Secret changes (cert-manager renewing the serving certificate).
func writeSecretVolume(t *testing.T, dir string, generation int) string {
	t.Helper()
	version := fmt.Sprintf("..2026_11_25_%04d", generation)
	if _, err := ca.WriteServing(filepath.Join(dir, version)); err != nil {
		t.Fatal(err)
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(version, tmpLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		link := filepath.Join(dir, f)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			if err := os.Symlink(filepath.Join("..data", f), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	return version
}

// A Secret volume updated by the kubelet (an atomic swap of the ..data symlink) is picked up
// without a restart: new connections get the renewed certificate.
func TestCertificateRotationThroughASecretVolume(t *testing.T) {
	dir := t.TempDir()
	writeSecretVolume(t, dir, 1)
	w, err := framework.StartWebhook(binary, cluster.Kubeconfig, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	if err := w.WaitReady(time.Minute); err != nil {
		t.Fatal(err)
	}
	before := servedSerial(t, w.Port)
	writeSecretVolume(t, dir, 2)
	deadline := time.Now().Add(45 * time.Second)
	for servedSerial(t, w.Port) == before {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate in the Secret volume was not picked up")
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case <-w.Exited():
		t.Fatal("the webhook restarted")
	default:
	}
}
