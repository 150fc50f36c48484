// Package openreports keeps the periodic audit's findings as OpenReports (openreports.io/v1alpha1
// Report), where Kyverno's Policy Reporter and other policy dashboards already look: one
// Report per namespace, one result per (object, rule). Every Consul kind is namespaced, so
// no ClusterReport is ever needed.
package openreports

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/snapshot"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

const (
	// Source is the source of every Report and result we write.
	Source = "consul-peering-guard"
	// Name is the name of the Report in each namespace.
	Name = "consul-peering-guard"
	// ManagedByLabel marks our Reports, so that the ones no longer needed are found and deleted.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// FieldProperty is the result property holding the offending field paths.
	FieldProperty = "field"
	// MaxResults bounds the results of one Report. The results past it (or past
	// MaxReportBytes) are left out, failures last, and counted in one more result
	// (TruncatedPolicy).
	MaxResults = 1000
	// MaxReportBytes bounds a Report's encoded results, well under what etcd stores (1.5 MiB)
	// and the API server accepts (3 MiB), so that a namespace full of offenders still gets
	// its Report.
	MaxReportBytes = 512 << 10
	// MaxMessageBytes clips each message of a result.
	MaxMessageBytes = 256
	// MaxMessagesPerResult bounds the messages one result carries (one object can break a
	// rule a hundred times): the rest are counted in the description.
	MaxMessagesPerResult = 10
	// TruncatedPolicy is the policy of the result that counts what a full Report left out.
	TruncatedPolicy = "consul-peering-guard-report-truncated"
)

// reportOverhead is what a Report holds besides its results (metadata, summary, the
// truncation result), and resultStampBytes the encoded timestamp each result gets.
const (
	reportOverhead   = 8 << 10
	resultStampBytes = 48
)

// Desired builds the Report each namespace should hold for the findings, leaving out the
// exempt namespaces. A namespace without violations has no Report.
func Desired(findings []snapshot.Finding, exempt []string) map[string]*openreports.Report {
	type key struct {
		ref  kinds.ObjectRef
		rule string
	}
	type entry struct {
		uid      types.UID
		deny     bool
		messages []string
		fields   []string
	}
	entries := map[key]*entry{}
	for _, f := range findings {
		if slices.Contains(exempt, f.Ref.Namespace) {
			continue
		}
		var uid types.UID
		if m, ok := f.Object.(metav1.Object); ok {
			uid = m.GetUID()
		}
		for _, v := range f.Result.Violations {
			if v.Action != validators.Deny && v.Action != validators.Warn {
				continue
			}
			k := key{ref: f.Ref, rule: v.Rule}
			e := entries[k]
			if e == nil {
				e = &entry{uid: uid}
				entries[k] = e
			}
			e.deny = e.deny || v.Action == validators.Deny
			e.messages = append(e.messages, v.Error.Field+": "+v.Error.ErrorBody())
			if !slices.Contains(e.fields, v.Error.Field) {
				e.fields = append(e.fields, v.Error.Field)
			}
		}
	}
	out := map[string]*openreports.Report{}
	for k, e := range entries {
		r := out[k.ref.Namespace]
		if r == nil {
			r = newReport(k.ref.Namespace)
			out[k.ref.Namespace] = r
		}
		info, _ := kinds.InfoOf(k.ref.Kind) // findings name only kinds of the table
		res := openreports.ReportResult{
			Source:      Source,
			Policy:      k.rule,
			Result:      "warn",
			Description: joinBounded(e.messages, "; "),
			Subjects: []corev1.ObjectReference{{
				APIVersion: info.GroupVersion.String(), Kind: string(k.ref.Kind),
				Namespace: k.ref.Namespace, Name: k.ref.Name, UID: e.uid,
			}},
			Properties: map[string]string{FieldProperty: joinBounded(e.fields, ", ")},
		}
		if e.deny {
			res.Result = "fail"
		}
		r.Results = append(r.Results, res)
	}
	for _, r := range out {
		slices.SortFunc(r.Results, compareResults)
		r.Summary = summarize(r.Results)
	}
	return out
}

