package chart

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	cmutil "github.com/cert-manager/cert-manager/pkg/util"
	"github.com/go-logr/logr/funcr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// liveMistakes are mistake folders whose cluster file is the chart's default installation,
// each refused whole (nothing stays behind), covering an original Consul kind, a later one
// (ServiceResolver) and a workload entry (a Deployment's upstreams annotation).
var liveMistakes = []string{"gateway-mode-typo", "mesh-wrong-name", "resolver-failover-invalid-peer", "annotation-peer-unlabeled"}

// TestChartWebhookCalledByAPIServer installs the chart as users do and lets a real
// kube-apiserver call the webhook through the chart's own ValidatingWebhookConfiguration:
// its Service reference, port, path, selectors and match conditions, with the caBundle filled
// by cert-manager's real cainjector. The API server runs with aggregator routing, so it
// resolves the Service through an EndpointSlice, which points at `serve` running in a network
// namespace of the test's own (EndpointSlices refuse loopback addresses). The test plays only
// the parts of the cluster that do not run here: the issuer writing the Certificate's Secret,
// the kubelet writing that Secret into the pod's volume, the endpoints controller.
func TestChartWebhookCalledByAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver, etcd and the webhook in a network namespace")
	}
	start := time.Now()
	l := newLive(t, 8*time.Minute)
	cluster := l.cluster
	startCAInjector(l.ctx, t, cluster.Config)
	t.Logf("cluster, binary and cainjector ready in %s", time.Since(start).Round(time.Millisecond))

	t.Run("cert-manager", func(t *testing.T) {
		began := time.Now()
		l.t = t
		r := l.install(append(readmeInstallCommand(t), "--kubeconfig", cluster.Kubeconfig)...)
		cert := named[*cmv1.Certificate](t, r.objects, r.fullname+"-serving-cert")
		if got := r.webhookConfig.Annotations[cmv1.WantInjectAnnotation]; got != namespace+"/"+cert.Name {
			t.Fatalf("%s is %q, want the serving Certificate %s/%s", cmv1.WantInjectAnnotation, got, namespace, cert.Name)
		}
		ca1 := newCA(t, "first")
		crt, key := issue(t, ca1, cert.Spec.DNSNames)
		l.writeIssuedSecret(cert, crt, key, ca1.CertPEM)
		// The configuration appears once serve is ready; then the cainjector fills caBundle.
		guard := l.serve(r)
		l.waitForCABundle(ca1.CertPEM)
		l.checkEveryKindReviewed(guard)
		l.checkMistakesRefused(guard, r)
		l.applyValid(guard, r)
		t.Logf("installed, injected and judged in %s", time.Since(began).Round(time.Millisecond))

		// Renewal from a new CA: the issuer replaces the Secret (new certificate, new ca.crt).
		// cert-manager's cainjector merges the new CA into caBundle (CAInjectorMerging, GA):
		// the old CA stays trusted until it expires, so the pod's certificate of the old CA
		// keeps working until the kubelet syncs the Secret's new files into the pod (its sync
		// period is a minute or more; the cainjector reacts in milliseconds), then the new one.
		began = time.Now()
		ca2 := newCA(t, "second")
		load := startReviewLoad(l.ctx, l.c)
		crt2, key2 := issue(t, ca2, cert.Spec.DNSNames)
		l.writeIssuedSecret(cert, crt2, key2, ca2.CertPEM)
		both := append(slices.Clone(ca1.CertPEM), ca2.CertPEM...)
		l.waitForCABundle(both)
		l.waitForServedBy(guard, ca2, cert.Spec.DNSNames[0])
		beforeSwap := load.answered.Load()
		counts := load.stop(beforeSwap + 20)
		t.Logf("renewal in %s: %s (%d before serve presented the new certificate)", time.Since(began).Round(time.Millisecond), counts, beforeSwap)
		if counts.tls != 0 || counts.other != 0 || beforeSwap == 0 || counts.answered < beforeSwap+20 {
			t.Errorf("reviews across the CA rotation: %s, %d before serve presented the new certificate", counts, beforeSwap)
		}

		// helm upgrade turning a rule off: the rendered Deployment's args change, the pod is
		// replaced, and the same object is now allowed through the same path.
		began = time.Now()
		const rule = "upstream-annotation-unlabeled-peer"
		unlabeled := filepath.Join(cluster.Root, "examples", "mistakes", "annotation-peer-unlabeled")
		if res := cluster.Kubectl("apply", "--dry-run=server", "-f", unlabeled); res.Code == 0 || !strings.Contains(res.Stderr, "("+rule+")") {
			t.Fatalf("before the upgrade %s does not refuse the Deployment: %+v", rule, res)
		}
		guard.stop()
		r = l.upgrade("--reuse-values", "--set", "rules."+rule+"=off")
		if !slices.Contains(r.args(t), "--rule="+rule+"=off") {
			t.Fatalf("the upgraded Deployment does not turn the rule off: %v", r.args(t))
		}
		l.waitForCABundle(both)
		guard = l.serve(r)
		if res := cluster.Kubectl("apply", "--dry-run=server", "-f", unlabeled); res.Code != 0 || strings.Contains(res.Stderr, rule) {
			t.Errorf("after the upgrade the Deployment is still refused or warned about: %+v", res)
		}
		t.Logf("upgrade in %s", time.Since(began).Round(time.Millisecond))

		l.uninstall(r)
		guard.stop()
		l.checkNothingBlocks()
	})

	t.Run("without cert-manager", func(t *testing.T) {
		began := time.Now()
		l.t = t
		ca := newCA(t, "own")
		// The README's commands: the Secret first, then the release naming it and the CA.
		const secret = "my-webhook-tls"
		svcName := release + "." + namespace + ".svc"
		crt, key := issue(t, ca, []string{svcName, svcName + ".cluster.local"})
		if res := cluster.Apply(fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ntype: kubernetes.io/tls\ndata: {tls.crt: %s, tls.key: %s}\n",
			secret, namespace, base64.StdEncoding.EncodeToString(crt), base64.StdEncoding.EncodeToString(key))); res.Code != 0 {
			t.Fatalf("creating the Secret: %+v", res)
		}
		r := l.install("install", release, chartDir, "--namespace", namespace,
			"--set", "certManager.enabled=false", "--set", "tls.existingSecret="+secret,
			"--set", "tls.caBundle="+base64.StdEncoding.EncodeToString(ca.CertPEM), "--kubeconfig", cluster.Kubeconfig)
		if _, ok := r.webhookConfig.Annotations[cmv1.WantInjectAnnotation]; ok {
			t.Errorf("without cert-manager the configuration still asks for injection")
		}
		if len(only[*cmv1.Certificate](r.objects)) != 0 {
			t.Errorf("without cert-manager the chart still renders Certificates")
		}
		guard := l.serve(r)
		l.waitForCABundle(ca.CertPEM)
		l.checkEveryKindReviewed(guard)
		l.checkMistakesRefused(guard, r)
		l.applyValid(guard, r)
		l.uninstall(r)
		guard.stop()
		l.checkNothingBlocks()
		t.Logf("install, judge and uninstall without cert-manager in %s", time.Since(began).Round(time.Millisecond))
	})
}

