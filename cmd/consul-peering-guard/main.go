// Command consul-peering-guard is the project's one binary, a thin command line over the
// packages: the Consul cluster-peering admission webhook (serve), its offline twin for CI
// pipelines (validate), the cluster audit (audit), both sides of peerings across clusters
// (check), the generated ValidatingAdmissionPolicies (vap), the rule catalogue (rules) and
// the build's version (version).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

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

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
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

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "consul-peering-guard",
		Short:         "Enforce Consul cluster-peering rules on consul-k8s resources",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServeCommand(), newValidateCommand(), newRulesCommand(), newAuditCommand(), newCheckCommand(), newVAPCommand(), newVersionCommand(), newDocsCommand())
	return root
}
