package framework

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BuildBinary builds cmd/consul-peering-guard into dir and returns its path.
func BuildBinary(root, dir string) (string, error) {
	out := filepath.Join(dir, "consul-peering-guard")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/consul-peering-guard")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, b)
	}
	return out, nil
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) { return freePortOn("127.0.0.1") }

// FreePorts returns n free loopback ports, for a process that listens on several.
func FreePorts(n int) ([]int, error) {
	out := make([]int, n)
	for i := range out {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

func freePortOn(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Webhook is a running `consul-peering-guard serve` process.
type Webhook struct {
	cmd *exec.Cmd
	// Host is the address its probe and metrics ports are reached at (127.0.0.1 when empty).
	Host        string
	Port        int
	ProbePort   int
	MetricsPort int
	CertDir     string
	logs        *syncBuffer
	exited      chan struct{}
	exitErr     error
	// rebind, set by StartWebhook, starts the process again on other free ports: a port
	// found free can be taken by another process before serve binds it.
	rebind  func() error
	rebinds int
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StartWebhook runs `serve` on loopback ports with the given kubeconfig and cert dir plus
// extra flags, exactly as the container runs it. It does not wait for readiness.
func StartWebhook(bin, kubeconfig, certDir string, extra ...string) (*Webhook, error) {
	w := &Webhook{CertDir: certDir}
	w.rebind = func() error {
		ports, err := FreePorts(3)
		if err != nil {
			return err
		}
		w.Port, w.ProbePort, w.MetricsPort = ports[0], ports[1], ports[2]
		args := append([]string{"serve",
			"--kubeconfig=" + kubeconfig,
			"--cert-dir=" + certDir,
			"--host=127.0.0.1",
			"--port=" + strconv.Itoa(w.Port),
			"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(w.ProbePort),
			"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(w.MetricsPort),
			"--shutdown-timeout=10s",
		}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		w.logs, w.exited, w.exitErr = &syncBuffer{}, make(chan struct{}), nil
		return w.start(cmd)
	}
	return w, w.rebind()
}

// StartWebhookCommand starts a prepared `serve` command (for example one from
// NetNS.Command) whose probe and metrics ports are reached at host. It does not wait for
// readiness.
func StartWebhookCommand(cmd *exec.Cmd, host string, port, probePort, metricsPort int) (*Webhook, error) {
	w := &Webhook{Host: host, Port: port, ProbePort: probePort, MetricsPort: metricsPort, logs: &syncBuffer{}, exited: make(chan struct{})}
	return w, w.start(cmd)
}

func (w *Webhook) start(cmd *exec.Cmd) error {
	w.cmd = cmd
	w.cmd.Stdout = w.logs
	w.cmd.Stderr = w.logs
	if err := w.cmd.Start(); err != nil {
		return err
	}
	go func() {
		w.exitErr = w.cmd.Wait()
		close(w.exited)
	}()
	return nil
}

func (w *Webhook) hostPort(port int) string {
	host := w.Host
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Memory is a memory figure of the process from /proc/<pid>/status, in bytes: "VmRSS" (now),
// "VmHWM" (peak). It is -1 when it cannot be read.
func (w *Webhook) Memory(field string) int64 { return procStatus(w.Pid(), field) }

func procStatus(pid int, field string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kib int64
			if _, err := fmt.Sscan(rest, &kib); err == nil {
				return kib << 10
			}
		}
	}
	return -1
}

// Logs returns everything the process wrote so far.
func (w *Webhook) Logs() string { return w.logs.String() }

// WaitForJSONLogLine waits up to d for a JSON log line that match accepts. The process's
// output reaches Logs through a pipe, after the answer it logs about may already have been
// read: a test that looks for the line of a review it just saw answered has to wait for it.
func (w *Webhook) WaitForJSONLogLine(d time.Duration, match func(entry map[string]any) bool) bool {
	deadline := time.Now().Add(d)
	for {
		for _, line := range strings.Split(w.Logs(), "\n") {
			var entry map[string]any
			if json.Unmarshal([]byte(line), &entry) == nil && match(entry) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pid is the process id.
func (w *Webhook) Pid() int { return w.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (w *Webhook) Exited() <-chan struct{} { return w.exited }

// ExitErr is the process's exit error once Exited is closed.
func (w *Webhook) ExitErr() error { return w.exitErr }

// Ready asks /readyz and returns whether it answered 200 and the body.
func (w *Webhook) Ready() (bool, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + w.hostPort(w.ProbePort) + "/readyz?verbose")
	if err != nil {
		return false, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK, string(body)
}

// WaitReady waits until /readyz answers 200 or the process exits.
func (w *Webhook) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-w.exited:
			if w.rebind != nil && w.rebinds < 3 && strings.Contains(w.Logs(), "address already in use") {
				w.rebinds++
				if err := w.rebind(); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("webhook exited: %w\n%s", w.exitErr, w.Logs())
		default:
		}
		if ok, _ := w.Ready(); ok {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, body := w.Ready()
	return fmt.Errorf("webhook not ready after %s: %s\n%s", timeout, body, w.Logs())
}

// Metrics scrapes the metrics endpoint.
func (w *Webhook) Metrics() (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + w.hostPort(w.MetricsPort) + "/metrics")
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// MetricValue returns the value of the first sample whose line starts with prefix
// (a metric name with its labels), or -1 when there is none.
func (w *Webhook) MetricValue(prefix string) float64 {
	text, err := w.Metrics()
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, prefix)), 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// Reviews sums the webhook's reviews of kind over both verdicts and the given operations
// (CREATE and UPDATE when none is given), from one scrape; a failed scrape counts 0.
func (w *Webhook) Reviews(kind string, operations ...string) float64 {
	if len(operations) == 0 {
		operations = []string{"CREATE", "UPDATE"}
	}
	text, err := w.Metrics()
	if err != nil {
		return 0
	}
	sum := 0.0
	for _, line := range strings.Split(text, "\n") {
		for _, op := range operations {
			prefix := `consul_peering_guard_admission_reviews_total{kind="` + kind + `",operation="` + op + `",verdict="`
			if !strings.HasPrefix(line, prefix) {
				continue
			}
			if v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}

// Stop sends SIGTERM and waits for the process to exit.
func (w *Webhook) Stop() error {
	select {
	case <-w.exited:
		return nil
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
		return fmt.Errorf("webhook did not stop within 30s")
	}
}

// TLSClient returns an HTTPS client trusting caPEM, for posting reviews directly.
func TLSClient(caPEM []byte, keepAlive bool) *http.Client {
	pool := x509Pool(caPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, DisableKeepAlives: !keepAlive,
		MaxIdleConnsPerHost: 64}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// RegisterWebhook creates (or replaces) the ValidatingWebhookConfiguration that sends the
// Consul kinds and the annotated workloads to https://127.0.0.1:port with failurePolicy Fail,
// as production does.
func (c *Cluster) RegisterWebhook(name string, port int, caPEM []byte) error {
	return c.RegisterWebhookWith(name, port, caPEM, nil)
}

// webhookProbe is refused by proxy-defaults-name, a deny rule, so only our webhook refuses it.
const webhookProbe = `apiVersion: consul.hashicorp.com/v1alpha1
kind: ProxyDefaults
metadata: {name: webhook-probe, namespace: default}
`

// WaitForWebhook waits until the API server calls the webhook registered last: a server-side
// dry run of the probe comes back refused by a rule, not allowed (configuration not loaded
// yet) nor failed (an old address still in use).
func (c *Cluster) WaitForWebhook(ctx context.Context) error {
	return poll(ctx, func() (bool, error) {
		r := c.Apply(webhookProbe, "--dry-run=server")
		return r.Code != 0 && strings.Contains(r.Stderr, "(proxy-defaults-name)"), nil
	})
}
