package node

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// TestPlaygroundRunsTheREADMEInstall is make playground: the real node, cert-manager built
// from its module, and the chart installed by the README's install command exactly as the
// README shows it. The chart's pods run from make image, cert-manager issues their serving
// certificate and injects its CA into the configuration the pods register, and what the
// playground prints to try by hand works. make playground-stop leaves nothing behind.
func TestPlaygroundRunsTheREADMEInstall(t *testing.T) {
	root := skipWithoutNode(t)
	if framework.ImageTarball(root) == "" {
		t.Skip("no image: make image writes bin/image/consul-peering-guard-linux-ARCH.tar")
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "cert-manager")); err != nil {
		t.Skip("no bin/cert-manager: make node-tools builds it")
	}
	for target, want := range map[string]string{"playground": "hack/playground.sh start", "playground-stop": "hack/playground.sh stop"} {
		if r := shell(t, root, nil, "make", "-n", target); r.Code != 0 || !strings.Contains(r.Stdout, want) {
			t.Fatalf("make %s does not run %s: %s%s", target, want, r.Stdout, r.Stderr)
		}
	}
	existed := framework.ExistingPaths(framework.NodeOutsidePaths)
	parent, err := framework.NewNodeDir(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	dir := filepath.Join(parent, "playground")
	env := []string{"PLAYGROUND_DIR=" + dir}
	begin := time.Now()
	start := shell(t, root, env, "hack/playground.sh", "start")
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			shell(t, root, env, "hack/playground.sh", "stop")
		}
	})
	if start.Code != 0 {
		t.Fatalf("make playground: exit %d\n%s%s", start.Code, start.Stdout, start.Stderr)
	}
	t.Logf("make playground: %s", time.Since(begin).Round(time.Second))
	node := &framework.Node{Root: root, Dir: filepath.Join(dir, "cluster"), Kubeconfig: filepath.Join(dir, "cluster", "kubeconfig")}
	for _, want := range []string{"export KUBECONFIG=" + node.Kubeconfig, "export PATH=" + filepath.Join(dir, "bin") + ":$PATH", "make playground-stop"} {
		if !strings.Contains(start.Stdout, want) {
			t.Errorf("make playground does not print %q:\n%s", want, start.Stdout)
		}
	}

	command := readmeInstallCommand(t, root)
	if ran, err := os.ReadFile(filepath.Join(dir, "install-command.sh")); err != nil || strings.TrimSpace(string(ran)) != strings.TrimSpace(command) {
		t.Errorf("the playground ran\n%s\nnot the README's install command\n%s", ran, command)
	}
	release, namespace := installTarget(t, command)
	repository := regexp.MustCompile(`--set image\.repository=(\S+)`).FindStringSubmatch(command)
	if repository == nil {
		t.Fatalf("the install command sets no image.repository:\n%s", command)
	}
	if r := node.Kubectl("--namespace", namespace, "get", "deployment", release, "-o",
		"jsonpath={.spec.template.spec.containers[0].image} {.status.readyReplicas}/{.spec.replicas}"); r.Code != 0 ||
		!strings.HasPrefix(r.Stdout, repository[1]+":") || !strings.HasSuffix(r.Stdout, " 2/2") {
		t.Errorf("the chart's Deployment (image, ready/replicas): %q %s", r.Stdout, r.Stderr)
	}
	// cert-manager issued the serving certificate and its CA injector filled the caBundle of
	// the configuration the pods registered.
	if r := node.Kubectl("--namespace", namespace, "get", "certificates", "-o",
		`jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}`); r.Code != 0 ||
		strings.Contains(r.Stdout, "=False") || strings.Count(r.Stdout, "=True") != 2 {
		t.Errorf("cert-manager's Certificates (name=Ready): %q %s", r.Stdout, r.Stderr)
	}
	if r := node.Kubectl("get", "validatingwebhookconfiguration", release, "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}"); r.Code != 0 || len(r.Stdout) < 100 {
		t.Errorf("the registered configuration has no CA bundle: %q %s", r.Stdout, r.Stderr)
	}

	// What the playground prints to try, typed into a shell with its two exports.
	try := func(line string) framework.Result {
		return shell(t, root, []string{"KUBECONFIG=" + node.Kubeconfig, "PATH=" + filepath.Join(dir, "bin") + ":" + os.Getenv("PATH")}, "bash", "-c", line)
	}
	if r := try("kubectl get pods --namespace " + namespace); r.Code != 0 || strings.Count(r.Stdout, "1/1     Running") != 2 {
		t.Errorf("kubectl get pods: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := try("kubectl apply -f examples/mistakes/mesh-wrong-name/"); r.Code == 0 || !strings.Contains(r.Stderr, "(mesh-name)") || !strings.Contains(r.Stderr, "(singleton)") {
		t.Errorf("the mistake was not refused for mesh-name and singleton: exit %d\n%s", r.Code, r.Stderr)
	}
	if r := try("consul-peering-guard audit"); r.Code != 0 || !strings.Contains(r.Stdout, "6 objects: 0 denied") {
		t.Errorf("audit: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := shell(t, root, env, "hack/playground.sh", "start"); r.Code != 0 || !strings.Contains(r.Stdout, "already running") {
		t.Errorf("a second make playground: exit %d\n%s", r.Code, r.Stdout)
	}

	podNetNS := node.PodNetNS()
	stop := shell(t, root, env, "hack/playground.sh", "stop")
	stopped = true
	if stop.Code != 0 || !strings.Contains(stop.Stdout, "The playground is stopped.") {
		t.Fatalf("make playground-stop: exit %d\n%s%s", stop.Code, stop.Stdout, stop.Stderr)
	}
	if left := framework.NodeLeftovers(node, existed, podNetNS); len(left) > 0 {
		t.Errorf("make playground-stop left %d things behind:\n%s", len(left), strings.Join(left, "\n"))
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is left behind", dir)
	}
}

// readmeInstallCommand is the sh block after <!-- install-command --> in README.md.
func readmeInstallCommand(t *testing.T, root string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- install-command -->\\s*```sh\\n(.*?)```").FindSubmatch(raw)
	if m == nil {
		t.Fatal("README.md has no ```sh block right after <!-- install-command -->")
	}
	return string(m[1])
}

// installTarget is the release name and namespace of a helm install command.
func installTarget(t *testing.T, command string) (release, namespace string) {
	t.Helper()
	r := regexp.MustCompile(`helm install (\S+) `).FindStringSubmatch(command)
	n := regexp.MustCompile(`--namespace (\S+)`).FindStringSubmatch(command)
	if r == nil || n == nil {
		t.Fatalf("the install command names no release or namespace:\n%s", command)
	}
	return r[1], n[1]
}

// shell runs a program in dir with env added, bounded to fifteen minutes.
func shell(t *testing.T, dir string, env []string, args ...string) framework.Result {
	t.Helper()
	return framework.Run(framework.Command{Dir: dir, Env: env, Timeout: 15 * time.Minute}, args[0], args[1:]...)
}
