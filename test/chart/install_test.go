package chart

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/diff"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// readmeInstallCommand returns the words of the command in the ```sh block that follows
// <!-- install-command --> in README.md.
func readmeInstallCommand(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- install-command -->\\s*```sh\\n(.*?)```").FindSubmatch(raw)
	if m == nil {
		t.Fatal("README.md has no ```sh block right after <!-- install-command -->")
	}
	line := strings.TrimSpace(strings.ReplaceAll(string(m[1]), "\\\n", " "))
	if strings.Contains(line, "\n") || strings.ContainsAny(line, "$`;|&<>") {
		t.Fatalf("the install command must be one plain helm command: %q", line)
	}
	words := shellWords(t, line)
	if len(words) < 3 || words[0] != "helm" || words[1] != "install" {
		t.Fatalf("the install command is not a helm install: %q", words)
	}
	return words[1:]
}

// certManagerCRDs returns a folder with cert-manager's cert-manager.io CRDs, taken from its
// Go module (the version go.mod pins, whose API types the tests decode into).
func certManagerCRDs(t *testing.T) string {
	t.Helper()
	r := run(t, nil, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager")
	if r.code != 0 {
		t.Fatalf("locating the cert-manager module: %s", r)
	}
	src := filepath.Join(strings.TrimSpace(r.stdout), "deploy", "crds")
	files, err := filepath.Glob(filepath.Join(src, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in %s (%v)", src, err)
	}
	dst := t.TempDir()
	kept := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// The chart's copies are Helm templates; these are plain controller-gen output.
		if bytes.Contains(raw, []byte("{{")) {
			t.Fatalf("%s holds template directives; render it before installing it", f)
		}
		var crd struct {
			Kind string `json:"kind"`
			Spec struct {
				Group string `json:"group"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// The ACME CRDs (orders, challenges) are large and unused here.
		if crd.Kind != "CustomResourceDefinition" || crd.Spec.Group != cmv1.SchemeGroupVersion.Group {
			continue
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		kept++
	}
	if kept < 2 {
		t.Fatalf("want at least the Certificate and Issuer CRDs from %s, got %d", src, kept)
	}
	return dst
}

// TestHelmInstall installs the chart with the README's command into a real kube-apiserver
// that has cert-manager's CRDs, reads the objects back with the Go types, and uninstalls.
// No controllers run: the point is that the API server, its CRD schemas and helm accept
// every object as rendered.
func TestHelmInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	cluster, err := framework.StartCluster(certManagerCRDs(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cluster.Stop() }()
	c, err := client.New(cluster.Config, client.Options{Scheme: scheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := framework.Context(3 * time.Minute)
	defer cancel()

	install := append(readmeInstallCommand(t), "--kubeconfig", cluster.Kubeconfig)
	r := helm(t, install...)
	if r.code != 0 {
		t.Fatalf("helm %s: %s", strings.Join(install, " "), r)
	}
	if !strings.Contains(r.stdout, "kubectl delete validatingwebhookconfiguration "+release) {
		t.Errorf("the install notes lack the break-glass step: %s", r.stdout)
	}
	if strings.Contains(r.stdout, "WARNING") {
		t.Errorf("the install notes warn with default values: %s", r.stdout)
	}

	manifest := helm(t, "get", "manifest", release, "--namespace", namespace, "--kubeconfig", cluster.Kubeconfig)
	if manifest.code != 0 {
		t.Fatalf("helm get manifest: %s", manifest)
	}
	installed := decode(t, []byte(manifest.stdout))
	checkCertManagerObjectsAccepted(ctx, t, c, installed)
	checkInstalledWebhookConfiguration(ctx, t, c, installed)
	checkInstalledRBAC(ctx, t, c, installed)
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.ServiceAccount{}} {
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: release}, obj); err != nil {
			t.Errorf("%T: %v", obj, err)
		}
	}

	// One replica: the notes warn (rendered by the API server-backed dry run).
	single := helm(t, "install", "single", chartDir, "--namespace", "single", "--dry-run=server",
		"-f", filepath.Join(chartDir, "ci", "no-cert-manager-values.yaml"), "--kubeconfig", cluster.Kubeconfig)
	if single.code != 0 || !strings.Contains(single.stdout, "WARNING: replicaCount is 1") {
		t.Errorf("the notes do not warn about one replica: %s", single)
	}
	if !strings.Contains(single.stdout, "Not reviewed (webhook.exemptNamespaces): kube-system.") {
		t.Errorf("the notes do not name the exempt namespaces: %s", single)
	}

	if r := helm(t, "uninstall", release, "--namespace", namespace, "--wait", "--kubeconfig", cluster.Kubeconfig); r.code != 0 {
		t.Fatalf("helm uninstall: %s", r)
	}
	for _, obj := range installed {
		key := client.ObjectKeyFromObject(obj)
		fresh := obj.DeepCopyObject().(client.Object)
		if err := c.Get(ctx, key, fresh); !apierrors.IsNotFound(err) {
			t.Errorf("%T %s still there after helm uninstall (%v)", obj, key, err)
		}
	}

	// The kustomize alternative applies to the same API server (the namespace is still there).
	if r := cluster.Kubectl("apply", "-k", filepath.Join(cluster.Root, "deploy"), "--dry-run=server"); r.Code != 0 {
		t.Errorf("kubectl apply -k deploy/ --dry-run=server: %s\n%s", r.Stdout, r.Stderr)
	}
}

// checkCertManagerObjectsAccepted reads the Issuers and Certificates back: their specs must
// be exactly what was rendered, so the CRD schemas neither refused nor pruned a field.
func checkCertManagerObjectsAccepted(ctx context.Context, t *testing.T, c client.Client, installed []client.Object) {
	t.Helper()
	certs, issuers := only[*cmv1.Certificate](installed), only[*cmv1.Issuer](installed)
	if len(certs) != 2 || len(issuers) != 2 {
		t.Fatalf("want two Certificates and two Issuers installed, got %d and %d", len(certs), len(issuers))
	}
	for _, want := range certs {
		var got cmv1.Certificate
		if err := c.Get(ctx, client.ObjectKeyFromObject(want), &got); err != nil {
			t.Fatalf("Certificate %s: %v", want.Name, err)
		}
		if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
			t.Errorf("Certificate %s changed on the way in (- stored, + rendered):\n%s", want.Name, diff.Diff(got.Spec, want.Spec))
		}
	}
	for _, want := range issuers {
		var got cmv1.Issuer
		if err := c.Get(ctx, client.ObjectKeyFromObject(want), &got); err != nil {
			t.Fatalf("Issuer %s: %v", want.Name, err)
		}
		if !equality.Semantic.DeepEqual(got.Spec, want.Spec) {
			t.Errorf("Issuer %s changed on the way in (- stored, + rendered):\n%s", want.Name, diff.Diff(got.Spec, want.Spec))
		}
	}
}

// checkInstalledWebhookConfiguration: helm install registers no configuration (no webhook pod
// runs here); the one serve would apply, from the installed ConfigMap, asks cert-manager for
// its CA and calls the chart's Service for every entry.
func checkInstalledWebhookConfiguration(ctx context.Context, t *testing.T, c client.Client, installed []client.Object) {
	t.Helper()
	var vwcs admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := c.List(ctx, &vwcs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vwcs.Items {
		t.Errorf("helm install registered ValidatingWebhookConfiguration %s before any webhook pod serves", v.Name)
	}
	var cm corev1.ConfigMap
	rendered := webhookConfigurationOf(t, installed)
	for _, obj := range only[*corev1.ConfigMap](installed) {
		if _, ok := obj.Data[webhookConfigurationKey]; ok {
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), &cm); err != nil {
				t.Fatal(err)
			}
		}
	}
	vwc := webhookConfigurationOf(t, []client.Object{&cm})
	if !equality.Semantic.DeepEqual(vwc, rendered) {
		t.Errorf("the installed ConfigMap holds another configuration than rendered")
	}
	if got := vwc.Annotations[cmv1.WantInjectAnnotation]; got != namespace+"/"+release+"-serving-cert" {
		t.Errorf("annotation %s is %q", cmv1.WantInjectAnnotation, got)
	}
	var names []string
	for _, w := range vwc.Webhooks {
		names = append(names, w.Name)
		s := w.ClientConfig.Service
		if s == nil || s.Name != release || s.Namespace != namespace || s.Port == nil || *s.Port != 443 || s.Path == nil {
			t.Errorf("webhook %s: clientConfig %+v", w.Name, w.ClientConfig)
		}
	}
	var want []string
	for _, k := range append(slices.Clone(kinds.Consul), kinds.Workloads...) {
		want = append(want, framework.WebhookEntryName(k))
	}
	if !slices.Equal(names, want) {
		t.Errorf("webhooks %v, want %v", names, want)
	}
}

func checkInstalledRBAC(ctx context.Context, t *testing.T, c client.Client, installed []client.Object) {
	t.Helper()
	var role rbacv1.ClusterRole
	if err := c.Get(ctx, client.ObjectKey{Name: release}, &role); err != nil {
		t.Fatal(err)
	}
	got := grantsOf(role.Rules)
	want := append(readGrants(""), slices.DeleteFunc(registrationGrants(), func(g string) bool { return strings.Contains(g, "@") })...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("installed ClusterRole grants %v, want only the reads and the registration's %v", got, want)
	}
	if n := len(only[*rbacv1.ClusterRole](installed)); n != 1 {
		t.Errorf("want one ClusterRole installed with default values, got %d", n)
	}
}
