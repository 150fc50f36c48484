package app

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/policies"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// rulesWidth is the width the rules listing fits: a terminal or a CI log without wrapping.
const rulesWidth = 100

// descriptionIndent starts each line of a rule's description, under its name.
const descriptionIndent = "    "

func newRulesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rules",
		Short: "List every rule with its default action, whether `vap` renders it as a policy, its kinds and description",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeRules(cmd.OutOrStdout(), validators.Catalogue())
		},
	}
}

// writeRules prints one line per rule (name, default action, policy, kinds), the kinds wrapped
// in their column, and the description below it, indented and wrapped, all within rulesWidth.
func writeRules(w io.Writer, rules []*validators.Rule) error {
	nameWidth := len("RULE")
	for _, r := range rules {
		nameWidth = max(nameWidth, len(r.Name))
	}
	row := func(name, action, policy, kinds string) string {
		return fmt.Sprintf("%-*s  %-7s  %-6s  %s", nameWidth, name, action, policy, kinds)
	}
	kindsIndent := len(row("", "", "", ""))
	var b strings.Builder
	b.WriteString(row("RULE", "DEFAULT", "POLICY", "KINDS") + "\n")
	for _, r := range rules {
		policy := "-"
		if policies.Enforced(r) {
			policy = "yes"
		}
		for i, line := range wrap(strings.Join(kinds.Names(r.Kinds), ", "), rulesWidth-kindsIndent) {
			if i == 0 {
				b.WriteString(row(r.Name, string(r.DefaultAction), policy, line) + "\n")
				continue
			}
			b.WriteString(strings.Repeat(" ", kindsIndent) + line + "\n")
		}
		for _, line := range wrap(r.Description, rulesWidth-len(descriptionIndent)) {
			b.WriteString(descriptionIndent + line + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wrap breaks text into lines of at most width bytes at spaces; a word longer than width
// gets a line of its own.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}