// live is the cluster the subtests share; t is the running subtest.
type live struct {
	t       *testing.T
	ctx     context.Context
	cluster *framework.Cluster
	c       client.Client
	netns   *framework.NetNS
	bin     string
}

// newLive starts what the chart's live tests share: a network namespace for serve, an API
// server reaching it (with cert-manager's CRDs), the binary, a client, the garbage collector,
// and a context of d; it skips where network namespaces cannot be made.
func newLive(t *testing.T, d time.Duration) *live {
	t.Helper()
	netns, err := framework.NewNetNS()
	if errors.Is(err, framework.ErrNetNSRefused) {
		t.Skipf("this machine cannot run the test: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := netns.Close(); err != nil {
			t.Error(err)
		}
	})
	cluster, err := framework.StartClusterWith(framework.ClusterOptions{BindAddress: netns.HostIP.String()}, certManagerCRDs(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop() })
	bin, err := framework.BuildBinary(cluster.Root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cluster.Config, client.Options{Scheme: scheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := framework.Context(d)
	t.Cleanup(cancel)
	startGarbageCollector(t, cluster)
	return &live{t: t, ctx: ctx, cluster: cluster, c: c, netns: netns, bin: bin}
}

// liveRelease is what helm installed, read back from helm get manifest.
type liveRelease struct {
	objects    []client.Object
	fullname   string
	deployment *appsv1.Deployment
	service    *corev1.Service
	// webhookConfig is the configuration serve applies, as the chart rendered it.
	webhookConfig *admissionregistrationv1.ValidatingWebhookConfiguration
}

// args are the webhook container's arguments as rendered.
func (r *liveRelease) args(t *testing.T) []string {
	t.Helper()
	return r.container(t).Args
}

func (r *liveRelease) container(t *testing.T) corev1.Container {
	t.Helper()
	for _, c := range r.deployment.Spec.Template.Spec.Containers {
		if c.Name == "webhook" {
			return c
		}
	}
	t.Fatalf("the Deployment has no container named webhook")
	return corev1.Container{}
}

// install runs helm install; a subtest that fails before uninstalling leaves no release for
// the next one.
func (l *live) install(args ...string) *liveRelease {
	t := l.t
	t.Helper()
	res := helm(t, args...)
	t.Cleanup(func() {
		if t.Failed() {
			_ = helm(t, "uninstall", release, "--namespace", namespace, "--kubeconfig", l.cluster.Kubeconfig)
		}
	})
	if res.code != 0 {
		t.Fatalf("helm %s: %s", strings.Join(args, " "), res)
	}
	return l.readRelease()
}

func (l *live) upgrade(extra ...string) *liveRelease {
	l.t.Helper()
	args := append([]string{"upgrade", release, chartDir, "--namespace", namespace, "--kubeconfig", l.cluster.Kubeconfig}, extra...)
	if res := helm(l.t, args...); res.code != 0 {
		l.t.Fatalf("helm %s: %s", strings.Join(args, " "), res)
	}
	return l.readRelease()
}

func (l *live) readRelease() *liveRelease {
	t := l.t
	t.Helper()
	res := helm(t, "get", "manifest", release, "--namespace", namespace, "--kubeconfig", l.cluster.Kubeconfig)
	if res.code != 0 {
		t.Fatalf("helm get manifest: %s", res)
	}
	r := &liveRelease{objects: decode(t, []byte(res.stdout))}
	r.deployment = one[*appsv1.Deployment](t, r.objects)
	r.service = one[*corev1.Service](t, r.objects)
	r.fullname = r.service.Name
	r.webhookConfig = webhookConfigurationOf(t, r.objects)
	return r
}

func (l *live) uninstall(r *liveRelease) {
	t := l.t
	t.Helper()
	if res := helm(t, "uninstall", release, "--namespace", namespace, "--wait", "--kubeconfig", l.cluster.Kubeconfig); res.code != 0 {
		t.Fatalf("helm uninstall: %s", res)
	}
	l.waitForNoWebhookConfiguration()
	// What the test made in the cluster's place: the EndpointSlice and the serving Secret
	// (cert-manager does not delete a Certificate's Secret either).
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: r.service.Name + "-netns"}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: servingSecretName(t, r)}}
	for _, obj := range []client.Object{slice, secret} {
		if err := client.IgnoreNotFound(l.c.Delete(l.ctx, obj)); err != nil {
			t.Fatal(err)
		}
	}
}

