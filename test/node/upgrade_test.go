package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// serviceDefaults is a valid Consul write: every review of it is an allow.
func serviceDefaults(name string, annotation string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("consul.hashicorp.com/v1alpha1")
	u.SetKind("ServiceDefaults")
	u.SetNamespace("default")
	u.SetName(name)
	if annotation != "" {
		u.SetAnnotations(map[string]string{"example.com/padding": annotation})
	}
	_ = unstructured.SetNestedField(u.Object, "http", "spec", "protocol")
	return u
}

// TestHelmUpgradeRollsWithoutRefusingWrites: helm upgrade replaces both webhook pods (a new
// pod annotation) while valid Consul writes flow through the API server, which calls the
// pods through the Service with failurePolicy Fail. The rolling-update strategy (maxSurge 1,
// maxUnavailable 0), the PodDisruptionBudget, readiness and --shutdown-delay keep an endpoint
// that answers at every moment: no write is refused. The count of writes is printed.
func TestHelmUpgradeRollsWithoutRefusingWrites(t *testing.T) {
	c := installChart(t)
	before := map[string]bool{}
	for _, p := range c.pods(t) {
		before[p.Name] = true
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t.Cleanup(func() {
		c.n.Kubectl("delete", "servicedefaults", "-n", "default", "-l", "cpg-test=upgrade", "--timeout=120s")
	})
	// At most maxWrites writes, from 4 writers, until the upgrade is done.
	const maxWrites = 5000
	var written, refused atomic.Int64
	var firstRefusal atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && written.Load() < maxWrites; i++ {
				obj := serviceDefaults(fmt.Sprintf("flow-%d-%d", w, i), "")
				obj.SetLabels(map[string]string{"cpg-test": "upgrade"})
				reqCtx, done := context.WithTimeout(ctx, 30*time.Second)
				err := c.n.Client.Create(reqCtx, obj)
				done()
				if ctx.Err() != nil {
					return
				}
				written.Add(1)
				if err != nil {
					refused.Add(1)
					firstRefusal.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	time.Sleep(2 * time.Second)
	start := time.Now()
	c.helm(t, "upgrade", "--set-string", "podAnnotations.cpg-test/rolled="+strconv.FormatInt(time.Now().UnixNano(), 10))
	if r := c.n.Kubectl("rollout", "status", "deployment/"+release, "-n", namespace, "--timeout=180s"); r.Code != 0 {
		t.Fatalf("rollout: %s", r.Stderr)
	}
	// Writes keep flowing while the old pods finish their shutdown delay.
	time.Sleep(8 * time.Second)
	cancel()
	wg.Wait()
	t.Logf("helm upgrade rolled the webhook pods in %s; %d valid writes through the API server during it, %d refused",
		time.Since(start).Round(time.Second), written.Load(), refused.Load())
	if refused.Load() != 0 {
		t.Errorf("%d of %d writes were refused while the pods rolled; first: %v", refused.Load(), written.Load(), firstRefusal.Load())
	}
	if written.Load() == 0 {
		t.Fatal("no write was made during the upgrade")
	}
	for _, p := range c.pods(t) {
		if before[p.Name] {
			t.Errorf("pod %s was not replaced by the upgrade", p.Name)
		}
	}
}

// TestMemoryStaysUnderTheChartLimit sends the largest objects the API server accepts, many
// at once, to the webhook pods through the API server (server-side dry runs: nothing is
// stored) and checks the pods under the chart's real memory limit: the kubelet never restarts
// them (no OOM kill) and their cgroup's peak stays under the limit. The peak is printed.
func TestMemoryStaysUnderTheChartLimit(t *testing.T) {
	c := installChart(t)
	pods := c.pods(t)
	limit := pods[0].Spec.Containers[0].Resources.Limits.Memory().Value()
	if limit == 0 {
		t.Fatal("the chart's pod has no memory limit")
	}
	// Just under the API server's 3 MiB request limit, as one annotation value... of 256 KiB
	// each (annotations are limited to 256 KiB in total), in a spec padded to 1 MiB.
	padding := strings.Repeat("x", 250*1024)
	big := serviceDefaults("large", padding)
	list := make([]any, 0, 4000)
	for i := 0; i < 4000; i++ {
		list = append(list, map[string]any{"name": fmt.Sprintf("backend-%04d-%s", i, strings.Repeat("y", 200)), "peer": "cluster-02"})
	}
	_ = unstructured.SetNestedSlice(big.Object, list, "spec", "upstreamConfig", "overrides")
	const total, workers = 60, 12
	var sent, answered atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= total {
				obj := big.DeepCopy()
				obj.SetName(fmt.Sprintf("large-%d-%d", w, sent.Load()))
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				err := c.n.Client.Create(ctx, obj, client.DryRunAll)
				cancel()
				if err == nil || strings.Contains(err.Error(), "denied the request") {
					answered.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d large objects (%d KiB of JSON each) reviewed by the pods in %s, %d answered by the webhook",
		total, len(mustJSON(t, big))/1024, time.Since(start).Round(time.Second), answered.Load())
	if answered.Load() == 0 {
		t.Fatal("no large object reached the webhook")
	}
	for _, p := range c.pods(t) {
		checkPodReady(t, p)
		for _, s := range p.Status.ContainerStatuses {
			if s.LastTerminationState.Terminated != nil {
				t.Errorf("pod %s was terminated: %s", p.Name, s.LastTerminationState.Terminated.Reason)
			}
		}
		peak := peakMemory(t, p)
		t.Logf("pod %s: memory peak %d MiB of the chart's limit %d MiB (%.0f%%)", p.Name, peak>>20, limit>>20, 100*float64(peak)/float64(limit))
		if peak >= limit {
			t.Errorf("pod %s reached its memory limit: peak %d of %d", p.Name, peak, limit)
		}
	}
}

func mustJSON(t *testing.T, u *unstructured.Unstructured) []byte {
	t.Helper()
	raw, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// peakMemory reads the peak of the pod's memory cgroup (cgroup v1 memory.max_usage_in_bytes,
// or memory.peak on the unified hierarchy) from the webhook process's cgroup.
func peakMemory(t *testing.T, p corev1.Pod) int64 {
	t.Helper()
	pid := webhookPID(t, p)
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var file string
		switch {
		case strings.Contains(","+parts[1]+",", ",memory,"):
			file = filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.max_usage_in_bytes")
		case parts[0] == "0" && parts[1] == "":
			file = filepath.Join("/sys/fs/cgroup/unified", parts[2], "memory.peak")
		default:
			continue
		}
		v, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
		if err == nil {
			return n
		}
	}
	t.Fatalf("no memory cgroup of pod %s's process %d: %s", p.Name, pid, raw)
	return 0
}
