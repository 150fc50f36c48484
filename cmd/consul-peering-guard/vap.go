package main

import (
	"github.com/spf13/cobra"

	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
)

func newVAPCommand() *cobra.Command {
	var ef engineFlags
	cmd := &cobra.Command{
		Use:   "vap",
		Short: "Print the object-only rules as ValidatingAdmissionPolicies and bindings (Kubernetes 1.30+)",
		Long: `Print one ValidatingAdmissionPolicy and one ValidatingAdmissionPolicyBinding per enabled
object-only rule, for the installation the flags describe (the same flags as serve). The API
server then runs those rules itself: no call to the webhook, and still enforced while no
webhook pod answers. deny binds [Deny], warn binds [Warn, Audit], off renders nothing; a rule
the configuration leaves nothing to find renders nothing either. The state rules and the
webhook-only object rules (consul-peering-guard rules lists which) still need the webhook;
run it with --skip-object-rules beside the policies so each violation is reported once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := ef.config()
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			ps, err := policies.Generate(cfg)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			out, err := policies.Render(ps)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	ef.add(cmd.Flags())
	return cmd
}
