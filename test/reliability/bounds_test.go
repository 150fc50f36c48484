package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// chartMemoryLimit is the memory limit the Helm chart gives the webhook container.
const chartMemoryLimit = 256 << 20

// behindAPIServer starts a webhook with the chart's settings, registers it with the API
// server (failurePolicy Fail, 5 s timeout) and removes the registration when the test ends.
func behindAPIServer(t *testing.T, extra ...string) *framework.Webhook {
	t.Helper()
	w, _ := startGuard(t, extra...)
	name := "cpg-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	if err := cluster.RegisterWebhook(name, w.Port, ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := framework.Context(30 * time.Second)
		defer cancel()
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := client.IgnoreNotFound(cluster.Client.Delete(ctx, vwc)); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := framework.Context(time.Minute)
	defer cancel()
	if err := cluster.WaitForWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

func serviceDefaultsWith(name string, overrides ...*v1alpha1.Upstream) *v1alpha1.ServiceDefaults {
	sd := &v1alpha1.ServiceDefaults{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       v1alpha1.ServiceDefaultsSpec{UpstreamConfig: &v1alpha1.Upstreams{Overrides: overrides}},
	}
	sd.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("ServiceDefaults"))
	return sd
}

// duplicates is issue 18's object: n copies of {"name":"a"} (469 KiB of JSON for 32,000),
// under every limit of the API server, every copy after the first a denial.
func duplicates(n int) *v1alpha1.ServiceDefaults {
	overrides := make([]*v1alpha1.Upstream, n)
	for i := range overrides {
		overrides[i] = &v1alpha1.Upstream{Name: "a"}
	}
	return serviceDefaultsWith("duplicates", overrides...)
}

// dryRun creates obj with --dry-run=server semantics and returns how long the API server
// (and so the webhook) took to answer.
func dryRun(obj client.Object) (time.Duration, error) {
	ctx, cancel := framework.Context(time.Minute)
	defer cancel()
	start := time.Now()
	err := cluster.Client.Create(ctx, obj, client.DryRunAll)
	return time.Since(start), err
}