// joinBounded joins at most MaxMessagesPerResult items, each clipped to MaxMessageBytes,
// and says how many more there were.
func joinBounded(items []string, sep string) string {
	kept := items[:min(len(items), MaxMessagesPerResult)]
	clipped := make([]string, len(kept), len(kept)+1)
	for i, m := range kept {
		clipped[i] = clip(m, MaxMessageBytes)
	}
	if more := len(items) - len(kept); more > 0 {
		clipped = append(clipped, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(clipped, sep)
}

// clip cuts s to at most n bytes on a character boundary, marking the cut with "…".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	keep := n - len("…")
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + "…"
}

// bound keeps the first results of r (failures sort first) within MaxResults and
// MaxReportBytes and counts the rest in one more result; it returns how many it left out.
func bound(r *openreports.Report) int {
	budget := MaxReportBytes - reportOverhead
	kept := 0
	for kept < len(r.Results) && kept < MaxResults {
		raw, err := json.Marshal(r.Results[kept])
		if err != nil || len(raw)+resultStampBytes > budget {
			break
		}
		budget -= len(raw) + resultStampBytes
		kept++
	}
	dropped := r.Results[kept:]
	if len(dropped) == 0 {
		return 0
	}
	left := summarize(dropped)
	r.Results = append(r.Results[:kept:kept], openreports.ReportResult{
		Source: Source, Policy: TruncatedPolicy, Result: "skip",
		Description: fmt.Sprintf("%d more results (%d fail, %d warn) left out: a Report holds at most %d results and %d KiB; "+
			"consul-peering-guard audit lists them all", len(dropped), left.Fail, left.Warn, MaxResults, MaxReportBytes>>10),
	})
	r.Summary = summarize(r.Results)
	return len(dropped)
}

func newReport(namespace string) *openreports.Report {
	return &openreports.Report{
		TypeMeta: metav1.TypeMeta{APIVersion: openreports.GroupVersion.String(), Kind: "Report"},
		ObjectMeta: metav1.ObjectMeta{
			Name: Name, Namespace: namespace,
			Labels: map[string]string{ManagedByLabel: Source},
		},
		Source: Source,
	}
}

// compareResults orders failures first (a full Report leaves out warnings first), then by
// subject and policy.
func compareResults(a, b openreports.ReportResult) int {
	sa, sb := a.Subjects[0], b.Subjects[0]
	return cmp.Or(cmp.Compare(a.Result, b.Result), cmp.Compare(sa.Kind, sb.Kind), cmp.Compare(sa.Name, sb.Name), cmp.Compare(a.Policy, b.Policy))
}

func summarize(results []openreports.ReportResult) openreports.ReportSummary {
	var s openreports.ReportSummary
	for _, r := range results {
		switch r.Result {
		case "fail":
			s.Fail++
		case "warn":
			s.Warn++
		case "skip":
			s.Skip++
		}
	}
	return s
}

// Writer keeps the cluster's Reports equal to the desired ones. It reads the API server
// directly (not an informer cache), so it needs only get, list, create, update and delete.
type Writer struct {
	Reader client.Reader
	Client client.Writer
	// Now stamps new results; time.Now when nil.
	Now func() time.Time
}

// Stats says what one Sync changed.
type Stats struct {
	Created, Updated, Deleted, Unchanged int
	// Dropped counts results left out of Reports that reached MaxResults or MaxReportBytes.
	Dropped int
	// Foreign counts Reports with our name whose source is not ours: left alone.
	Foreign int
}

// Sync makes the cluster hold exactly the desired Reports: it creates the missing ones,
// updates the ones whose results changed (a result that still holds keeps its timestamp)
// and deletes our Reports of namespaces that no longer have violations.
func (w *Writer) Sync(ctx context.Context, desired map[string]*openreports.Report) (Stats, error) {
	var stats Stats
	var existing openreports.ReportList
	if err := w.Reader.List(ctx, &existing, client.MatchingLabels{ManagedByLabel: Source}); meta.IsNoMatchError(err) {
		return stats, fmt.Errorf("the openreports.io Report CustomResourceDefinition is not installed (Kyverno or the openreports project installs it): install it or turn off --reports: %w", err)
	} else if err != nil {
		return stats, fmt.Errorf("listing Reports: %w", err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	stamp := metav1.Timestamp{Seconds: now().Unix()}
	var errs []error
	current := map[string]*openreports.Report{}
	foreign := map[string]bool{}
	for i := range existing.Items {
		r := &existing.Items[i]
		if r.Name != Name {
			continue
		}
		if r.Source != Source {
			// Another engine's Report (or one copied with our label): never rewritten.
			stats.Foreign++
			foreign[r.Namespace] = true
			errs = append(errs, fmt.Errorf("the Report %s/%s has source %q, not %s: left alone", r.Namespace, r.Name, r.Source, Source))
			continue
		}
		current[r.Namespace] = r
		if _, ok := desired[r.Namespace]; ok {
			continue
		}
		if err := w.Client.Delete(ctx, r); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting Report %s/%s: %w", r.Namespace, r.Name, err))
			continue
		}
		stats.Deleted++
	}
	for _, ns := range slices.Sorted(maps.Keys(desired)) {
		want := desired[ns].DeepCopy()
		stats.Dropped += bound(want)
		if foreign[ns] {
			continue
		}
		have := current[ns]
		stampResults(want.Results, have, stamp)
		if have == nil {
			if err := w.Client.Create(ctx, want); err != nil {
				errs = append(errs, fmt.Errorf("creating Report %s/%s: %w", ns, want.Name, err))
				continue
			}
			stats.Created++
			continue
		}
		if have.Source == want.Source && equality.Semantic.DeepEqual(have.Results, want.Results) && have.Summary == want.Summary {
			stats.Unchanged++
			continue
		}
		have.Source, have.Results, have.Summary = want.Source, want.Results, want.Summary
		if err := w.Client.Update(ctx, have); err != nil {
			errs = append(errs, fmt.Errorf("updating Report %s/%s: %w", ns, have.Name, err))
			continue
		}
		stats.Updated++
	}
	return stats, errors.Join(errs...)
}

// stampResults gives each result the timestamp it had in have when it still holds
// unchanged, else stamp: the time a result was first seen, and no write when nothing changed.
func stampResults(results []openreports.ReportResult, have *openreports.Report, stamp metav1.Timestamp) {
	for i := range results {
		results[i].Timestamp = stamp
		if have == nil {
			continue
		}
		for _, old := range have.Results {
			prev := old
			prev.Timestamp = stamp
			if equality.Semantic.DeepEqual(prev, results[i]) {
				results[i].Timestamp = old.Timestamp
				break
			}
		}
	}
}
