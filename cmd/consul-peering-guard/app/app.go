// Package app is the command tree of consul-peering-guard: the Consul cluster-peering
// admission webhook (serve), its offline twin for CI pipelines (validate), the cluster audit
// (audit), both sides of peerings across clusters (check), the generated
// ValidatingAdmissionPolicies (vap), the rule catalogue (rules) and the build's version
// (version). The binary runs it; hack/gendocs renders docs/cli.md from it.
package app

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes of validate and audit.
const (
	exitAllowed = 0
	exitDenied  = 1
	exitUsage   = 2
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Run executes the command line of the build and returns the process exit code.
func Run(args []string, stdout, stderr io.Writer, build Build) int {
	root := NewRootCommand(stdout, stderr, build)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitAllowed
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code != exitDenied {
			_, _ = fmt.Fprintln(stderr, "error:", ee.err)
		}
		return ee.code
	}
	_, _ = fmt.Fprintln(stderr, "error:", err)
	return exitUsage
}

// NewRootCommand returns the command tree, writing to stdout and stderr, stamped with build.
func NewRootCommand(stdout, stderr io.Writer, build Build) *cobra.Command {
	root := &cobra.Command{
		Use:           "consul-peering-guard",
		Short:         "Enforce Consul cluster-peering rules on consul-k8s resources",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServeCommand(), newValidateCommand(), newRulesCommand(), newAuditCommand(), newCheckCommand(), newVAPCommand(), newVersionCommand(build))
	return root
}
