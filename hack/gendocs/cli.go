package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// sharedBy are the commands whose common flags (the engine flags) get one table.
var sharedBy = []string{"serve", "validate", "audit"}

// readmeTables renders, by marker name: "commands" (every subcommand and what it does),
// "shared" (the flags serve, validate and audit share) and one table per subcommand with
// its other flags.
func readmeTables(root *cobra.Command) map[string]string {
	root.InitDefaultHelpFlag()
	root.InitDefaultCompletionCmd()
	out := map[string]string{}
	var cmds strings.Builder
	cmds.WriteString("| command | what it does |\n|---|---|\n")
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		fmt.Fprintf(&cmds, "| `%s` | %s |\n", escapeCell(strings.TrimPrefix(c.CommandPath(), root.Name()+" ")+usageArgs(c)), escapeCell(c.Short))
	}
	out["commands"] = cmds.String()

	shared := sharedFlags(root)
	out["shared"] = flagTable(func(yield func(*pflag.Flag)) {
		first := findCommand(root, sharedBy[0])
		first.Flags().VisitAll(func(f *pflag.Flag) {
			if shared[f.Name] {
				yield(f)
			}
		})
	})
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		c.InitDefaultHelpFlag()
		isShared := false
		for _, s := range sharedBy {
			isShared = isShared || s == c.Name()
		}
		out[c.Name()] = flagTable(func(yield func(*pflag.Flag)) {
			c.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Hidden || f.Name == "help" || isShared && shared[f.Name] {
					return
				}
				yield(f)
			})
		})
	}
	return out
}

func usageArgs(c *cobra.Command) string {
	if i := strings.IndexByte(c.Use, ' '); i >= 0 {
		return c.Use[i:]
	}
	if c.HasSubCommands() {
		names := []string{}
		for _, s := range c.Commands() {
			if !s.Hidden && s.Name() != "help" {
				names = append(names, s.Name())
			}
		}
		return " " + strings.Join(names, "|")
	}
	return ""
}

// sharedFlags are the flags defined alike (name, shorthand, default, usage) by every
// command of sharedBy.
func sharedFlags(root *cobra.Command) map[string]bool {
	shared := map[string]bool{}
	first := findCommand(root, sharedBy[0])
	first.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		for _, name := range sharedBy[1:] {
			g := findCommand(root, name).Flags().Lookup(f.Name)
			if g == nil || g.Shorthand != f.Shorthand || g.DefValue != f.DefValue || g.Usage != f.Usage {
				return
			}
		}
		shared[f.Name] = true
	})
	return shared
}

func findCommand(root *cobra.Command, name string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return c
		}
	}
	panic("no command " + name)
}

// flagTable renders flags as a Markdown table, as --help shows them (-h, --help left out:
// every command has it).
func flagTable(each func(yield func(*pflag.Flag))) string {
	var b strings.Builder
	b.WriteString("| flag | default | meaning |\n|---|---|---|\n")
	rows := 0
	each(func(f *pflag.Flag) {
		rows++
		name := "`--" + f.Name
		if f.Shorthand != "" {
			name = "`-" + f.Shorthand + "`, " + name
		}
		if typ, _ := pflag.UnquoteUsage(f); typ != "" {
			name += " " + typ
		}
		name += "`"
		def := f.DefValue
		switch {
		case f.Value.Type() == "stringArray" && def == "[]", def == "":
			def = ""
		default:
			def = "`" + def + "`"
		}
		if f.Value.Type() == "bool" && f.DefValue == "false" {
			def = ""
		}
		_, usage := pflag.UnquoteUsage(f)
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, def, escapeCell(usage))
	})
	if rows == 0 {
		return "No flags besides `-h`, `--help`.\n"
	}
	return b.String()
}

func escapeCell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}
