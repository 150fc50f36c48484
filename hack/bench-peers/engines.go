package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// engine is one admission webhook under comparison, run as its own process on loopback.
type engine struct {
	name string
	// start starts the process (on the same ports every time, so that its webhook
	// configuration stays valid across restarts); it does not wait.
	start func() (*framework.Webhook, error)
	proc  *framework.Webhook
	// base is https://127.0.0.1:port; path gives the path a review of a kind is posted to.
	base  string
	port  int
	path  func(resource string) string
	caPEM func() ([]byte, error)
	// entry is (the end of) the webhook entry name the API server quotes when it refuses.
	entry string
	// heapMetric is the Prometheus series holding the Go heap in bytes, where the engine
	// exposes one.
	heapMetric string
}

// consulResources are the resources the three rules read; Gatekeeper and Kyverno are
// registered for exactly these.
var consulResources = []string{"servicedefaults", "exportedservices", "peeringacceptors", "peeringdialers"}

// register creates (or replaces) a ValidatingWebhookConfiguration with one entry sending
// CREATE and UPDATE of consulResources to url, as strict as ours (failurePolicy Fail, 5 s).
func register(c *framework.Cluster, name, entry, url string, caPEM []byte) error {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(5)
	return c.ApplyWebhookConfiguration(&admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    entry,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"consul.hashicorp.com"}, APIVersions: []string{"v1alpha1"},
					Resources: consulResources},
			}},
		}},
	})
}

