package app

import (
	"fmt"
	"os"
	"path/filepath"
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

// The serving bounds are checked before anything connects: a bound that would disable itself
// or a client name without the CA it is checked against is a usage error naming the flag.
func TestServeRefusesBoundsThatDisableThemselves(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no side connections", []string{"--max-side-connections=0"}, "--max-side-connections"},
		{"no wait for a slot", []string{"--in-flight-wait=0s"}, "--in-flight-wait"},
		{"no time for a body", []string{"--body-read-timeout=0s"}, "--body-read-timeout"},
		{"client names without a CA", []string{"--client-cn-name=kube-apiserver"}, "--client-cn-name needs --client-ca-file"},
		{"TLS 1.1", []string{"--tls-min-version=1.1"}, `--tls-min-version "1.1"`},
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

// A webhook configuration serve could not apply is a usage error naming the flag, before
// anything connects: the pod crash-loops and says why, and nothing is registered.
func TestServeChecksTheWebhookConfigurationFile(t *testing.T) {
	const entry = `
  - name: mesh.consul-peering-guard.io
    admissionReviewVersions: ["v1"]
    sideEffects: None
    clientConfig:
      service: {name: %s, namespace: cpg, path: /validate, port: 443}
`
	good := "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: cpg}\nwebhooks:" + fmt.Sprintf(entry, "cpg")
	cases := []struct {
		name string
		file string
		args []string
		want string
	}{
		{"unknown field", good + "    failurePolicyy: Fail\n", nil, `unknown field "failurePolicyy"`},
		{"another kind", strings.Replace(good, "kind: ValidatingWebhookConfiguration", "kind: MutatingWebhookConfiguration", 1), nil, "want admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration"},
		{"no name", strings.Replace(good, "metadata: {name: cpg}", "metadata: {}", 1), nil, "needs metadata.name"},
		{"two services", good + strings.Replace(fmt.Sprintf(entry, "other"), "mesh.", "pod.", 1), nil, "webhook pod.consul-peering-guard.io: every entry must call the same Service"},
		{"missing file", "", nil, "no such file"},
		{"owner without file", "", []string{"--webhook-configuration-owner=cpg"}, "--webhook-configuration-owner needs --webhook-configuration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"serve", "--kubeconfig=/nonexistent"}
			if tc.args != nil {
				args = append(args, tc.args...)
			} else {
				path := filepath.Join(t.TempDir(), "vwc.yaml")
				if tc.file != "" {
					if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				args = append(args, "--webhook-configuration="+path)
			}
			code, _, stderr := runCLI(t, args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want %d saying %s:\n%s", code, exitUsage, tc.want, stderr)
			}
		})
	}
	// The good file passes the check: serve goes on to look for the cluster.
	path := filepath.Join(t.TempDir(), "vwc.yaml")
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "serve", "--kubeconfig=/nonexistent", "--webhook-configuration="+path, "--webhook-configuration-owner=cpg")
	if code != exitUsage || !strings.Contains(stderr, "--kubeconfig /nonexistent") {
		t.Fatalf("exit %d, want %d naming the missing kubeconfig only:\n%s", code, exitUsage, stderr)
	}
}
