package framework

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Controllers is a real kube-controller-manager, built by make tools from the same
// Kubernetes module as kube-apiserver, running some of its controllers against the cluster:
// what a Deployment makes (its ReplicaSets and their Pods) is then made as in a real
// cluster, through the API server and every admission webhook.
type Controllers struct {
	cmd  *exec.Cmd
	done chan error
	Log  string
}

// StartControllers starts kube-controller-manager with the named controllers (for example
// deployment-controller and replicaset-controller) and waits until it answers /healthz. No
// kubelet runs: the Pods the controllers make stay unscheduled unless a test marks them.
func (c *Cluster) StartControllers(controllers ...string) (*Controllers, error) {
	bin := c.Bin("kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("kube-controller-manager missing from bin/: run make tools")
	}
	port, err := freePortOn("127.0.0.1")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(c.Dir, "kube-controller-manager-")
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "kube-controller-manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--kubeconfig="+c.Kubeconfig,
		"--authentication-kubeconfig="+c.Kubeconfig,
		"--authorization-kubeconfig="+c.Kubeconfig,
		"--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+dir,
		"--concurrent-deployment-syncs=2",
		"--concurrent-replicaset-syncs=2",
		"--v=2",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, err
	}
	k := &Controllers{cmd: cmd, done: make(chan error, 1), Log: logPath}
	go func() {
		k.done <- cmd.Wait()
		_ = logFile.Close()
	}()
	httpc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		// Its serving certificate is self-signed in --cert-dir; only readiness is read.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case err := <-k.done:
			raw, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("kube-controller-manager exited: %w\n%s", err, tail(string(raw), 2000))
		default:
		}
		resp, err := httpc.Get("https://127.0.0.1:" + strconv.Itoa(port) + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return k, nil
			}
		}
		if time.Now().After(deadline) {
			_ = k.Stop()
			return nil, fmt.Errorf("kube-controller-manager not healthy within 2 minutes (log: %s)", logPath)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop ends kube-controller-manager: SIGTERM, then SIGKILL after ten seconds.
func (k *Controllers) Stop() error {
	if k == nil || k.cmd.Process == nil {
		return nil
	}
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-k.done:
		return exited(err)
	case <-time.After(10 * time.Second):
		_ = k.cmd.Process.Kill()
		return exited(<-k.done)
	}
}

// MarkPodsReady does for the Pods matching sel in namespace what a kubelet would once their
// containers run: phase Running and the Ready condition true. The ReplicaSet and Deployment
// controllers then count them as ready replicas. It returns how many Pods it marked.
func (c *Cluster) MarkPodsReady(ctx context.Context, namespace string, sel labels.Selector) (int, error) {
	var pods corev1.PodList
	if err := c.Client.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return 0, err
	}
	marked := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		if err := c.Client.Status().Update(ctx, p); err != nil {
			return marked, err
		}
		marked++
	}
	if marked == 0 {
		return 0, errors.New("no pod to mark ready yet")
	}
	return marked, nil
}

// exited is nil for a kube-controller-manager that ended on a signal we sent.
func exited(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		return nil
	}
	return err
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
