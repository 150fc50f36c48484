package node

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// The release as the README installs it without cert-manager.
const (
	release   = "consul-peering-guard"
	namespace = "consul-peering-guard"
	tlsSecret = "my-webhook-tls"
	nonroot   = 65532
	pauseRef  = "localhost/consul-peering-guard/pause:1"
)

// chart is the release installed on the shared node, with what installing it needed.
type chart struct {
	n        *framework.Node
	root     string
	imageRef string
	caBundle string
	clients  *kubernetes.Clientset
	// settings are the --set flags of the consul.* and rules values last installed.
	settings []string
}

var installed *chart

// installChart installs the chart once on the shared node as the README's install without
// cert-manager does (a CA, a serving certificate for the Service, a TLS Secret, tls.caBundle),
// with the image of make image imported and never pulled.
func installChart(t *testing.T) *chart {
	t.Helper()
	n := sharedNode(t)
	if installed != nil {
		return installed
	}
	c := newChart(t, n)
	start := time.Now()
	c.helm(t, "install")
	t.Logf("helm install --wait: %s", time.Since(start).Round(time.Second))
	installed = c
	return c
}

// newChart readies node n for the release as the README's install without cert-manager
// does: the Consul CRDs, a CA, a serving certificate for the Service in a TLS Secret, and
// the namespaces.
func newChart(t *testing.T, n *framework.Node) *chart {
	t.Helper()
	root := repoRoot(t)
	c := &chart{n: n, root: root, imageRef: imageReference(t, framework.ImageTarball(root))}
	var err error
	if c.clients, err = kubernetes.NewForConfig(n.Config); err != nil {
		t.Fatal(err)
	}
	if r := n.Kubectl("apply", "--server-side", "-f", filepath.Join(root, "test", "crds")); r.Code != 0 {
		t.Fatalf("installing the Consul CRDs: %s", r.Stderr)
	}
	if r := n.Kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"); r.Code != 0 {
		t.Fatalf("the Consul CRDs: %s", r.Stderr)
	}
	ca, err := framework.NewCA("consul-peering-guard-ca")
	if err != nil {
		t.Fatal(err)
	}
	svc := release + "." + namespace + ".svc"
	crt, key, err := ca.Issue([]string{svc, svc + ".cluster.local"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"tls.crt": crt, "tls.key": key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.caBundle = base64.StdEncoding.EncodeToString(ca.CertPEM)
	// consul: where the Consul chart would run the mesh gateway of a cluster file that says so.
	for _, ns := range []string{namespace, "consul"} {
		if r := n.Kubectl("create", "namespace", ns); r.Code != 0 {
			t.Fatal(r.Stderr)
		}
	}
	if r := n.Kubectl("--namespace", namespace, "create", "secret", "tls", tlsSecret,
		"--cert="+filepath.Join(dir, "tls.crt"), "--key="+filepath.Join(dir, "tls.key")); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	return c
}

// helmArgs are the arguments of helm install or upgrade with the README's values, the image
// and the settings, then extra (a later --set wins).
func (c *chart) helmArgs(verb string, extra ...string) []string {
	repo, tag, _ := strings.Cut(c.imageRef, ":")
	args := []string{verb, release, filepath.Join(c.root, "charts", "consul-peering-guard"), "--namespace", namespace,
		"--set", "certManager.enabled=false", "--set", "tls.existingSecret=" + tlsSecret, "--set", "tls.caBundle=" + c.caBundle,
		"--set", "image.repository=" + repo, "--set", "image.tag=" + tag, "--set", "image.pullPolicy=Never"}
	return append(append(args, c.settings...), extra...)
}

// helm runs helm install or upgrade (helmArgs), waits for the pods and for the configuration
// they register.
func (c *chart) helm(t *testing.T, verb string, extra ...string) {
	t.Helper()
	if r := c.n.Helm(append(c.helmArgs(verb, extra...), "--wait", "--timeout", "5m")...); r.Code != 0 {
		t.Fatalf("helm %s: %s%s\n%s", verb, r.Stdout, r.Stderr, c.describe())
	}
	c.waitForRegistration(t)
}

// waitForRegistration waits until a webhook pod has applied the chart's configuration: helm
// installs none, the pods apply it once their Service has a ready endpoint, which is a moment
// after helm --wait sees them ready.
func (c *chart) waitForRegistration(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		r := c.n.Kubectl("get", "validatingwebhookconfiguration", "-l", "app.kubernetes.io/instance="+release, "-o", "name")
		if r.Code == 0 && strings.TrimSpace(r.Stdout) != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no webhook pod registered the configuration a minute after helm: %s%s\n%s", r.Stdout, r.Stderr, c.describe())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// describe is the state of the release's pods and the node's logs, for a failure.
func (c *chart) describe() string {
	r := c.n.Kubectl("--namespace", namespace, "describe", "pods")
	logs := c.n.Kubectl("--namespace", namespace, "logs", "--selector", "app.kubernetes.io/instance="+release,
		"--all-containers", "--prefix", "--tail", "40")
	return r.Stdout + r.Stderr + "\n" + logs.Stdout + logs.Stderr + "\n" + c.n.Logs()
}

// imageReference reads the repository:tag a docker-archive tarball of make image holds.
func imageReference(t *testing.T, tarball string) string {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: no manifest.json: %v", tarball, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct{ RepoTags []string }
		raw, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &m); err != nil || len(m) != 1 || len(m[0].RepoTags) != 1 {
			t.Fatalf("%s: manifest.json names no single image: %s", tarball, raw)
		}
		return m[0].RepoTags[0]
	}
}