// checkDuplicatesRefused asserts the refusal of duplicates(n) as the API server returns it:
// a 422 Invalid from our webhook with MaxCauses causes, the last counting the rest.
func checkDuplicatesRefused(n int, err error) error {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return fmt.Errorf("want a 422 Invalid, got %v", err)
	}
	s := status.Status()
	if s.Code != http.StatusUnprocessableEntity || s.Reason != metav1.StatusReasonInvalid || s.Details == nil {
		return fmt.Errorf("want a 422 Invalid, got %d %s: %.300s", s.Code, s.Reason, s.Message)
	}
	causes := s.Details.Causes
	// The engine reports at most MaxViolationsPerRule duplicates and one more counting the
	// rest; the response carries MaxCauses of those, the last counting what it left out.
	denials := min(n-1, validators.MaxViolationsPerRule+1)
	if len(causes) != webhook.MaxCauses || causes[0].Field != "spec.upstreamConfig.overrides[1]" ||
		!strings.HasSuffix(causes[0].Message, "(upstream-duplicate)") ||
		!strings.HasPrefix(causes[len(causes)-1].Message, fmt.Sprintf("%d more denials", denials-(webhook.MaxCauses-1))) {
		return fmt.Errorf("causes %+v", causes)
	}
	if len(s.Message) > 16<<10 {
		return fmt.Errorf("message of %d bytes", len(s.Message))
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// latencies summarises a sample as median and maximum.
func latencies(d []time.Duration) (p50, maxD time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

// The object of issue 18 through the real API server: refused by the webhook with a 422 and
// 20 causes (not by the API server's timeout), alone and with four clients sending it in a
// loop, while every valid review sent meanwhile is answered and RSS stays under the chart's
// limit. Times are printed, not bounded: they move with the machine's load; the webhook's
// share of the refusal's time is compared with the whole, measured in the same run.
func TestOneObjectCannotTakeItDown(t *testing.T) {
	const n, attackers, rounds = 32000, 4, 5
	w := behindAPIServer(t)
	valid := serviceDefaultsWith("frontend", &v1alpha1.Upstream{Name: "api"})
	if _, err := dryRun(valid.DeepCopy()); err != nil {
		t.Fatalf("valid object refused: %v", err)
	}

	took, err := dryRun(duplicates(n))
	if err := checkDuplicatesRefused(n, err); err != nil {
		t.Fatal(err) // a webhook past the API server's 5 s timeout is "failed calling webhook", not our 422
	}
	t.Logf("one object with %d duplicate overrides: refused in %s", n, took)
	// The engine's histogram gives the webhook's own time apart from the API server's,
	// which on a shared machine is most of the latency measured below.
	engineSeconds := func() float64 {
		return w.MetricValue(`consul_peering_guard_admission_duration_seconds_sum{kind="ServiceDefaults",operation="CREATE"}`)
	}
	engineBefore := engineSeconds()

	var (
		mu              sync.Mutex
		attackTimes     []time.Duration
		validTimes      []time.Duration
		failures        []string
		attackersDone   = make(chan struct{})
		wg, validClient sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	for range attackers {
		wg.Go(func() {
			for range rounds {
				took, err := dryRun(duplicates(n))
				if err := checkDuplicatesRefused(n, err); err != nil {
					fail("attack after %s: %v", took, err)
				}
				mu.Lock()
				attackTimes = append(attackTimes, took)
				mu.Unlock()
			}
		})
	}
	validClient.Go(func() {
		for {
			select {
			case <-attackersDone:
				return
			default:
			}
			took, err := dryRun(valid.DeepCopy())
			if err != nil {
				fail("valid review after %s: %v", took, err)
			}
			mu.Lock()
			validTimes = append(validTimes, took)
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	})
	wg.Wait()
	close(attackersDone)
	validClient.Wait()

	aP50, aMax := latencies(attackTimes)
	var attackTotal time.Duration
	for _, d := range attackTimes {
		attackTotal += d
	}
	vP50, vMax := latencies(validTimes)
	peak := w.Memory("VmHWM")
	// An upper bound: the valid reviews' (tiny) engine time is in the sum too.
	engineMean := time.Duration((engineSeconds() - engineBefore) / float64(len(attackTimes)) * float64(time.Second))
	attackMean := attackTotal / time.Duration(max(len(attackTimes), 1))
	engineShare := float64(engineMean) / float64(attackMean)
	figures, _ := json.Marshal(map[string]any{
		"webhook_engine_mean_ms": engineMean.Milliseconds(), "attack_mean_ms": attackMean.Milliseconds(),
		"webhook_share_of_attack_time": fmt.Sprintf("%.2f", engineShare),
		"attack_requests":              len(attackTimes), "attack_p50_ms": aP50.Milliseconds(), "attack_max_ms": aMax.Milliseconds(),
		"valid_requests": len(validTimes), "valid_p50_ms": vP50.Milliseconds(), "valid_max_ms": vMax.Milliseconds(),
		"peak_rss_mib": mib(peak),
	})
	t.Logf("%d clients sending it %d times each, through the API server: %s", attackers, rounds, figures)
	for _, f := range failures {
		t.Error(f)
	}
	if len(validTimes) == 0 {
		t.Error("no valid review was answered during the attack")
	}
	// Every refusal above came from the webhook (a timeout would have been the API server's
	// "failed calling webhook" instead of our 422), and the webhook's share of it is small:
	// most of the time goes to the API server's own work on the object.
	if engineMean <= 0 || engineShare > 0.5 {
		t.Errorf("the engine took %s per refusal on average, %.2f of the refusal's %s", engineMean, engineShare, attackMean)
	}
	if peak <= 0 || peak > chartMemoryLimit {
		t.Errorf("peak RSS %.1f MiB, limit %d MiB", mib(peak), chartMemoryLimit>>20)
	}
}

// halfOpen connects to port and sends the header of a 16 KiB TLS handshake record and a
// little of it, then nothing: the server holds a connection and a record buffer for it
// until the handshake timeout.
func halfOpen(port int) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		return nil, err
	}
	record := append([]byte{0x16, 0x03, 0x01, 0x40, 0x00}, make([]byte, 100)...)
	record[5] = 0x01 // client_hello
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(record); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func openFiles(pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(entries)
}

// Thousands of half-open TLS connections: the webhook serves at most --max-connections of
// them at once, each only until the handshake timeout, its RSS stays bounded, and reviews
// through the API server are still answered.
func TestHalfOpenConnectionsKeepMemoryBounded(t *testing.T) {
	const conns, maxConns = 2000, 1000
	w := behindAPIServer(t, fmt.Sprintf("--max-connections=%d", maxConns), "--read-header-timeout=5s")
	valid := serviceDefaultsWith("frontend", &v1alpha1.Upstream{Name: "api"})
	if _, err := dryRun(valid.DeepCopy()); err != nil {
		t.Fatalf("valid object refused: %v", err)
	}
	baseRSS, baseFiles := w.Memory("VmRSS"), openFiles(w.Pid())

	var (
		mu   sync.Mutex
		open []net.Conn
		wg   sync.WaitGroup
		next = make(chan struct{}, conns)
	)
	for range conns {
		next <- struct{}{}
	}
	close(next)
	dialErrs := 0
	for range 50 {
		wg.Go(func() {
			for range next {
				c, err := halfOpen(w.Port)
				mu.Lock()
				if err != nil {
					dialErrs++
				} else {
					open = append(open, c)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range open {
			_ = c.Close()
		}
	}()
	if dialErrs > 0 {
		t.Logf("%d of %d connections could not be opened", dialErrs, conns)
	}

	// While they are held: reviews through the API server are answered, and the webhook
	// holds no more connections than its limit.
	var validTimes []time.Duration
	maxFiles, maxRSS := 0, int64(0)
	deadline := time.Now().Add(12 * time.Second) // two rounds of the handshake timeout
	for time.Now().Before(deadline) {
		took, err := dryRun(valid.DeepCopy())
		if err != nil {
			t.Fatalf("valid review during the flood, after %s: %v", took, err)
		}
		validTimes = append(validTimes, took)
		maxFiles = max(maxFiles, openFiles(w.Pid()))
		maxRSS = max(maxRSS, w.Memory("VmRSS"))
		time.Sleep(250 * time.Millisecond)
	}
	p50, slowest := latencies(validTimes)
	figures, _ := json.Marshal(map[string]any{
		"half_open": len(open), "max_connections": maxConns, "base_rss_mib": mib(baseRSS), "max_rss_mib": mib(maxRSS),
		"peak_rss_mib": mib(w.Memory("VmHWM")), "base_open_files": baseFiles, "max_open_files": maxFiles,
		"valid_requests": len(validTimes), "valid_p50_ms": p50.Milliseconds(), "valid_max_ms": slowest.Milliseconds(),
	})
	t.Logf("%d half-open TLS connections: %s", conns, figures)
	if maxFiles > baseFiles+maxConns+20 {
		t.Errorf("%d open files, more than the %d connections allowed above the %d at rest", maxFiles, maxConns, baseFiles)
	}
	if maxRSS <= 0 || maxRSS > chartMemoryLimit/2 {
		t.Errorf("RSS %.1f MiB under the flood", mib(maxRSS))
	}
	if slowest > 4*time.Second {
		t.Errorf("slowest valid review %s", slowest)
	}

	// Once the handshake timeout has closed them, a fresh connection is served directly.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := framework.TLSClient(ca.CertPEM, false)
	for {
		s := framework.Samples(1)[0]
		status, resp, err := framework.PostReview(c, base(w), s.Kind, framework.ReviewBody(s.Kind, "CREATE", s.Object, ""))
		if err == nil && status == http.StatusOK && resp != nil && resp.Allowed == s.Allowed {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no fresh connection served after the flood: HTTP %d, %v", status, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// The largest object the API server accepts (its 3 MiB request limit, dry run: 100,000
// duplicate overrides, 3.0 MB) from four clients at once: the webhook judges one at a time
// (--max-in-flight-bytes), tells the others 429 (the API server retries within its
// timeout), never allows one, keeps RSS under the chart's limit and still answers valid
// reviews meanwhile.
func TestLargestObjectsAreJudgedOneAtATime(t *testing.T) {
	const n, attackers = 100000, 4
	w := behindAPIServer(t)
	valid := serviceDefaultsWith("frontend", &v1alpha1.Upstream{Name: "api"})
	var (
		mu                     sync.Mutex
		refused, notCalled     int
		apiServerSlow          int
		validTimes, attackTime []time.Duration
		failures               []string
		attack, validClient    sync.WaitGroup
		attackersDone          = make(chan struct{})
	)
	for range attackers {
		attack.Go(func() {
			took, err := dryRun(duplicates(n))
			mu.Lock()
			defer mu.Unlock()
			attackTime = append(attackTime, took)
			switch {
			case checkDuplicatesRefused(n, err) == nil:
				refused++
			case apierrors.IsInternalError(err) && strings.Contains(err.Error(), "failed calling webhook"):
				// Still waiting for its turn when the API server's 5 s ran out: refused by
				// failurePolicy Fail instead.
				notCalled++
			case errors.Is(err, context.DeadlineExceeded):
				// The API server itself had not answered within the client's minute: it
				// decodes and schema-checks 3 MB four times over on two shared cores, and
				// calls the webhook (5 s a call) only after that. Not the webhook's time.
				apiServerSlow++
			default:
				failures = append(failures, fmt.Sprintf("after %s: %.300v", took, err))
			}
		})
	}
	validClient.Go(func() {
		for {
			select {
			case <-attackersDone:
				return
			default:
			}
			took, err := dryRun(valid.DeepCopy())
			mu.Lock()
			if err != nil {
				failures = append(failures, fmt.Sprintf("valid review after %s: %v", took, err))
			}
			validTimes = append(validTimes, took)
			mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	})
	attack.Wait()
	close(attackersDone)
	validClient.Wait()

	aP50, aMax := latencies(attackTime)
	vP50, vMax := latencies(validTimes)
	peak := w.Memory("VmHWM")
	tooMany := w.MetricValue(`consul_peering_guard_admission_errors_total{code="429",kind="ServiceDefaults"}`)
	figures, _ := json.Marshal(map[string]any{
		"refused_422": refused, "webhook_not_reached_in_time": notCalled, "api_server_no_answer_in_1m": apiServerSlow, "answered_429": tooMany,
		"attack_p50_ms": aP50.Milliseconds(), "attack_max_ms": aMax.Milliseconds(),
		"valid_requests": len(validTimes), "valid_p50_ms": vP50.Milliseconds(), "valid_max_ms": vMax.Milliseconds(),
		"peak_rss_mib": mib(peak),
	})
	t.Logf("%d clients sending %d duplicate overrides at once: %s", attackers, n, figures)
	for _, f := range failures {
		t.Error(f)
	}
	if refused == 0 {
		t.Error("no attack was refused by the webhook itself")
	}
	if tooMany <= 0 {
		t.Error("no review was answered 429: the byte bound did not hold them back")
	}
	if len(validTimes) == 0 {
		t.Error("no valid review was answered meanwhile")
	}
	if peak <= 0 || peak > chartMemoryLimit {
		t.Errorf("peak RSS %.1f MiB, limit %d MiB", mib(peak), chartMemoryLimit>>20)
	}
}
