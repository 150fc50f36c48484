package policies

import (
	"fmt"
	"strings"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// Table is the generated part of docs/policies.md: for every rule of the catalogue, whether
// a policy enforces it, which settings its CEL reads, or why it stays in the webhook; then
// the list bound and the scope the policies take. hack/genvap writes it between the page's
// policies markers.
func Table() (string, error) {
	var b strings.Builder
	b.WriteString(`| rule | kinds | default | runs as | settings its CEL reads |
|---|---|---|---|---|
`)
	for _, r := range validators.Catalogue() {
		names := kinds.Names(r.Kinds)
		runs, deps := "", ""
		switch {
		case Enforced(r):
			runs = "policy (and the webhook, unless `serve --skip-object-rules`)"
			deps = strings.Join(settingsRead(r), ", ")
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
	fmt.Fprintf(&b, `
## Long lists: the policies skip, the webhook judges

The API server's CEL runtime cost tracker makes a policy's list checks cost CPU that grows
with the square of the list's length: without a bound, a valid ServiceDefaults with 15,000
upstream overrides cost 16.4 s of API-server CPU (1.7 s without the policies) and one with
20,000 timed out, after which it could no longer be labelled or get consul-k8s's finalizer.
Every policy of a kind with lists therefore carries the match condition `+"`%s`"+`: it
evaluates a request only while each list it iterates (and its total of inner lists), in the
object and in the stored object, holds at most the bound (%[2]d items by default):

| kind | lists bounded |
|---|---|
| ServiceDefaults | `+"`spec.upstreamConfig.overrides`"+` |
| ExportedServices | `+"`spec.services`"+`, and all their `+"`consumers`"+` together |
| ServiceResolver | the subsets of `+"`spec.failover`"+`, and all their `+"`targets`"+` together |
| ServiceIntentions | `+"`spec.sources`"+` |
| SamenessGroup | `+"`spec.members`"+` |

An object beyond the bound is judged by the webhook, whose checks are linear:
`+"`serve --skip-object-rules`"+` runs the rules the policies enforce on exactly the objects they skip.
Set the bound with `+"`vap --policy-max-list-items`"+` (the policies read it from the key
`+"`%[3]s`"+` of their settings object) and `+"`serve --policy-max-list-items`"+` (the two
must agree; the chart sets both from `+"`validatingAdmissionPolicies.maxListItems`"+`).
`+"`test/vap`"+` (TestPolicyListBound) prints the API server's own admission time
(`+"`apiserver_admission_controller_admission_duration_seconds`"+` of the ValidatingAdmissionPolicy
plugin) and each create's time for objects at and beyond the bound, as ratios to the same
object without the policies. One run (2 shared cores, 2026-12-07): 250 overrides cost the
policies 0.03 s of admission time, 1,000 overrides 0.11 s (creates 3.2 times as long as
without the policies, 0.15 s against 0.05 s); 20,000 overrides skip them (0.5 ms spent on the
match conditions) and are created in 1.1 s against 1.4 s without the policies.

## Break glass reaches the policies

A write the webhook is configured to leave alone must not be refused by a policy either.
`+"`vap --exempt-namespace`"+`, `+"`--namespace-selector`"+` and `+"`--object-selector`"+` become each
binding's `+"`matchResources`"+` (an exempt namespace as a `+"`kubernetes.io/metadata.name NotIn`"+`
requirement, as in the webhook entries) and `+"`--match-condition NAME=EXPRESSION`"+` is added to
each policy's match conditions. The chart does the same from `+"`webhook.exemptNamespaces`"+`,
`+"`webhook.namespaceSelector`"+`, `+"`webhook.objectSelector`"+` and `+"`webhook.matchConditions`"+`.
`, validators.PolicyBoundCondition, validators.DefaultPolicyMaxListItems, validators.ParamPolicyMaxListItems)
	fmt.Fprintf(&b, `
## Removing them

`+"`vap`"+` labels every policy, binding and settings object it prints `+"`%[1]s=%[2]s`"+`;
this removes them all (the webhook, if it runs, judges alone again):

<!-- remove-vap -->
`+"```sh"+`
%[3]s
`+"```"+`

To apply a new configuration, remove them and apply the new output: a rule turned off prints
no binding, so applying alone would leave its old binding in place. The chart's policies carry the
chart's labels instead; `+"`validatingAdmissionPolicies.enabled: false`"+` or `+"`helm uninstall`"+`
removes them.
`, managedByLabel, managedBy, RemoveCommand)
	return b.String(), nil
}

// settingsRead are the keys of the settings object a rule's CEL reads besides its action.
func settingsRead(r *validators.Rule) []string {
	var text strings.Builder
	for _, k := range r.Kinds {
		vs, _ := r.CEL(k)
		for _, v := range vs {
			text.WriteString(v.Expression + v.MessageExpression)
		}
	}
	var keys []string
	for _, key := range []string{validators.ParamPartition, validators.ParamPartitionsEnabled, validators.ParamNamespacesEnabled,
		validators.ParamEdition, validators.ParamConsulVersion} {
		if strings.Contains(text.String(), "params.data['"+key+"']") {
			keys = append(keys, "`"+key+"`")
		}
	}
	return keys
}

// RemoveCommand deletes every policy, binding and settings object `vap` printed, by the
// label it puts on them.
const RemoveCommand = "kubectl delete validatingadmissionpolicies,validatingadmissionpolicybindings,configmaps -A -l " +
	managedByLabel + "=" + managedBy