// pods returns the release's webhook pods that are not being deleted.
func (c *chart) pods(t *testing.T) []corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var list corev1.PodList
	if err := c.n.Client.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels{"app.kubernetes.io/instance": release}); err != nil {
		t.Fatal(err)
	}
	var live []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	return live
}

// metrics scrapes a pod's metrics endpoint through the API server's pod proxy: the pod is
// reachable only inside the node.
func (c *chart) metrics(ctx context.Context, pod string) (string, error) {
	raw, err := c.clients.CoreV1().RESTClient().Get().AbsPath("/api/v1/namespaces", namespace, "pods", pod+":8080", "proxy", "metrics").DoRaw(ctx)
	return string(raw), err
}

// metricSum sums the samples whose line starts with prefix, -1 when there is none.
func metricSum(text, prefix string) float64 {
	sum, found := 0.0, false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	if !found {
		return -1
	}
	return sum
}

// waitEveryPod waits until cond holds for the metrics of every webhook pod.
func (c *chart) waitEveryPod(t *testing.T, what string, cond func(metrics string) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		ok := true
		for _, p := range c.pods(t) {
			text, err := c.metrics(ctx, p.Name)
			if err != nil || !cond(text) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the webhook pods never saw %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// reviews sums the reviews every webhook pod counted.
func (c *chart) reviews(t *testing.T) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum := 0.0
	for _, p := range c.pods(t) {
		text, err := c.metrics(ctx, p.Name)
		if err != nil {
			t.Fatalf("metrics of %s: %v", p.Name, err)
		}
		if v := metricSum(text, "consul_peering_guard_admission_reviews_total{"); v > 0 {
			sum += v
		}
	}
	return sum
}

// useSettings upgrades the release to the consul.* and rules values of a folder's cluster
// file when they differ from the installed ones.
func (c *chart) useSettings(t *testing.T, s manifest.ClusterSettings) {
	t.Helper()
	want := chartValues(s)
	if slices.Equal(want, c.settings) {
		return
	}
	c.settings = want
	c.helm(t, "upgrade")
}

// chartValues turns a folder's cluster file into the chart values of the same installation
// (the values the chart turns into framework.ServeFlags' flags).
func chartValues(s manifest.ClusterSettings) []string {
	var v []string
	set := func(k, val string) { v = append(v, "--set", k+"="+val) }
	if s.PartitionsEnabled {
		set("consul.adminPartitions.enabled", "true")
		if s.Partition != "" {
			set("consul.adminPartitions.name", s.Partition)
		}
	}
	if s.NamespacesEnabled {
		set("consul.enableConsulNamespaces", "true")
	}
	if s.ConsulVersion != nil {
		set("consul.version", s.ConsulVersion.String())
	}
	if s.Edition != "" {
		set("consul.edition", string(s.Edition))
	}
	if s.ConnectInjectDefault {
		set("consul.connectInjectDefault", "true")
	}
	if s.AnnotationGrammar != validators.AnnotationGrammar2 {
		k8sVersion, _ := s.AnnotationGrammar.MarshalText()
		set("consul.k8sVersion", string(k8sVersion))
	}
	names := make([]string, 0, len(s.Actions))
	for n := range s.Actions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		set("rules."+n, string(s.Actions[n]))
	}
	return v
}

