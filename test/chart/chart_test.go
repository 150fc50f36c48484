// Package chart tests what ships: the Helm chart under charts/consul-peering-guard, the
// plain manifests under deploy/ and the Dockerfile. The chart is rendered, linted and
// installed with the real helm from bin/, its objects are decoded into the Kubernetes and
// cert-manager Go types and compared with what the Go code builds or reads (the test
// framework's WebhookConfiguration, the kinds the state watcher reads, the serve flags), and
// the install runs against a real kube-apiserver with cert-manager's CRDs.
package chart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

const (
	release   = "consul-peering-guard"
	namespace = "consul-peering-guard"
	chartDir  = "charts/consul-peering-guard"
)

// ciValues are the value files helm lint and helm template are run with.
var ciValues = []string{
	"default-values.yaml",
	"partitions-values.yaml",
	"no-cert-manager-values.yaml",
	"secure-metrics-audit-values.yaml",
	"monitoring-reports-values.yaml",
}

// TestMain removes the binary built as the image builds it once every test has used it.
func TestMain(m *testing.M) {
	code := m.Run()
	if imageBinary.path != "" {
		_ = os.RemoveAll(filepath.Dir(imageBinary.path))
	}
	os.Exit(code)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := framework.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// scheme knows the built-in types, our Consul types, cert-manager's and prometheus-operator's.
func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := kinds.NewScheme()
	if err := cmv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// result is what one run of a tool printed.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs a command from the repository root, bounded to five minutes.
func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	r := framework.Run(framework.Command{Dir: repoRoot(t), Env: env, Timeout: 5 * time.Minute}, name, args...)
	if r.Code == -1 {
		t.Fatalf("%s %s: %s", name, strings.Join(args, " "), r.Stderr)
	}
	return result{code: r.Code, stdout: r.Stdout, stderr: r.Stderr}
}

// helm runs bin/helm with its configuration, cache and data kept in a temporary folder;
// helm template renders for kubeVersion.
func helm(t *testing.T, args ...string) result {
	t.Helper()
	if len(args) > 0 && args[0] == "template" {
		args = append(args, "--kube-version="+kubeVersion)
	}
	return helmAsIs(t, args...)
}

// helmAsIs runs bin/helm as helm does, with the arguments given and nothing more.
func helmAsIs(t *testing.T, args ...string) result {
	t.Helper()
	bin := filepath.Join(repoRoot(t), "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("bin/helm missing: run make tools (%v)", err)
	}
	home := t.TempDir()
	env := []string{
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"KUBECONFIG=" + filepath.Join(home, "no-kubeconfig"),
	}
	return run(t, env, bin, args...)
}

// kubeVersion is the Kubernetes version helm template renders for, as make manifests does,
// so that what is rendered does not depend on the helm that renders it.
const kubeVersion = "1.37.2"

// make tools stamps helm as helm's own release build does: it reports its module version and
// assumes the Kubernetes version of its client-go (unstamped: v3.22 and Kubernetes 1.20, which
// the chart's kubeVersion refuses), so helm template of the chart needs no --kube-version.
func TestHelmIsStampedLikeARelease(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join(repoRoot(t), "hack", "tools", "helm", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?helm\.sh/helm/v3 (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("hack/tools/helm/go.mod requires no helm.sh/helm/v3")
	}
	if r := helmAsIs(t, "version", "--template", "{{.Version}}"); r.code != 0 || r.stdout != string(m[1]) {
		t.Errorf("bin/helm version says %q, its module is %s (rebuild it: rm bin/helm && make tools)\n%s", r.stdout, m[1], r)
	}
	if r := helmAsIs(t, "template", release, chartDir, "--namespace", namespace); r.code != 0 {
		t.Errorf("helm template without --kube-version: %s", r)
	}
}

// render runs helm template as `make manifests` does, with an optional ci values file.
func render(t *testing.T, valuesFile string) []byte {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", namespace}
	if valuesFile != "" {
		args = append(args, "-f", filepath.Join(chartDir, "ci", valuesFile))
	}
	r := helm(t, args...)
	if r.code != 0 {
		t.Fatalf("helm %s: %s", strings.Join(args, " "), r)
	}
	return []byte(r.stdout)
}

// yamlDocuments splits a multi-document YAML stream, dropping empty documents and comments.
func yamlDocuments(t *testing.T, stream []byte) [][]byte {
	t.Helper()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// decode turns rendered manifests into typed objects; it is strict, so a misspelled or
// duplicated field in a template fails here rather than being dropped by the API server.
func decode(t *testing.T, stream []byte) []client.Object {
	t.Helper()
	codecs := serializer.NewCodecFactory(scheme(t), serializer.EnableStrict)
	var objs []client.Object
	for _, doc := range yamlDocuments(t, stream) {
		obj, gvk, err := codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decoding rendered object: %v\n%s", err, doc)
		}
		co, ok := obj.(client.Object)
		if !ok {
			t.Fatalf("%s is not an object", gvk)
		}
		objs = append(objs, co)
	}
	return objs
}

// only returns the objects of type T.
func only[T client.Object](objs []client.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// one returns the single object of type T, failing when there is not exactly one.
func one[T client.Object](t *testing.T, objs []client.Object) T {
	t.Helper()
	found := only[T](objs)
	if len(found) != 1 {
		var zero T
		t.Fatalf("want exactly one %T, got %d", zero, len(found))
	}
	return found[0]
}

// named returns the object of type T with a name, failing when there is none.
func named[T client.Object](t *testing.T, objs []client.Object, name string) T {
	t.Helper()
	for _, o := range only[T](objs) {
		if o.GetName() == name {
			return o
		}
	}
	var zero T
	t.Fatalf("no %T named %s", zero, name)
	return zero
}

// webhookConfigurationKey is the key of the chart's ConfigMap holding the configuration serve
// applies (--webhook-configuration).
const webhookConfigurationKey = "validatingwebhookconfiguration.yaml"

// webhookConfigurationOf decodes, strictly, the ValidatingWebhookConfiguration the chart
// renders into its ConfigMap for serve to apply; the release itself has none.
func webhookConfigurationOf(t *testing.T, objs []client.Object) *admissionregistrationv1.ValidatingWebhookConfiguration {
	t.Helper()
	if n := len(only[*admissionregistrationv1.ValidatingWebhookConfiguration](objs)); n != 0 {
		t.Errorf("the release holds %d ValidatingWebhookConfigurations; serve alone applies it", n)
	}
	var found []*corev1.ConfigMap
	for _, cm := range only[*corev1.ConfigMap](objs) {
		if _, ok := cm.Data[webhookConfigurationKey]; ok {
			found = append(found, cm)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one ConfigMap with %s, got %d", webhookConfigurationKey, len(found))
	}
	objsIn := decode(t, []byte(found[0].Data[webhookConfigurationKey]))
	return one[*admissionregistrationv1.ValidatingWebhookConfiguration](t, objsIn)
}
