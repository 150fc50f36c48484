package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	orv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/openreports"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// reportClient reads and writes Reports and the Consul kinds.
func reportClient(t *testing.T) client.Client {
	t.Helper()
	s := kinds.NewScheme()
	if err := orv1alpha1.Install(s); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cluster.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestManyWarningsStillMakeAReport: 300 ServiceDefaults with only warnings (a hundred
// overrides to unknown peers each) in one namespace used to make a Report the API server
// refused at every audit (Request entity too large), so the namespace never got one. Bounded
// messages and a byte bound store it, with a result counting what was left out.
func TestManyWarningsStillMakeAReport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ns = "many-warnings"
	c := reportClient(t)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	engine, err := validators.NewEngine(validators.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var items []snapshot.Item
	for i := range 300 {
		items = append(items, snapshot.Item{Object: serviceDefaults(ns, fmt.Sprintf("web-%03d", i), 100)})
	}
	findings, err := snapshot.Check(engine, items, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		for _, v := range f.Result.Violations {
			if v.Action != validators.Warn {
				t.Fatalf("%s: %s is a %s, want only warnings", f.Ref, v.Rule, v.Action)
			}
		}
	}
	desired := openreports.Desired(findings, nil)
	unbounded, err := json.Marshal(desired[ns])
	if err != nil {
		t.Fatal(err)
	}
	stats, err := (&openreports.Writer{Reader: c, Client: c}).Sync(ctx, desired)
	if err != nil {
		t.Fatalf("writing the Report of 300 objects with warnings: %v", err)
	}
	var r orv1alpha1.Report
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: openreports.Name}, &r); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	kept := len(r.Results) - 1
	t.Logf("300 objects with warnings: clipped results of %d bytes before the byte bound; a Report of %d bytes stored (bound %d) with %d results, %d left out",
		len(unbounded), len(raw), openreports.MaxReportBytes, kept, stats.Dropped)
	if last := r.Results[len(r.Results)-1]; stats.Dropped > 0 && last.Policy != openreports.TruncatedPolicy {
		t.Errorf("results were left out but the last result is %s, not %s", last.Policy, openreports.TruncatedPolicy)
	}
	if stats.Dropped == 0 {
		kept++
	}
	if kept+stats.Dropped != 300 || r.Summary.Warn != kept {
		t.Errorf("%d results kept, %d left out, summary %+v: want 300 in all, the kept ones warnings", kept, stats.Dropped, r.Summary)
	}
}