// TestChartPodsRefuseEveryMistake installs the chart with the README's commands and the image
// make image built, imported into containerd and never pulled: the kubelet starts its pods
// with the chart's securityContext, probes, volumes and memory limit, as user 65532 on a
// read-only root filesystem. Then every folder of examples/mistakes is applied with kubectl
// (the release upgraded to the folder's cluster file): kube-apiserver calls the pods through
// the chart's Service and refuses each with the rules its example file declares, and the
// pods' own metrics count the reviews.
func TestChartPodsRefuseEveryMistake(t *testing.T) {
	c := installChart(t)
	pods := c.pods(t)
	if len(pods) != 2 {
		t.Fatalf("%d webhook pods, want the chart's 2", len(pods))
	}
	for _, p := range pods {
		checkPodReady(t, p)
		checkProcess(t, p)
	}

	dirs, err := filepath.Glob(filepath.Join(c.root, "examples", "mistakes", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatal("no folders in examples/mistakes")
	}
	// A folder whose cluster file differs upgrades the release, which replaces the pods and
	// their counters: the reviews are counted folder by folder, on the same pods.
	applies, counted := 0, 0.0
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			settings, err := manifest.ReadClusterSettings(filepath.Join(dir, manifest.ClusterFileName), validators.Config{})
			if err != nil {
				t.Fatal(err)
			}
			example, err := framework.ReadExample(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(example.Expect) == 0 {
				t.Fatalf("%s declares no denial", dir)
			}
			c.useSettings(t, settings)
			before := c.reviews(t)
			refusals, consulApplies := c.applyFolder(t, dir, settings)
			reviewed := c.reviews(t) - before
			applies += consulApplies
			counted += reviewed
			if reviewed < float64(consulApplies) {
				t.Errorf("the pods' metrics counted %.0f reviews for the %d Consul applies the API server sent them", reviewed, consulApplies)
			}
			all := strings.Join(refusals, "\n")
			for _, e := range example.Expect {
				if !strings.Contains(all, e.Field+": ") || !strings.Contains(all, "("+e.Rule+")") {
					t.Errorf("kubectl was not refused with %s at %s through the chart's Service; refusals:\n%s", e.Rule, e.Field, all)
				}
			}
		})
	}
	t.Logf("%d folders, %d Consul applies, %.0f reviews counted by the pods' metrics", len(dirs), applies, counted)
}

func checkPodReady(t *testing.T, p corev1.Pod) {
	t.Helper()
	ready := false
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		t.Errorf("pod %s is not Ready: %+v", p.Name, p.Status.Conditions)
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.RestartCount != 0 {
			t.Errorf("pod %s container %s restarted %d times", p.Name, s.Name, s.RestartCount)
		}
	}
}

// checkProcess finds the pod's webhook process on the machine (the node shares its process
// table) and checks what the kernel says of it: user 65532 and a read-only root filesystem.
func checkProcess(t *testing.T, p corev1.Pod) {
	t.Helper()
	pid := webhookPID(t, p)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Uid:") {
			for _, id := range strings.Fields(line)[1:] {
				if id != strconv.Itoa(nonroot) {
					t.Errorf("pod %s runs as %q, want uid %d", p.Name, line, nonroot)
				}
			}
		}
	}
	mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == "/" {
			if !slices.Contains(strings.Split(f[5], ","), "ro") {
				t.Errorf("pod %s's root filesystem is mounted %s, want ro", p.Name, f[5])
			}
			return
		}
	}
	t.Errorf("pod %s: no root mount in /proc/%d/mountinfo", p.Name, pid)
}

// webhookPID is the process of the pod's webhook container: the one whose cgroup names the
// container's id.
func webhookPID(t *testing.T, p corev1.Pod) int {
	t.Helper()
	var id string
	for _, s := range p.Status.ContainerStatuses {
		id = strings.TrimPrefix(s.ContainerID, "containerd://")
	}
	if id == "" {
		t.Fatalf("pod %s has no container id", p.Name)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, f := range procs {
		raw, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(raw, []byte(id)) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(f), "cmdline"))
		if strings.HasSuffix(strings.SplitN(string(cmdline), "\x00", 2)[0], "consul-peering-guard") {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			return pid
		}
	}
	t.Fatalf("no process of container %s (pod %s)", id, p.Name)
	return 0
}

