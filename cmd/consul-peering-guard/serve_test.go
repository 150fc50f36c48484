package main

import (
	"strings"
	"testing"
)

// Namespace flags of serve are checked before anything connects: a name the API server
// could never hold is a usage error naming the flag.
func TestServeRefusesImpossibleNamespaces(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"exempt namespace with upper case", []string{"--exempt-namespace=Restore"}, `--exempt-namespace "Restore"`},
		{"second exempt namespace with an underscore", []string{"--exempt-namespace=restore", "--exempt-namespace=break_glass"}, `--exempt-namespace "break_glass"`},
		{"gateway namespace with a dot", []string{"--mesh-gateway-namespace=consul.system"}, `--mesh-gateway-namespace "consul.system"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"serve", "--kubeconfig=/nonexistent"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want %d naming %s:\n%s", code, exitUsage, tc.want, stderr)
			}
		})
	}
}

// --reports keeps what the periodic audit finds, so without --audit-interval it is a usage
// error before anything connects; with it, serve goes on to look for the cluster.
func TestServeReportsNeedTheAudit(t *testing.T) {
	code, _, stderr := runCLI(t, "serve", "--kubeconfig=/nonexistent", "--reports")
	if code != exitUsage || !strings.Contains(stderr, "--reports needs --audit-interval") {
		t.Fatalf("exit %d, want %d saying --reports needs --audit-interval:\n%s", code, exitUsage, stderr)
	}
	code, _, stderr = runCLI(t, "serve", "--kubeconfig=/nonexistent", "--reports", "--audit-interval=1m", "--audit-lease-namespace=cpg")
	if code != exitUsage || !strings.Contains(stderr, "--kubeconfig /nonexistent") {
		t.Fatalf("exit %d, want %d naming the missing kubeconfig only:\n%s", code, exitUsage, stderr)
	}
}

// Outside a pod the audit's Lease has no namespace to live in unless one is named; auditing
// on every replica needs none.
func TestServeAuditLeaseNeedsANamespace(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "")
	code, _, stderr := runCLI(t, "serve", "--kubeconfig=/nonexistent", "--audit-interval=1m")
	if code != exitUsage || !strings.Contains(stderr, "--audit-lease-namespace") {
		t.Fatalf("exit %d, want %d naming --audit-lease-namespace:\n%s", code, exitUsage, stderr)
	}
	for _, args := range [][]string{{"--audit-lease-namespace=cpg"}, {"--audit-leader-election=false"}} {
		code, _, stderr = runCLI(t, append([]string{"serve", "--kubeconfig=/nonexistent", "--audit-interval=1m"}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "--kubeconfig /nonexistent") {
			t.Errorf("%v: exit %d, want %d naming the missing kubeconfig only:\n%s", args, code, exitUsage, stderr)
		}
	}
	t.Setenv("POD_NAMESPACE", "cpg")
	code, _, stderr = runCLI(t, "serve", "--kubeconfig=/nonexistent", "--audit-interval=1m")
	if code != exitUsage || !strings.Contains(stderr, "--kubeconfig /nonexistent") {
		t.Errorf("POD_NAMESPACE set: exit %d, want %d naming the missing kubeconfig only:\n%s", code, exitUsage, stderr)
	}
	code, _, stderr = runCLI(t, "serve", "--kubeconfig=/nonexistent", "--audit-interval=1m", "--audit-lease-namespace=Not_A_Namespace")
	if code != exitUsage || !strings.Contains(stderr, "--audit-lease-namespace") {
		t.Errorf("a bad namespace: exit %d, want %d naming --audit-lease-namespace:\n%s", code, exitUsage, stderr)
	}
}
