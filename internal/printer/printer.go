// Package printer renders verdicts for people (kubectl-like text) and for machines (JSON),
// the same way for `validate`, `audit` and `check`, and draws the clusters of `check` as a
// Graphviz graph (dot).
package printer

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Violation is one finding in the JSON output.
type Violation struct {
	Rule    string `json:"rule"`
	Action  string `json:"action"`
	Field   string `json:"field"`
	Message string `json:"message"`
	// PeerCluster is the other cluster of a finding of `check` about a peering.
	PeerCluster string `json:"peerCluster,omitempty"`
}

// Result is the verdict on one object.
type Result struct {
	// Cluster is the cluster the object is in, for `check` (which reads several).
	Cluster    string      `json:"cluster,omitempty"`
	Kind       string      `json:"kind"`
	Namespace  string      `json:"namespace"`
	Name       string      `json:"name"`
	File       string      `json:"file"`
	Allowed    bool        `json:"allowed"`
	Violations []Violation `json:"violations"`
}

// Skip is a file or document that was not validated because it is not a Kubernetes object
// (Helm values, a kustomization file, a CI workflow, a Helm template, ...).
type Skip struct {
	File string `json:"file"`
	// Document is the 1-based document of the file, 0 (left out) when the whole file was skipped.
	Document int    `json:"document,omitempty"`
	Reason   string `json:"reason"`
}

// Report is the whole output: {"results":[...],"skipped":[...]}.
type Report struct {
	Results []Result `json:"results"`
	Skipped []Skip   `json:"skipped"`
}

// AddSkipped records a file (document 0) or document that was not validated.
func (r *Report) AddSkipped(file string, document int, reason string) {
	r.Skipped = append(r.Skipped, Skip{File: file, Document: document, Reason: reason})
}

// Add records the engine's verdict on one object.
func (r *Report) Add(ref kinds.ObjectRef, file string, res *validators.Result) {
	out := Result{Kind: string(ref.Kind), Namespace: ref.Namespace, Name: ref.Name, File: file,
		Allowed: res.Allowed(), Violations: make([]Violation, 0, len(res.Violations))}
	for _, v := range res.Violations {
		out.Violations = append(out.Violations, Violation{Rule: v.Rule, Action: string(v.Action), Field: v.Error.Field, Message: v.Error.ErrorBody()})
	}
	r.Results = append(r.Results, out)
}

// AddIn records the engine's verdict on one object of a named cluster.
func (r *Report) AddIn(cluster string, ref kinds.ObjectRef, file string, res *validators.Result) {
	r.Add(ref, file, res)
	r.Results[len(r.Results)-1].Cluster = cluster
}

// AddPair records a finding about a peering on the object it is on, beside that object's
// other findings; file is where the object came from, "" when live.
func (r *Report) AddPair(v validators.PairViolation, file string) {
	i := -1
	for j := range r.Results {
		res := &r.Results[j]
		if res.Cluster == v.Cluster && res.Kind == string(v.Object.Kind) && res.Namespace == v.Object.Namespace && res.Name == v.Object.Name {
			i = j
			break
		}
	}
	if i < 0 {
		r.Results = append(r.Results, Result{Cluster: v.Cluster, Kind: string(v.Object.Kind), Namespace: v.Object.Namespace,
			Name: v.Object.Name, File: file, Allowed: true})
		i = len(r.Results) - 1
	}
	res := &r.Results[i]
	res.Violations = append(res.Violations, Violation{Rule: v.Rule, Action: string(v.Action), Field: v.Error.Field,
		Message: v.Error.ErrorBody(), PeerCluster: v.Peer})
	if v.Action == validators.Deny {
		res.Allowed = false
	}
}

// Denied reports whether any object was denied.
func (r *Report) Denied() bool {
	for _, res := range r.Results {
		if !res.Allowed {
			return true
		}
	}
	return false
}

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	if r.Results == nil {
		r.Results = []Result{}
	}
	if r.Skipped == nil {
		r.Skipped = []Skip{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteText writes one line per object and one per violation, like kubectl's field errors,
// then one line per skipped file or document.
func (r *Report) WriteText(w io.Writer) error {
	denied, warned := 0, 0
	for _, res := range r.Results {
		verdict := "allowed"
		if !res.Allowed {
			verdict = "denied"
			denied++
		} else if len(res.Violations) > 0 {
			verdict = "allowed with warnings"
			warned++
		}
		where, cluster := "", ""
		if res.File != "" {
			where = " (" + Printable(res.File) + ")"
		}
		if res.Cluster != "" {
			cluster = "[" + Printable(res.Cluster) + "] "
		}
		if _, err := fmt.Fprintf(w, "%s%s %s/%s%s: %s\n", cluster, Printable(res.Kind), Printable(res.Namespace), Printable(res.Name), where, verdict); err != nil {
			return err
		}
		for _, v := range res.Violations {
			label := "DENY"
			if v.Action == string(validators.Warn) {
				label = "WARN"
			}
			if _, err := fmt.Fprintf(w, "  %s %s: %s\n", label, Printable(v.Field), Printable(v.Message)); err != nil {
				return err
			}
		}
	}
	for _, s := range r.Skipped {
		where := Printable(s.File)
		if s.Document > 0 {
			where = fmt.Sprintf("%s (document %d)", where, s.Document)
		}
		if _, err := fmt.Fprintf(w, "skipped %s: %s\n", where, Printable(s.Reason)); err != nil {
			return err
		}
	}
	skipped := ""
	if len(r.Skipped) > 0 {
		skipped = fmt.Sprintf(", %d skipped", len(r.Skipped))
	}
	_, err := fmt.Fprintf(w, "%s: %d denied, %d allowed with warnings%s\n", Count(len(r.Results), "object"), denied, warned, skipped)
	return err
}

// Printable returns s unchanged when every character of it is printable, and otherwise
// quoted as a Go string literal (strconv.Quote): a file name or an object's name holding a
// newline or a terminal escape cannot forge a line or a colour in a CI log.
func Printable(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// Count is n and the noun, in the plural unless n is 1: "1 object", "2 objects".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