// waitForNoWebhookConfiguration waits until no ValidatingWebhookConfiguration is left: the
// one serve applied is owned by the chart's ClusterRole, which helm uninstall deleted, and
// the garbage collector deletes it in turn.
func (l *live) waitForNoWebhookConfiguration() {
	t := l.t
	t.Helper()
	began := time.Now()
	var left []string
	err := wait.PollUntilContextTimeout(l.ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var vwcs admissionregistrationv1.ValidatingWebhookConfigurationList
		if err := l.c.List(ctx, &vwcs); err != nil {
			return false, err
		}
		left = left[:0]
		for _, v := range vwcs.Items {
			left = append(left, v.Name)
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Fatalf("ValidatingWebhookConfigurations %v are left a minute after helm uninstall: %v", left, err)
	}
	t.Logf("the garbage collector removed the configuration %s after helm uninstall", time.Since(began).Round(time.Millisecond))
}

// checkNothingBlocks runs, with no webhook running, the writes the chart's configuration
// refused or sent: with a configuration left behind they would fail (failurePolicy Fail).
func (l *live) checkNothingBlocks() {
	l.t.Helper()
	for _, m := range liveMistakes {
		if res := l.cluster.Kubectl("apply", "--dry-run=server", "-f", filepath.Join(l.cluster.Root, "examples", "mistakes", m)); res.Code != 0 {
			l.t.Errorf("after helm uninstall %s is still refused: %s", m, res.Stderr)
		}
	}
}

// servingSecretName is the Secret the Deployment mounts at the --cert-dir it passes.
func servingSecretName(t *testing.T, r *liveRelease) string {
	t.Helper()
	certDir := flagValue(t, r.args(t), "--cert-dir")
	for _, m := range r.container(t).VolumeMounts {
		if m.MountPath != certDir {
			continue
		}
		for _, v := range r.deployment.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				return v.Secret.SecretName
			}
		}
	}
	t.Fatalf("no Secret is mounted at --cert-dir %s", certDir)
	return ""
}

func flagValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	t.Fatalf("the Deployment does not pass %s: %v", flag, args)
	return ""
}

func portOf(t *testing.T, args []string, flag string) int {
	t.Helper()
	v := flagValue(t, args, flag)
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		port = v
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%s is not a port this test can reach", flag, v)
	}
	return n
}

func newCA(t *testing.T, name string) *framework.CA {
	t.Helper()
	ca, err := framework.NewCA("consul-peering-guard-" + name + "-ca")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *framework.CA, dnsNames []string) (crt, key []byte) {
	t.Helper()
	crt, key, err := ca.Issue(dnsNames)
	if err != nil {
		t.Fatal(err)
	}
	return crt, key
}

// writeIssuedSecret writes the Certificate's Secret as cert-manager's issuing controller does
// after issuance: kubernetes.io/tls with tls.crt, tls.key and ca.crt, annotated with the
// Certificate and its issuer (the cainjector trusts a Secret only when it names the
// Certificate).
func (l *live) writeIssuedSecret(cert *cmv1.Certificate, crt, key, caPEM []byte) {
	t := l.t
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: cert.Spec.SecretName, Namespace: cert.Namespace},
	}
	_, err := ctrl.CreateOrUpdate(l.ctx, l.c, secret, func() error {
		secret.Type = corev1.SecretTypeTLS
		secret.Annotations = map[string]string{
			cmv1.CertificateNameKey:       cert.Name,
			cmv1.IssuerNameAnnotationKey:  cert.Spec.IssuerRef.Name,
			cmv1.IssuerKindAnnotationKey:  cert.Spec.IssuerRef.Kind,
			cmv1.IssuerGroupAnnotationKey: cert.Spec.IssuerRef.Group,
			cmv1.AltNamesAnnotationKey:    strings.Join(cert.Spec.DNSNames, ","),
		}
		secret.Data = map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key, "ca.crt": caPEM}
		return nil
	})
	if err != nil {
		t.Fatalf("writing the Certificate's Secret: %v", err)
	}
}

