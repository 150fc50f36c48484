// Command genvap writes the Helm chart's template of the generated ValidatingAdmissionPolicies
// (charts/consul-peering-guard/templates/validatingadmissionpolicies.yaml) from the rule
// catalogue, so the chart and `consul-peering-guard vap` never drift.
package main

import (
	"fmt"
	"os"

	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
)

const path = "charts/consul-peering-guard/templates/validatingadmissionpolicies.yaml"

func main() {
	out, err := policies.HelmTemplate()
	if err == nil {
		err = os.WriteFile(path, out, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genvap:", err)
		os.Exit(1)
	}
}