// applyFolder applies a folder file by file as the e2e suite does, and returns kubectl's
// refusals and the number of Consul applies (each one review). A mesh gateway Deployment
// runs the pause image so that the real kubelet makes it ready; after each accepted object
// the test waits until every webhook pod's state index has it, then everything is deleted.
func (c *chart) applyFolder(t *testing.T, dir string, settings manifest.ClusterSettings) (refusals []string, applies int) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	sort.Strings(files)
	var applied [][]byte
	t.Cleanup(func() {
		for i := len(applied) - 1; i >= 0; i-- {
			if bytes.Contains(applied[i], []byte("kind: Namespace")) {
				continue // kept: the next folder may use it, and its deletion takes long
			}
			c.kubectlStdin(t, applied[i], "delete", "--ignore-not-found", "--timeout=90s", "-f", "-")
		}
		c.waitEveryPod(t, "the folder's objects deleted", func(m string) bool {
			return metricSum(m, "consul_peering_guard_state_objects{") <= 0 && metricSum(m, "consul_peering_guard_mesh_gateways_ready") <= 0
		})
	})
	gateways := 0
	if settings.MeshGatewayInstalled != nil && *settings.MeshGatewayInstalled {
		files = append([]string{""}, files...)
	}
	counts := map[kinds.Kind]int{}
	for _, f := range files {
		raw := []byte(framework.ChartGateway)
		if f != "" {
			var err error
			if raw, err = os.ReadFile(f); err != nil {
				t.Fatal(err)
			}
		}
		var h struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(raw, &h); err != nil {
			t.Fatal(err)
		}
		if h.Kind == "Deployment" && h.Metadata.Labels["component"] == "mesh-gateway" {
			raw = runnableGateway(t, raw)
			if r := c.kubectlStdin(t, raw, "apply", "-f", "-"); r.Code != 0 {
				t.Fatalf("%s: %s", f, r.Stderr)
			}
			applied = append(applied, raw)
			gateways++
			want := float64(gateways)
			c.waitEveryPod(t, "the mesh gateway ready", func(m string) bool {
				return metricSum(m, "consul_peering_guard_mesh_gateways_ready") == want
			})
			continue
		}
		kind := kinds.Kind(h.Kind)
		_, ours := kinds.New(kind)
		consul := ours && (strings.HasPrefix(h.APIVersion, "consul.hashicorp.com/") ||
			slices.Contains(kinds.Workloads, kind) && bytes.Contains(raw, []byte(validators.UpstreamsAnnotation)))
		r := c.kubectlStdin(t, raw, "apply", "-f", "-")
		if consul {
			applies++
		}
		if r.Code != 0 {
			if !consul {
				t.Fatalf("%s: %s", f, r.Stderr)
			}
			refusals = append(refusals, r.Stderr)
			continue
		}
		applied = append(applied, raw)
		if slices.Contains(kinds.Watched, kind) {
			counts[kind]++
			want := float64(counts[kind])
			c.waitEveryPod(t, fmt.Sprintf("%d %s", counts[kind], kind), func(m string) bool {
				return metricSum(m, fmt.Sprintf(`consul_peering_guard_state_objects{kind="%s"}`, kind)) == want
			})
		}
	}
	return refusals, applies
}

// kubectlStdin runs bin/kubectl on the node with stdin, bounded to two minutes.
func (c *chart) kubectlStdin(t *testing.T, stdin []byte, args ...string) framework.Result {
	t.Helper()
	return framework.Run(framework.Command{Stdin: stdin, Timeout: 2 * time.Minute},
		filepath.Join(c.root, "bin", "kubectl"), append([]string{"--kubeconfig", c.n.Kubeconfig}, args...)...)
}

// runnableGateway makes a mesh gateway Deployment of an example run on the node: the pause
// image, never pulled, in place of Consul's dataplane, which cannot be pulled here.
func runnableGateway(t *testing.T, raw []byte) []byte {
	t.Helper()
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(stripComments(raw), &d); err != nil {
		t.Fatal(err)
	}
	for i := range d.Spec.Template.Spec.Containers {
		d.Spec.Template.Spec.Containers[i].Image = pauseRef
		d.Spec.Template.Spec.Containers[i].ImagePullPolicy = corev1.PullNever
	}
	d.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	out, err := yaml.Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func stripComments(raw []byte) []byte {
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") && strings.TrimSpace(l) != "---" {
			out = append(out, l)
		}
	}
	return []byte(strings.Join(out, "\n"))
}