// waitForCABundle waits until the caBundle of every entry of the chart's configuration is
// caPEM.
func (l *live) waitForCABundle(caPEM []byte) {
	t := l.t
	t.Helper()
	ctx, cancel := context.WithTimeout(l.ctx, time.Minute)
	defer cancel()
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	for {
		err := l.c.Get(ctx, client.ObjectKey{Name: release}, &vwc)
		if err == nil && len(vwc.Webhooks) > 0 && !slices.ContainsFunc(vwc.Webhooks, func(w admissionregistrationv1.ValidatingWebhook) bool {
			return !bytes.Equal(w.ClientConfig.CABundle, caPEM)
		}) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the configuration's caBundle is not the expected CA after a minute (%v): first entry has\n%s", err, firstCABundle(&vwc))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func firstCABundle(vwc *admissionregistrationv1.ValidatingWebhookConfiguration) string {
	if len(vwc.Webhooks) == 0 {
		return "(no entries)"
	}
	return string(vwc.Webhooks[0].ClientConfig.CABundle)
}

// runningGuard is serve started from the rendered Deployment, with the folder the kubelet
// would mount the serving Secret at.
type runningGuard struct {
	*framework.Webhook
	l        *live
	certDir  string
	secret   string
	stopOnce sync.Once
}

// serve starts the webhook as the chart's pod runs it: the rendered container's args and env,
// the serving Secret's files at --cert-dir, the ServiceAccount's token, inside the test's
// network namespace; and points the chart's Service at it with an EndpointSlice.
func (l *live) serve(r *liveRelease) *runningGuard {
	t := l.t
	t.Helper()
	container := r.container(t)
	g := &runningGuard{l: l, certDir: filepath.Join(t.TempDir(), "serving-certs"), secret: servingSecretName(t, r)}
	if err := os.Mkdir(g.certDir, 0o755); err != nil {
		t.Fatal(err)
	}
	g.syncSecretVolume()
	args := slices.Clone(container.Args)
	for i, a := range args {
		if strings.HasPrefix(a, "--cert-dir=") {
			args[i] = "--cert-dir=" + g.certDir
		}
		if file, ok := strings.CutPrefix(a, "--webhook-configuration="); ok {
			args[i] = "--webhook-configuration=" + l.configMapFile(r, file)
		}
	}
	args = append(args, "--kubeconfig="+l.serviceAccountKubeconfig(r.deployment.Spec.Template.Spec.ServiceAccountName))
	port := portOf(t, args, "--port")
	cmd := l.netns.Command(l.bin, args...)
	// The container's environment only, as in the pod; not the test process's.
	cmd.Env = []string{}
	for _, e := range container.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	w, err := framework.StartWebhookCommand(cmd, l.netns.PeerIP.String(), port,
		portOf(t, args, "--health-probe-bind-address"), portOf(t, args, "--metrics-bind-address"))
	if err != nil {
		t.Fatal(err)
	}
	g.Webhook = w
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("webhook logs:\n%s", w.Logs())
		}
	})
	if err := w.WaitReady(time.Minute); err != nil {
		t.Fatal(err)
	}
	l.pointServiceAt(r, port)
	if err := l.cluster.WaitForWebhook(l.ctx); err != nil {
		t.Fatalf("the API server does not call the webhook through the chart's configuration: %v\n%s", err, w.Logs())
	}
	return g
}

