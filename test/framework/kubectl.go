package framework

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Result is what one kubectl run printed.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Kubectl runs bin/kubectl with the admin kubeconfig.
func (c *Cluster) Kubectl(args ...string) Result {
	return c.KubectlAs(c.Kubeconfig, args...)
}

// KubectlAs runs bin/kubectl with a given kubeconfig, bounded to two minutes.
func (c *Cluster) KubectlAs(kubeconfig string, args ...string) Result {
	return Run(Command{Timeout: 2 * time.Minute}, c.Bin("kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

// Command is where and how Run runs a program.
type Command struct {
	Dir     string
	Env     []string // added to this process's environment
	Stdin   []byte
	Timeout time.Duration
}

// Run runs a program to its end (or the timeout) and returns what it printed and its exit
// code; a program that could not start, or was stopped at the timeout, has code -1 and the
// reason at the end of Stderr.
func Run(how Command, program string, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), how.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Dir = how.Dir
	cmd.Env = append(os.Environ(), how.Env...)
	cmd.Stdin = bytes.NewReader(how.Stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		code = -1
		fmt.Fprintf(&stderr, "%s: no answer within %s", program, how.Timeout)
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		code = -1
		stderr.WriteString(err.Error())
	}
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

func clientKey(name string) types.NamespacedName { return types.NamespacedName{Name: name} }

func x509Pool(caPEM []byte) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return pool
}

// Apply writes manifest to a file and runs kubectl apply -f on it with extra args.
func (c *Cluster) Apply(manifest string, extra ...string) Result {
	f, err := os.CreateTemp(c.Dir, "apply-*.yaml")
	if err != nil {
		return Result{Stderr: err.Error(), Code: -1}
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.WriteString(manifest); err != nil {
		return Result{Stderr: err.Error(), Code: -1}
	}
	_ = f.Close()
	return c.Kubectl(append([]string{"apply", "-f", f.Name()}, extra...)...)
}
