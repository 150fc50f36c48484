package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
)

// validateCLI runs the binary's validate with JSON output and returns its exit code and report.
func validateCLI(t *testing.T, args ...string) (int, printer.Report) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"validate", "-o", "json"}, args...)...)
	cmd.Dir = cluster.Root
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	var rep printer.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("validate %v: not the JSON report (%v): %s", args, err, out)
	}
	return cmd.ProcessState.ExitCode(), rep
}

func hasFinding(rep printer.Report, rule, field, action string) bool {
	for _, r := range rep.Results {
		for _, v := range r.Violations {
			if v.Rule == rule && v.Field == field && v.Action == action {
				return true
			}
		}
	}
	return false
}

// The CLI's unknown-field is the API server's own judgement: kubectl's strict field validation
// refuses the mis-cased key at the same path, and without it the API server drops the key, so
// the webhook (decoding case-sensitively) sees an upstream without a peer and allows it.
func TestUnknownFieldAsTheAPIServerSeesIt(t *testing.T) {
	useGuard(t)
	reset(t)
	const path = "spec.upstreamConfig.overrides[0].Peer"
	manifest := strings.Replace(serviceDefaults("none"), "peer: dc2", "Peer: dc2", 1)
	file := filepath.Join(t.TempDir(), "frontend.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}

	if code, rep := validateCLI(t, "-f", file); code != 0 || !hasFinding(rep, "unknown-field", path, "warn") {
		t.Errorf("validate: exit %d, want 0 with an unknown-field warning at %s: %+v", code, path, rep)
	}
	if code, rep := validateCLI(t, "--strict", "-f", file); code != 1 || !hasFinding(rep, "unknown-field", path, "deny") {
		t.Errorf("validate --strict: exit %d, want 1 with an unknown-field denial at %s: %+v", code, path, rep)
	}

	r := cluster.Apply(manifest)
	if r.Code == 0 || !strings.Contains(r.Stderr, `unknown field "`+path+`"`) {
		t.Fatalf("kubectl's strict field validation did not refuse %s: exit %d\n%s", path, r.Code, r.Stderr)
	}
	if r := cluster.Apply(manifest, "--validate=false"); r.Code != 0 {
		t.Fatalf("the pruned object was refused:\n%s", r.Stderr)
	}
	got := cluster.Kubectl("get", "servicedefaults", "frontend", "-n", "default", "-o", "jsonpath={.spec.upstreamConfig.overrides[0]}")
	if got.Code != 0 || strings.Contains(got.Stdout, "dc2") {
		t.Fatalf("the API server kept the mis-cased key: %s %s", got.Stdout, got.Stderr)
	}
}

// validate -k and kubectl apply -k render the same overlay (a base, an overlay of it and a
// patch) and refuse it for the same rule at the same field.
func TestKustomizeOverlayAsKubectlAppliesIt(t *testing.T) {
	useGuard(t)
	reset(t)
	overlay := filepath.Join(cluster.Root, "cmd", "consul-peering-guard", "app", "testdata", "kustomize", "overlays", "mode-none")
	const field, rule = "spec.upstreamConfig.overrides[0].meshGateway.mode", "gateway-mode-none-peer-upstream"
	if code, rep := validateCLI(t, "-k", overlay); code != 1 || !hasFinding(rep, rule, field, "deny") {
		t.Errorf("validate -k: exit %d, want 1 with %s at %s: %+v", code, rule, field, rep)
	}
	if r := cluster.Kubectl("get", "namespace", "consul"); r.Code != 0 {
		if r := cluster.Kubectl("create", "namespace", "consul"); r.Code != 0 {
			t.Fatal(r.Stderr)
		}
	}
	refused(t, cluster.Kubectl("apply", "-k", overlay), field, rule)
}
