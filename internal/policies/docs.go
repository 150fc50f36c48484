package policies

import (
	"fmt"
	"strings"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Table is the rule-by-rule table of docs/policies.md: for every rule of the catalogue,
// whether a policy enforces it, which flags its CEL depends on, or why it stays in the
// webhook. hack/genvap writes it between the page's policies markers.
func Table() (string, error) {
	var b strings.Builder
	b.WriteString(`| rule | kinds | default | runs as | CEL depends on |
|---|---|---|---|---|
`)
	for _, r := range validators.Catalogue() {
		names := make([]string, len(r.Kinds))
		for i, k := range r.Kinds {
			names[i] = string(k)
		}
		runs, deps := "", ""
		switch {
		case Enforced(r):
			runs = "policy (and the webhook, unless `serve --skip-object-rules`)"
			dims, err := relevantDimensions(r)
			if err != nil {
				return "", err
			}
			var flags []string
			for _, d := range dims {
				flags = append(flags, "`"+strings.ReplaceAll(d.flag, ", ", "`, `")+"`")
			}
			deps = strings.Join(flags, ", ")
		case r.ObjectOnly():
			runs = "webhook only: " + r.WebhookOnly()
		case r.ReadsPair():
			runs = "`check` only: compares two clusters"
		default:
			runs = "webhook only: reads other objects of the cluster"
		}
		if len(r.Kinds) == len(kinds.Consul) {
			names = []string{"all"}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.Name, strings.Join(names, ", "), r.DefaultAction, runs, deps)
	}
	return b.String(), nil
}
