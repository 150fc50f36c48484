package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// why says, for each module go.mod requires directly, what it is there for. A direct
// requirement without an entry, or an entry go.mod no longer requires, fails the generation,
// so the table in docs/development.md lists exactly go.mod's direct requirements.
var why = map[string]string{
	"k8s.io/api":                             "Kubernetes types",
	"k8s.io/apimachinery":                    "`field.ErrorList`, `apierrors.NewInvalid`, runtime and schema",
	"k8s.io/client-go":                       "informers and clients",
	"k8s.io/klog/v2":                         "routes client-go's own logs (for example a forbidden list) into our logger",
	"sigs.k8s.io/controller-runtime":         "manager, cache, certificate watcher, health probes, metrics registry and authn/authz filter",
	"github.com/prometheus/client_golang":    "our metrics, registered in controller-runtime's registry",
	"github.com/spf13/cobra":                 "the CLI",
	"github.com/spf13/pflag":                 "the CLI's flags",
	"github.com/go-logr/logr":                "structured logs (controller-runtime's logger interface)",
	"go.uber.org/zap":                        "controller-runtime's zap logger; zap's levels for `--log-level`",
	"sigs.k8s.io/yaml":                       "YAML manifests and cluster files",
	"sigs.k8s.io/json":                       "case-sensitive JSON decoding with unknown-field paths, as the API server decodes (already required by apimachinery)",
	"sigs.k8s.io/kustomize/api":              "`validate -k`: the kustomize library `kubectl apply -k` embeds",
	"sigs.k8s.io/kustomize/kyaml":            "`validate -k`: kustomize's file system and YAML",
	"golang.org/x/net":                       "`netutil.LimitListener`, the webhook's connection limit (already in the module graph through client-go)",
	"github.com/openreports/reports-api":     "the OpenReports Report type `serve --reports` writes, and its CRDs for the tests (`make thirdparty-crds`)",
	"github.com/google/go-containerregistry": "`make image` (`hack/image`): the OCI image without Docker; the image tests read it back",
	"golang.org/x/sync":                      "`errgroup` in the benchmarks (`hack/bench-e2e`, `hack/bench-peers`)",
	"golang.org/x/sys":                       "`make cluster`: the loopback forwarder into the node's network namespace (`hack/node/forward`)",
	"k8s.io/utils":                           "tests only: `ptr.To` for ownerReferences (already in the module graph through client-go)",
	"github.com/cert-manager/cert-manager":   "tests only: cert-manager's API types and CRDs for the chart tests",
	"github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring": "tests only: the ServiceMonitor and PrometheusRule types the chart tests decode, and their CRDs (`make thirdparty-crds`)",
	"github.com/prometheus/client_model":                                     "tests only: parsing scraped metrics in the chart tests",
	"github.com/prometheus/common":                                           "tests only: parsing scraped metrics in the chart tests",
	"k8s.io/apiextensions-apiserver":                                         "tests only: CustomResourceDefinition types for the chart tests",
	"k8s.io/apiserver":                                                       "tests only: the API server's in-process ValidatingAdmissionPolicy evaluator (`internal/policies` runs every object-only rule's table cases through the Go check and its CEL; `test/vap` type-checks the policies)",
	"k8s.io/kube-aggregator":                                                 "tests only: APIService types for the chart tests",
}

// requirement is one require line of go.mod, as go mod edit -json prints it.
type requirement struct {
	Path     string
	Version  string
	Indirect bool
}

// Dependencies renders the direct requirements of the go.mod at path as a Markdown table.
func Dependencies(gomod string) (string, error) {
	out, err := exec.Command("go", "mod", "edit", "-json", gomod).Output()
	if err != nil {
		return "", fmt.Errorf("go mod edit -json %s: %w", gomod, err)
	}
	var mod struct{ Require []requirement }
	if err := json.Unmarshal(out, &mod); err != nil {
		return "", err
	}
	return dependencyTable(mod.Require, why)
}

func dependencyTable(reqs []requirement, why map[string]string) (string, error) {
	var b strings.Builder
	b.WriteString("| module | version | why |\n|---|---|---|\n")
	var unexplained []string
	direct := map[string]bool{}
	for _, r := range reqs {
		if r.Indirect {
			continue
		}
		direct[r.Path] = true
		reason, ok := why[r.Path]
		if !ok {
			unexplained = append(unexplained, r.Path)
			continue
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.Path, r.Version, reason)
	}
	var stale []string
	for path := range why {
		if !direct[path] {
			stale = append(stale, path)
		}
	}
	sort.Strings(stale)
	switch {
	case len(unexplained) > 0:
		return "", fmt.Errorf("go.mod requires %s directly: say why in hack/gendocs/dependencies.go", strings.Join(unexplained, ", "))
	case len(stale) > 0:
		return "", fmt.Errorf("hack/gendocs/dependencies.go explains %s, which go.mod no longer requires directly", strings.Join(stale, ", "))
	}
	return b.String(), nil
}