func command(bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// ours is consul-peering-guard serve with its defaults, as the chart runs it.
func ours(bin, kubeconfig, certDir string, ca *framework.CA) (*engine, error) {
	p, err := framework.FreePorts(3)
	if err != nil {
		return nil, err
	}
	e := &engine{name: "consul-peering-guard", base: fmt.Sprintf("https://127.0.0.1:%d", p[0]), port: p[0],
		path:       func(resource string) string { return webhook.Path(kindOf[resource]) },
		caPEM:      func() ([]byte, error) { return ca.CertPEM, nil },
		entry:      ".consul-peering-guard.io",
		heapMetric: "go_memstats_heap_alloc_bytes"}
	e.start = func() (*framework.Webhook, error) {
		cmd := command(bin, nil, "serve", "--kubeconfig="+kubeconfig, "--cert-dir="+certDir, "--host=127.0.0.1",
			"--port="+strconv.Itoa(p[0]), "--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(p[1]),
			"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(p[2]), "--log-level=error")
		return framework.StartWebhookCommand(cmd, "127.0.0.1", p[0], p[1], p[2])
	}
	return e, nil
}

// gatekeeperPod is the Pod Gatekeeper believes it runs in.
const gatekeeperPod = "gatekeeper-bench"

// gatekeeper runs Gatekeeper out of cluster as its webhook operation (and generate, which
// makes the constraint CRDs of the templates; the chart runs it in the audit pod), with
// our serving certificate instead of its rotator and without generating
// ValidatingAdmissionPolicies from the CEL templates (the API server would then enforce them
// itself, and the figures would not be Gatekeeper's).
func gatekeeper(bin, kubeconfig, certDir string, ca *framework.CA) (*engine, error) {
	p, err := framework.FreePorts(3)
	if err != nil {
		return nil, err
	}
	e := &engine{name: "Gatekeeper", base: fmt.Sprintf("https://127.0.0.1:%d", p[0]), port: p[0],
		path:       func(string) string { return "/v1/admit" },
		caPEM:      func() ([]byte, error) { return ca.CertPEM, nil },
		entry:      "validation.gatekeeper.sh",
		heapMetric: "go_memstats_heap_alloc_bytes"}
	e.start = func() (*framework.Webhook, error) {
		cmd := command(bin, []string{"POD_NAMESPACE=gatekeeper-system", "POD_NAME=" + gatekeeperPod},
			"--kubeconfig="+kubeconfig, "--operation=webhook", "--operation=generate", "--disable-cert-rotation", "--cert-dir="+certDir,
			"--host=127.0.0.1", "--port="+strconv.Itoa(p[0]), "--health-addr=127.0.0.1:"+strconv.Itoa(p[1]),
			"--metrics-addr=127.0.0.1:"+strconv.Itoa(p[2]), "--log-level=ERROR", "--shutdown-delay=0",
			"--default-create-vap-for-templates=false", "--default-create-vap-binding-for-constraints=false")
		return framework.StartWebhookCommand(cmd, "127.0.0.1", p[0], p[1], p[2])
	}
	return e, nil
}

// kyvernoPlaceholders are the resource webhook configurations Kyverno would otherwise create
// matching every resource; created empty beforehand, they stay empty.
var kyvernoPlaceholders = []string{"kyverno-resource-validating-webhook-cfg", "kyverno-resource-mutating-webhook-cfg"}

// Kyverno keeps its CA and serving pair in these Secrets of its namespace; its certificate
// controller creates them on first start, for --serverIP.
const (
	kyvernoNamespace = "kyverno"
	kyvernoCASecret  = "kyverno-svc.kyverno.svc.kyverno-tls-ca"
	kyvernoTLSSecret = "kyverno-svc.kyverno.svc.kyverno-tls-pair"
)

// kyverno runs Kyverno's admission controller out of cluster (BENCH_KYVERNO_V sets its log
// verbosity: at 4 it says why a policy did not compile). It registers no resource
// webhooks of its own (we register one for the three resources; with --autoUpdateWebhooks=false
// it only creates its catch-all default configurations when they are missing, and
// kyvernoPlaceholders are there first) and writes no admission reports, so that it does only
// what the other two do: review.
func kyverno(bin, kubeconfig string, c client.Client) (*engine, error) {
	p, err := framework.FreePorts(2) // webhook, metrics: Kyverno's probes are on its webhook port
	if err != nil {
		return nil, err
	}
	e := &engine{name: "Kyverno", base: fmt.Sprintf("https://127.0.0.1:%d", p[0]), port: p[0],
		// Kyverno's own configuration sends a group of ValidatingPolicies to /vpol/<their names>.
		path: func(string) string {
			return "/vpol/export-needs-mesh-gateway/gateway-mode-none-peer-upstream/peer-name-syntax"
		},
		entry:      "vpol.validate.kyverno.svc",
		heapMetric: "go_memstats_heap_alloc_bytes"}
	e.caPEM = func() ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: kyvernoNamespace, Name: kyvernoCASecret}, s); err != nil {
			return nil, err
		}
		return s.Data["tls.crt"], nil
	}
	e.start = func() (*framework.Webhook, error) {
		cmd := command(bin, []string{"KYVERNO_NAMESPACE=" + kyvernoNamespace, "KYVERNO_POD_NAME=kyverno-bench", "KYVERNO_SERVICEACCOUNT_NAME=kyverno",
			"KYVERNO_DEPLOYMENT=kyverno", "INIT_CONFIG=kyverno", "METRICS_CONFIG=kyverno-metrics"},
			"--kubeconfig="+kubeconfig, "--serverIP=127.0.0.1:"+strconv.Itoa(p[0]), "--webhookServerHost=127.0.0.1",
			"--webhookServerPort="+strconv.Itoa(p[0]), "--servicePort="+strconv.Itoa(p[0]),
			"--autoUpdateWebhooks=false", "--admissionReports=false",
			"--caSecretName="+kyvernoCASecret, "--tlsSecretName="+kyvernoTLSSecret,
			"--metricsHost=127.0.0.1", "--metricsPort="+strconv.Itoa(p[1]), "--controllerRuntimeMetricsAddress=0",
			"--profile=false", "--disableLogColor", "-v="+cmp.Or(os.Getenv("BENCH_KYVERNO_V"), "1"))
		return framework.StartWebhookCommand(cmd, "127.0.0.1", p[0], 0, p[1])
	}
	return e, nil
}

