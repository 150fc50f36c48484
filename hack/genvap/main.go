// Command genvap writes the Helm chart's template of the generated ValidatingAdmissionPolicies
// (charts/consul-peering-guard/templates/validatingadmissionpolicies.yaml) and their
// rule-by-rule table of their documentation page (docs/policies.md, between
// <!-- policies:begin --> and <!-- policies:end -->) from the rule catalogue, so the chart, the page and
// `consul-peering-guard vap` never drift.
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
)

const (
	templatePath = "charts/consul-peering-guard/templates/validatingadmissionpolicies.yaml"
	docsPath     = "docs/policies.md"
)

func main() {
	out, err := policies.HelmTemplate()
	if err == nil {
		err = os.WriteFile(templatePath, out, 0o644)
	}
	if err == nil {
		err = writeTable(docsPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genvap:", err)
		os.Exit(1)
	}
}

// writeTable puts the rule-by-rule table between the page's markers; the prose around them is
// written by hand.
func writeTable(path string) error {
	table, err := policies.Table()
	if err != nil {
		return err
	}
	page, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin, end := []byte("<!-- policies:begin -->\n"), []byte("<!-- policies:end -->")
	i, j := bytes.Index(page, begin), bytes.Index(page, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s followed by %s", path, bytes.TrimSpace(begin), end)
	}
	out := append([]byte(nil), page[:i+len(begin)]...)
	out = append(append(out, table...), page[j:]...)
	return os.WriteFile(path, out, 0o644)
}