// configMapFile writes the file the pod would see at path, from the ConfigMap volume mounted
// at its folder, as the kubelet would, and returns where it wrote it.
func (l *live) configMapFile(r *liveRelease, path string) string {
	t := l.t
	t.Helper()
	dir, name := filepath.Split(path)
	for _, m := range r.container(t).VolumeMounts {
		if filepath.Clean(m.MountPath) != filepath.Clean(dir) {
			continue
		}
		for _, v := range r.deployment.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			var cm corev1.ConfigMap
			if err := l.c.Get(l.ctx, client.ObjectKey{Namespace: namespace, Name: v.ConfigMap.Name}, &cm); err != nil {
				t.Fatalf("the ConfigMap mounted at %s: %v", dir, err)
			}
			data, ok := cm.Data[name]
			if !ok {
				t.Fatalf("ConfigMap %s has no key %s", cm.Name, name)
			}
			out := filepath.Join(t.TempDir(), name)
			if err := os.WriteFile(out, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatalf("no ConfigMap is mounted at %s", dir)
	return ""
}

func (g *runningGuard) stop() {
	g.stopOnce.Do(func() {
		if err := g.Stop(); err != nil {
			g.l.t.Error(err)
		}
	})
}

// syncSecretVolume writes the serving Secret's data into certDir as the kubelet writes a
// secret volume: the files in a new timestamped folder, ..data a symlink swapped to it in one
// rename, each key a symlink through ..data.
func (g *runningGuard) syncSecretVolume() {
	t := g.l.t
	t.Helper()
	var secret corev1.Secret
	if err := g.l.c.Get(g.l.ctx, client.ObjectKey{Namespace: namespace, Name: g.secret}, &secret); err != nil {
		t.Fatalf("reading the serving Secret: %v", err)
	}
	old, _ := os.Readlink(filepath.Join(g.certDir, "..data"))
	stamp := "..volume-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := os.Mkdir(filepath.Join(g.certDir, stamp), 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range secret.Data {
		if err := os.WriteFile(filepath.Join(g.certDir, stamp, k), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(g.certDir, "..data_tmp")
	if err := os.Symlink(stamp, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(g.certDir, "..data")); err != nil {
		t.Fatal(err)
	}
	for k := range secret.Data {
		link := filepath.Join(g.certDir, k)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", k), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(g.certDir, old))
	}
}

// serviceAccountKubeconfig is what the pod's service account mount gives serve: a token of
// the chart's ServiceAccount, so the chart's RBAC is what serve runs with.
func (l *live) serviceAccountKubeconfig(sa string) string {
	t := l.t
	t.Helper()
	var account corev1.ServiceAccount
	if err := l.c.Get(l.ctx, client.ObjectKey{Namespace: namespace, Name: sa}, &account); err != nil {
		t.Fatalf("the chart's ServiceAccount: %v", err)
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr[int64](3600)}}
	if err := l.c.SubResource("token").Create(l.ctx, &account, req); err != nil {
		t.Fatalf("token for ServiceAccount %s: %v", sa, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: l.cluster.Config.Host, CertificateAuthorityData: l.cluster.Config.CAData}
	cfg.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: req.Status.Token}
	cfg.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: sa}
	cfg.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "serviceaccount.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// pointServiceAt does the endpoints controller's part: an EndpointSlice for the chart's
// Service with the namespace's address and the container port the Service's target port
// names, which must be serve's --port.
func (l *live) pointServiceAt(r *liveRelease, servePort int) {
	t := l.t
	t.Helper()
	ref := r.webhookConfig.Webhooks[0].ClientConfig.Service
	if ref == nil || ref.Name != r.service.Name || ref.Namespace != r.service.Namespace || ref.Port == nil {
		t.Fatalf("the configuration does not call the chart's Service: %+v", r.webhookConfig.Webhooks[0].ClientConfig)
	}
	var svcPort *corev1.ServicePort
	for i, p := range r.service.Spec.Ports {
		if p.Port == *ref.Port {
			svcPort = &r.service.Spec.Ports[i]
		}
	}
	if svcPort == nil {
		t.Fatalf("the Service has no port %d", *ref.Port)
	}
	var target int32
	for _, p := range r.container(t).Ports {
		if p.Name == svcPort.TargetPort.String() || p.ContainerPort == svcPort.TargetPort.IntVal {
			target = p.ContainerPort
		}
	}
	if int(target) != servePort {
		t.Fatalf("the Service's target port %s is container port %d, serve listens on %d", svcPort.TargetPort.String(), target, servePort)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: r.service.Name + "-netns", Namespace: r.service.Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: r.service.Name, discoveryv1.LabelManagedBy: "consul-peering-guard-test"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{l.netns.PeerIP.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr(svcPort.Name), Port: ptr(target), Protocol: ptr(corev1.ProtocolTCP)}},
	}
	if err := client.IgnoreAlreadyExists(l.c.Create(l.ctx, slice)); err != nil {
		t.Fatalf("EndpointSlice: %v", err)
	}
}

// waitForServedBy syncs the serving Secret into the pod's folder, as the kubelet does after
// the Secret changed, and waits until serve presents a certificate of ca for name.
func (l *live) waitForServedBy(g *runningGuard, ca *framework.CA, name string) {
	t := l.t
	t.Helper()
	g.syncSecretVolume()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	cfg := &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}
	addr := net.JoinHostPort(l.netns.PeerIP.String(), strconv.Itoa(g.Port))
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err == nil {
			_ = conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve does not present the new certificate after a minute: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkMistakesRefused applies each mistake folder with kubectl: the API server calls the
// webhook through the chart's entry for the kind and refuses with the folder's rules and fields.
func (l *live) checkMistakesRefused(g *runningGuard, r *liveRelease) {
	t := l.t
	t.Helper()
	// The chart's configuration is the only one, so the rule's refusal came through it.
	var vwcs admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := l.c.List(l.ctx, &vwcs); err != nil {
		t.Fatal(err)
	}
	if len(vwcs.Items) != 1 || vwcs.Items[0].Name != r.webhookConfig.Name {
		t.Fatalf("want only the chart's ValidatingWebhookConfiguration, got %d", len(vwcs.Items))
	}
	entries := map[string]bool{}
	for _, w := range r.webhookConfig.Webhooks {
		entries[w.Name] = true
	}
	for _, m := range liveMistakes {
		dir := filepath.Join(l.cluster.Root, "examples", "mistakes", m)
		settings, err := manifest.ReadClusterSettings(filepath.Join(dir, manifest.ClusterFileName), validators.Config{})
		if err != nil {
			t.Fatal(err)
		}
		example, err := framework.ReadExample(dir)
		if err != nil {
			t.Fatal(err)
		}
		if flags := framework.ServeFlags(settings); len(flags) != 0 {
			t.Fatalf("%s needs %v, not the chart's default installation", m, flags)
		}
		var refusals []string
		err = l.cluster.ApplyFolder(l.ctx, g.Webhook, dir, gatewaySelector(t, r), func(s framework.Step) {
			if !s.Consul {
				return
			}
			if s.Apply.Code == 0 {
				t.Errorf("%s: %s was allowed", m, filepath.Base(s.File))
				return
			}
			if entry := framework.WebhookEntryName(kinds.Kind(s.Kind)); !entries[entry] {
				t.Errorf("%s: the chart's configuration has no entry %s", m, entry)
			}
			refusals = append(refusals, s.Apply.Stderr)
		})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		all := strings.Join(refusals, "\n")
		for _, e := range example.Expect {
			if !strings.Contains(all, e.Field+": ") || !strings.Contains(all, "("+e.Rule+")") {
				t.Errorf("%s: not refused with %s at %s: %s", m, e.Rule, e.Field, all)
			}
		}
	}
}

// checkEveryKindReviewed creates (dry run) an object of every Consul kind: each entry of the
// chart's configuration, with its own path, must bring the review to serve, which counts it.
// A wrong path would be refused (failurePolicy Fail); a wrong resource would not be sent.
func (l *live) checkEveryKindReviewed(g *runningGuard) {
	t := l.t
	t.Helper()
	for _, kind := range kinds.Consul {
		obj := &unstructured.Unstructured{}
		obj.SetAPIVersion("consul.hashicorp.com/v1alpha1")
		obj.SetKind(string(kind))
		obj.SetNamespace("default")
		obj.SetName("entry-probe")
		obj.Object["spec"] = map[string]any{}
		if kind == kinds.PeeringAcceptor || kind == kinds.PeeringDialer {
			// The CRD schema requires the peering token's Secret.
			obj.Object["spec"] = map[string]any{"peer": map[string]any{"secret": map[string]any{"name": "token", "key": "data", "backend": "kubernetes"}}}
		}
		before := reviewsOf(t, g, kind)
		err := l.c.Create(l.ctx, obj, client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "failed calling webhook") {
			t.Errorf("%s: the API server could not call the webhook: %v", kind, err)
		}
		if after := reviewsOf(t, g, kind); after != before+1 {
			t.Errorf("%s: serve counted %v reviews of the create, want 1 (the API server answered %v)", kind, after-before, err)
		}
	}
}

// reviewsOf sums serve's counter of CREATE reviews of kind over the verdicts.
func reviewsOf(t *testing.T, g *runningGuard, kind kinds.Kind) float64 {
	t.Helper()
	if _, err := g.Metrics(); err != nil {
		t.Fatal(err)
	}
	return g.Reviews(string(kind), "CREATE")
}

// applyValid applies examples/valid, every object allowed without a warning.
func (l *live) applyValid(g *runningGuard, r *liveRelease) {
	t := l.t
	t.Helper()
	dir := filepath.Join(l.cluster.Root, "examples", "valid")
	err := l.cluster.ApplyFolder(l.ctx, g.Webhook, dir, gatewaySelector(t, r), func(s framework.Step) {
		if s.Consul && (s.Apply.Code != 0 || strings.Contains(s.Apply.Stderr, "Warning:")) {
			t.Errorf("%s: refused or warned about: %s", filepath.Base(s.File), s.Apply.Stderr)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// The next installation starts from a cluster without them. Namespaces stay: envtest runs
	// no namespace controller to finish deleting them.
	t.Cleanup(func() {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, f := range files {
			if filepath.Base(f) == "00-namespace.yaml" {
				continue
			}
			if res := l.cluster.Kubectl("delete", "--ignore-not-found", "-f", f); res.Code != 0 {
				t.Errorf("deleting %s: %s", f, res.Stderr)
			}
		}
	})
}

func gatewaySelector(t *testing.T, r *liveRelease) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(flagValue(t, r.args(t), "--mesh-gateway-selector"))
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// reviewCounts are the outcomes of the reviews sent during a renewal.
type reviewCounts struct {
	answered, tls, other int64
	lastOther            string
}

func (c reviewCounts) String() string {
	s := fmt.Sprintf("%d answered by the webhook, %d refused for TLS reasons, %d failed otherwise", c.answered, c.tls, c.other)
	if c.lastOther != "" {
		s += " (last: " + c.lastOther + ")"
	}
	return s
}

type reviewLoad struct {
	answered, tls, other atomic.Int64
	lastOther            atomic.Value
	cancel               context.CancelFunc
	done                 chan struct{}
}

// startReviewLoad sends server-side dry-run creates without pause: a ProxyDefaults the
// webhook alone refuses (proxy-defaults-name), and a ServiceDefaults it allows. Either
// answer means the API server reached the webhook over TLS.
func startReviewLoad(ctx context.Context, c client.Client) *reviewLoad {
	ctx, cancel := context.WithCancel(ctx)
	l := &reviewLoad{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for i := 0; ctx.Err() == nil; i++ {
			var obj client.Object
			if i%2 == 0 {
				obj = &v1alpha1.ProxyDefaults{ObjectMeta: metav1.ObjectMeta{Name: "renewal-probe", Namespace: "default"}}
			} else {
				obj = &v1alpha1.ServiceDefaults{ObjectMeta: metav1.ObjectMeta{Name: "renewal-probe", Namespace: "default"}}
			}
			err := c.Create(ctx, obj, client.DryRunAll)
			// A steady stream, not a flood that starves the two CPUs everything shares.
			time.Sleep(10 * time.Millisecond)
			switch {
			case ctx.Err() != nil:
			case err == nil && i%2 == 1, err != nil && i%2 == 0 && strings.Contains(err.Error(), "(proxy-defaults-name)"):
				l.answered.Add(1)
			case err != nil && (strings.Contains(err.Error(), "x509") || strings.Contains(err.Error(), "tls:")):
				l.tls.Add(1)
				l.lastOther.Store(err.Error())
			default:
				l.other.Add(1)
				l.lastOther.Store(fmt.Sprintf("%T %v", obj, err))
			}
		}
	}()
	return l
}

// stop waits until at least min reviews were answered in all (or ten seconds passed), stops,
// and returns the counts.
func (l *reviewLoad) stop(min int64) reviewCounts {
	deadline := time.Now().Add(10 * time.Second)
	for l.answered.Load() < min && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	l.cancel()
	<-l.done
	c := reviewCounts{answered: l.answered.Load(), tls: l.tls.Load(), other: l.other.Load()}
	if s, ok := l.lastOther.Load().(string); ok {
		c.lastOther = s
	}
	return c
}

// startGarbageCollector runs kube-controller-manager's garbage collector, which deletes the
// configuration serve applied once its owner, the chart's ClusterRole, is gone.
func startGarbageCollector(t *testing.T, cluster *framework.Cluster) {
	t.Helper()
	gc, err := cluster.StartControllers("garbage-collector-controller")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := gc.Stop(); err != nil {
			t.Error(err)
		}
	})
}

// startCAInjector runs cert-manager's cainjector as its own binary does: a controller-runtime
// manager with every injectable kind registered, Secrets read uncached.
func startCAInjector(ctx context.Context, t *testing.T, cfg *rest.Config) {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, cmv1.AddToScheme, apiextensionsv1.AddToScheme, apiregistrationv1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	logs := &lockedBuffer{}
	log := funcr.New(func(prefix, args string) { logs.WriteString(prefix + " " + args + "\n") }, funcr.Options{LogTimestamp: true})
	ctrl.SetLogger(log)
	// The user agent names the field manager of the cainjector's apply patches.
	mgr, err := ctrl.NewManager(cmutil.RestConfigWithUserAgent(cfg, "cainjector"), ctrl.Options{
		Scheme:                 s,
		Logger:                 log,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ReaderFailOnMissingInformer: true},
		Client:                 client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   true,
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.APIServiceName:                     true,
			cainjector.CustomResourceDefinitionName:       true,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mgrCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("cainjector: %v", err)
		}
		if t.Failed() {
			t.Logf("cainjector logs:\n%s", logs.String())
		}
	})
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
