package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func newRulesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rules",
		Short: "List every rule with its default action, kinds, whether `vap` renders it as a policy, and description",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			_, _ = fmt.Fprintln(w, "RULE\tDEFAULT\tKINDS\tPOLICY\tDESCRIPTION")
			for _, r := range validators.Catalogue() {
				kinds := make([]string, len(r.Kinds))
				for i, k := range r.Kinds {
					kinds[i] = string(k)
				}
				policy := "-"
				if policies.Enforced(r) {
					policy = "yes"
				}
				_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.DefaultAction, strings.Join(kinds, ","), policy, r.Description)
			}
			return w.Flush()
		},
	}
}
