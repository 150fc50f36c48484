// Package reports keeps the periodic audit's findings as OpenReports (openreports.io/v1alpha1
// Report), where Kyverno's Policy Reporter and other policy dashboards already look: one
// Report per namespace, one result per (object, rule). Every Consul kind is namespaced, so
// no ClusterReport is ever needed.
package reports

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/offline"
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
	// MaxResults bounds one Report, so that a namespace full of offenders cannot make an
	// object larger than etcd stores (1.5 MiB); the results past it are counted in a log line.
	MaxResults = 1000
)

// Desired builds the Report each namespace should hold for the findings, leaving out the
// exempt namespaces. A namespace without violations has no Report.
func Desired(findings []offline.Finding, exempt []string) map[string]*openreports.Report {
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
		res := openreports.ReportResult{
			Source:      Source,
			Policy:      k.rule,
			Result:      "warn",
			Description: strings.Join(e.messages, "; "),
			Subjects: []corev1.ObjectReference{{
				APIVersion: v1alpha1.GroupVersion.String(), Kind: string(k.ref.Kind),
				Namespace: k.ref.Namespace, Name: k.ref.Name, UID: e.uid,
			}},
			Properties: map[string]string{FieldProperty: strings.Join(e.fields, ", ")},
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

func compareResults(a, b openreports.ReportResult) int {
	sa, sb := a.Subjects[0], b.Subjects[0]
	return cmp.Or(cmp.Compare(sa.Kind, sb.Kind), cmp.Compare(sa.Name, sb.Name), cmp.Compare(a.Policy, b.Policy))
}

func summarize(results []openreports.ReportResult) openreports.ReportSummary {
	var s openreports.ReportSummary
	for _, r := range results {
		switch r.Result {
		case "fail":
			s.Fail++
		case "warn":
			s.Warn++
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
	// Dropped counts results left out of Reports that reached MaxResults.
	Dropped int
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
	for i := range existing.Items {
		r := &existing.Items[i]
		if r.Name != Name {
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
		if len(want.Results) > MaxResults {
			stats.Dropped += len(want.Results) - MaxResults
			want.Results = want.Results[:MaxResults]
			want.Summary = summarize(want.Results)
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
