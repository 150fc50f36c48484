// Command genvap writes the Helm chart's template of the generated ValidatingAdmissionPolicies
// (charts/consul-peering-guard/templates/validatingadmissionpolicies.yaml) and their
// documentation page (docs/policies.md) from the rule catalogue, so the chart, the page and
// `consul-peering-guard vap` never drift.
package main

import (
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
	var page string
	if err == nil {
		page, err = policies.Markdown()
	}
	if err == nil {
		err = os.WriteFile(docsPath, []byte(page), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genvap:", err)
		os.Exit(1)
	}
}