// kindOf maps the compared resources to our kinds, for our webhook's paths.
var kindOf = map[string]kinds.Kind{"servicedefaults": kinds.ServiceDefaults,
	"exportedservices": kinds.ExportedServices, "peeringacceptors": kinds.PeeringAcceptor,
	"peeringdialers": kinds.PeeringDialer}

// review builds an AdmissionReview as the API server sends it.
func review(kind, resource, operation string, obj, old map[string]any) []byte {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	req := map[string]any{
		"uid":             "0f6a6bd6-0000-4000-8000-000000000000",
		"kind":            map[string]string{"group": "consul.hashicorp.com", "version": "v1alpha1", "kind": kind},
		"resource":        map[string]string{"group": "consul.hashicorp.com", "version": "v1alpha1", "resource": resource},
		"requestKind":     map[string]string{"group": "consul.hashicorp.com", "version": "v1alpha1", "kind": kind},
		"requestResource": map[string]string{"group": "consul.hashicorp.com", "version": "v1alpha1", "resource": resource},
		"name":            name,
		"namespace":       "default",
		"operation":       operation,
		"userInfo":        map[string]any{"username": "bench", "groups": []string{"system:authenticated"}},
		"object":          obj,
		"dryRun":          false,
	}
	if old != nil {
		req["oldObject"] = old
	}
	raw, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req})
	return raw
}

// post sends one review straight to an engine and returns its answer.
func (e *engine) post(c *http.Client, resource string, body []byte) (*admissionv1.AdmissionResponse, error) {
	resp, err := c.Post(e.base+e.path(resource), "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var r admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Response == nil {
		return nil, fmt.Errorf("no response in the review")
	}
	return r.Response, nil
}

// startEnforcing starts the engine and returns how long it took until a review sent straight
// to it is refused by the rule (not merely until the process listens): a PeeringDialer whose
// name is not a peer name, which all three refuse, naming peer-name-syntax, once their rules
// and state are loaded.
func (e *engine) startEnforcing(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	proc, err := e.start()
	if err != nil {
		return 0, err
	}
	e.proc = proc
	if err := e.waitEnforcing(start, timeout); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// waitEnforcing waits until a review sent straight to the running engine is refused by the
// peer-name rule.
func (e *engine) waitEnforcing(start time.Time, timeout time.Duration) error {
	proc := e.proc
	body := review("PeeringDialer", "peeringdialers", "CREATE", dialer("dc2.west"), nil)
	for time.Since(start) < timeout {
		select {
		case <-proc.Exited():
			return fmt.Errorf("%s exited: %w\n%s", e.name, proc.ExitErr(), errorLines(proc.Logs()))
		default:
		}
		if ca, err := e.caPEM(); err == nil && len(ca) > 0 {
			c := framework.TLSClient(ca, false)
			c.Timeout = 2 * time.Second
			// Refused by the rule, not merely refused: ours answers every review with a
			// refusal (503, "caches not synced") until its state is loaded.
			if r, err := e.post(c, "peeringdialers", body); err == nil && !r.Allowed && r.Result != nil &&
				strings.Contains(r.Result.Message, "peer-name-syntax") {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not refuse an invalid peer name within %s\n%s", e.name, timeout, tail(proc.Logs()))
}

// errorLines keeps the lines of a log that report errors, for a failure message.
func errorLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, " ERR ") || strings.Contains(l, `"level":"error"`) || strings.Contains(l, "error=") {
			out = append(out, l)
		}
	}
	return tail(strings.Join(out, "\n"))
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// memory is the engine's RSS and Go heap in MiB (heap -1 where it exposes none).
func (e *engine) memory() (rss, heap float64) {
	rss = float64(e.proc.Memory("VmRSS")) / (1 << 20)
	heap = -1
	if v := e.proc.MetricValue(e.heapMetric); v >= 0 {
		heap = v / (1 << 20)
	}
	return rss, heap
}

// policyDir is where the Gatekeeper and Kyverno policies live, beside this program.
func policyDir(root, engine string) string {
	return filepath.Join(root, "hack", "bench-peers", "policies", engine)
}
