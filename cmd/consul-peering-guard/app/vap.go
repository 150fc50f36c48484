package app

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func newVAPCommand() *cobra.Command {
	var (
		ef                                engineFlags
		exempt, conditions                []string
		namespaceSelector, objectSelector string
		settingsNamespace                 string
	)
	cmd := &cobra.Command{
		Use:   "vap",
		Short: "Print the object-only rules as ValidatingAdmissionPolicies, bindings and their settings (Kubernetes 1.30+)",
		Long: `Print one ValidatingAdmissionPolicy per object-only rule, one binding per rule that is on,
and the ConfigMap the policies read the installation the flags describe from (the same flags
as serve): partition, namespaces, edition, Consul version and each rule's action. The API
server then runs those rules itself: no call to the webhook, and still enforced while no
webhook pod answers. deny binds [Deny], warn binds [Warn, Audit], off renders no binding.
The state rules and the webhook-only object rules (consul-peering-guard rules lists which)
still need the webhook; run it with --skip-object-rules beside the policies so each
violation is reported once.

Give the policies the webhook's scope (--exempt-namespace, --namespace-selector,
--object-selector, --match-condition, as in the webhook configuration) so that break glass
reaches both. A policy skips an object with a list longer than --policy-max-list-items
(the API server's CEL cost grows with the square of a list's length); the webhook with
--skip-object-rules and the same bound judges that object instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := ef.config()
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			scope, err := vapScope(exempt, namespaceSelector, objectSelector, conditions)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			set, err := policies.Generate(cfg, settingsNamespace)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			scope.Apply(set.Policies)
			out, err := set.Render()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	fs := cmd.Flags()
	ef.add(fs)
	AddPolicyMaxListItems(fs, &ef.cfg.PolicyMaxListItems)
	fs.StringVar(&settingsNamespace, "settings-namespace", policies.DefaultSettingsNamespace,
		"the namespace of the ConfigMap "+policies.SettingsName+", which the bindings read the installation from")
	fs.StringArrayVar(&exempt, "exempt-namespace", nil, "bind no policy in this namespace, as the webhook exempts it (repeatable; break glass and restores)")
	fs.StringVar(&namespaceSelector, "namespace-selector", "", "bind the policies only in namespaces matching this label selector (the webhook entries' namespaceSelector)")
	fs.StringVar(&objectSelector, "object-selector", "", "bind the policies only to objects matching this label selector (the webhook entries' objectSelector)")
	fs.StringArrayVar(&conditions, "match-condition", nil, "NAME=EXPRESSION: a CEL match condition added to every policy, as to the webhook entries (repeatable)")
	return cmd
}

// vapScope is the webhook's scope from the flags of vap.
func vapScope(exempt []string, namespaceSelector, objectSelector string, conditions []string) (policies.Scope, error) {
	scope := policies.Scope{ExemptNamespaces: exempt}
	if err := checkNamespaces("", exempt); err != nil {
		return scope, err
	}
	var err error
	if scope.NamespaceSelector, err = labelSelector("--namespace-selector", namespaceSelector); err != nil {
		return scope, err
	}
	if scope.ObjectSelector, err = labelSelector("--object-selector", objectSelector); err != nil {
		return scope, err
	}
	for _, c := range conditions {
		name, expr, ok := strings.Cut(c, "=")
		if !ok || name == "" || strings.TrimSpace(expr) == "" {
			return scope, fmt.Errorf("--match-condition %q: want NAME=EXPRESSION", c)
		}
		scope.MatchConditions = append(scope.MatchConditions, admissionregistrationv1.MatchCondition{Name: name, Expression: expr})
	}
	return scope, nil
}

// labelSelector parses a flag's label selector, nil when empty.
func labelSelector(flag, s string) (*metav1.LabelSelector, error) {
	if s == "" {
		return nil, nil
	}
	ls, err := metav1.ParseToLabelSelector(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", flag, s, err)
	}
	return ls, nil
}

// AddPolicyMaxListItems adds --policy-max-list-items, which vap and serve --skip-object-rules
// must agree on.
func AddPolicyMaxListItems(fs *pflag.FlagSet, n *int) {
	fs.IntVar(n, "policy-max-list-items", validators.DefaultPolicyMaxListItems,
		"the policies skip an object with a list (overrides, services, consumers, failover targets, sources, members) longer than this, and serve --skip-object-rules judges it instead; vap and serve must agree")
}
