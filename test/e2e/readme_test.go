package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// This file walks the commands of README.md and docs/ that can run here (the demo and
// commands that need a real cloud excepted) and checks they do what the pages say.

// docFiles are README.md and the pages under docs/ (their inputs in docs/testdata excepted),
// relative to the repository's root.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(cluster.Root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			rel, err := filepath.Rel(cluster.Root, path)
			files = append(files, rel)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(cluster.Root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func readme(t *testing.T) string {
	t.Helper()
	return readDoc(t, "README.md")
}

// documentation returns README.md and every page of docFiles, one after the other.
func documentation(t *testing.T) string {
	t.Helper()
	var all strings.Builder
	for _, name := range docFiles(t) {
		all.WriteString(readDoc(t, name) + "\n")
	}
	return all.String()
}

// runBlock is a fenced block marked <!-- readme-run: NAME OPTION=VALUE... --> in a page.
type runBlock struct {
	file, name, body string
	options          map[string]string
}

var runMarker = regexp.MustCompile("(?s)<!-- readme-run: ([a-z0-9-]+)((?: [a-z]+=[^ ]+)*) -->\\s*```[a-z]*\\n(.*?)```")

// runBlocks returns every marked block of README.md and docs/.
func runBlocks(t *testing.T) []runBlock {
	t.Helper()
	var blocks []runBlock
	for _, name := range docFiles(t) {
		for _, m := range runMarker.FindAllStringSubmatch(readDoc(t, name), -1) {
			b := runBlock{file: name, name: m[1], body: m[3], options: map[string]string{}}
			for _, o := range strings.Fields(m[2]) {
				k, v, _ := strings.Cut(o, "=")
				b.options[k] = v
			}
			blocks = append(blocks, b)
		}
	}
	return blocks
}

// readmeBlock returns the fenced block that follows <!-- readme-run: NAME --> or
// <!-- NAME --> in README.md or a page of docs/.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	for _, b := range runBlocks(t) {
		if "readme-run: "+b.name == marker {
			return b.body
		}
	}
	re := regexp.MustCompile("(?s)<!-- " + regexp.QuoteMeta(marker) + " -->\\s*```[a-z]*\\n(.*?)```")
	for _, name := range docFiles(t) {
		if m := re.FindStringSubmatch(readDoc(t, name)); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no page has a fenced block after <!-- %s -->", marker)
	return ""
}

type shellResult struct {
	stdout, stderr string
	code           int
}

// sh runs a command line with bash in dir, with extra folders first on PATH.
func sh(t *testing.T, dir, line string, env []string, path ...string) shellResult {
	t.Helper()
	env = append([]string{"PATH=" + strings.Join(append(path, os.Getenv("PATH")), string(os.PathListSeparator))}, env...)
	r := framework.Run(framework.Command{Dir: dir, Env: env, Timeout: 15 * time.Minute}, "bash", "-c", line)
	if r.Code == -1 {
		t.Fatalf("%s: %s", line, r.Stderr)
	}
	return shellResult{r.Stdout, r.Stderr, r.Code}
}

var readmeBinary struct {
	dir string
}

// makeBuild runs the README's make build into a temporary bin folder and returns it.
func makeBuild(t *testing.T) string {
	t.Helper()
	if readmeBinary.dir != "" {
		return readmeBinary.dir
	}
	dir, err := os.MkdirTemp(cluster.Dir, "readme-bin-") // removed with the cluster
	if err != nil {
		t.Fatal(err)
	}
	if r := sh(t, cluster.Root, "make build BIN="+dir, nil); r.code != 0 {
		t.Fatalf("make build: %s%s", r.stdout, r.stderr)
	}
	readmeBinary.dir = dir
	return dir
}

// make build stamps the version (git describe), the commit and its commit date; version -o
// json has the keys the README lists.
func TestREADMEMakeBuildIsStamped(t *testing.T) {
	if !strings.Contains(documentation(t), "make build    # bin/consul-peering-guard, stamped with git describe, the commit and its commit date") {
		t.Fatal("the documentation no longer shows make build")
	}
	checkStamped(t, cluster.Root, makeBuild(t))
	// Nothing is published under a module version: no go install ...@latest.
	if strings.Contains(documentation(t), "@latest") {
		t.Errorf("the documentation offers go install ...@latest, but no version is published")
	}
}

// make build passes the same check on a clone whose last commit is days old: the stamp is
// the commit date, which no wall clock moves.
func TestMakeBuildOfAnOldCommitIsStamped(t *testing.T) {
	clone := filepath.Join(t.TempDir(), "clone")
	if r := sh(t, cluster.Root, "git clone --quiet --no-hardlinks . "+clone, nil); r.code != 0 {
		t.Fatalf("git clone: %s", r.stderr)
	}
	old := time.Now().Add(-10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	env := []string{"GIT_COMMITTER_DATE=" + old, "GIT_AUTHOR_DATE=" + old,
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.invalid", "GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.invalid"}
	if r := sh(t, clone, "git commit --quiet --allow-empty -m 'a commit made ten days ago'", env); r.code != 0 {
		t.Fatalf("git commit: %s", r.stderr)
	}
	bin := filepath.Join(t.TempDir(), "bin")
	if r := sh(t, clone, "make build BIN="+bin, nil); r.code != 0 {
		t.Fatalf("make build: %s%s", r.stdout, r.stderr)
	}
	if v := checkStamped(t, clone, bin); v["buildDate"] != old {
		t.Errorf("buildDate %q, the commit was made at %s", v["buildDate"], old)
	}
}

// checkStamped runs version -o json of the binary in bin and checks it against the checkout
// in root: git describe, HEAD, HEAD's commit date and the keys the README lists.
func checkStamped(t *testing.T, root, bin string) map[string]string {
	t.Helper()
	r := sh(t, root, "consul-peering-guard version -o json", nil, bin)
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); r.code != 0 || err != nil {
		t.Fatalf("version -o json: %v %+v", err, r)
	}
	// The one version of hack/version.sh (git describe of the v* tags), also the image tag.
	describe := strings.TrimSpace(sh(t, root, "hack/version.sh", nil).stdout)
	head := strings.TrimSpace(sh(t, root, "git rev-parse HEAD", nil).stdout)
	committed := strings.TrimSpace(sh(t, root, "git log -1 --format=%cI", nil).stdout)
	if v["version"] != strings.TrimSuffix(describe, "-dirty") && v["version"] != describe {
		t.Errorf("version %q, hack/version.sh says %q", v["version"], describe)
	}
	if v["revision"] != head {
		t.Errorf("revision %q, HEAD is %q", v["revision"], head)
	}
	stamped, err := time.Parse(time.RFC3339, v["buildDate"])
	want, werr := time.Parse(time.RFC3339, committed)
	if err != nil || werr != nil || !stamped.Equal(want) {
		t.Errorf("buildDate %q is not the commit date of HEAD, %s (%v, %v)", v["buildDate"], committed, err, werr)
	}
	for _, key := range []string{"version", "revision", "buildDate", "goVersion", "platform"} {
		if !strings.Contains(documentation(t), "`"+key+"`") {
			t.Errorf("the README does not list the version -o json key %s", key)
		}
		if v[key] == "" {
			t.Errorf("version -o json lacks %s: %v", key, v)
		}
	}
	if len(v) != 5 {
		t.Errorf("version -o json has keys the README does not list: %v", v)
	}
	return v
}

// Every marked block that shows a command and its output, in README.md and docs/, prints
// exactly what the page shows, with the exit code it shows (echo $?). A block runs in the
// repository's root, or in dir=PATH; with cluster=valid it runs against this suite's API
// server and webhook holding examples/valid, with kubectl on PATH.
// cmd/consul-peering-guard/app's TestDocsMarkEveryShownOutput makes sure no such block is
// left unmarked.
func TestDocsShowWhatCommandsPrint(t *testing.T) {
	dir := makeBuild(t)
	ran := 0
	for _, b := range runBlocks(t) {
		if !strings.Contains("\n"+b.body, "\n$ ") {
			continue // commands without output, run by their own tests (tls-secret)
		}
		ran++
		t.Run(b.file+":"+b.name, func(t *testing.T) {
			var env []string
			switch b.options["cluster"] {
			case "":
			case "valid":
				useGuard(t)
				reset(t)
				t.Cleanup(func() { reset(t) })
				ctx, cancel := framework.Context(2 * time.Minute)
				defer cancel()
				if err := cluster.ApplyFolder(ctx, guard, filepath.Join(cluster.Root, "examples", "valid"), gateways, func(framework.Step) {}); err != nil {
					t.Fatal(err)
				}
				env = []string{"KUBECONFIG=" + cluster.Kubeconfig}
			default:
				t.Fatalf("unknown cluster=%s", b.options["cluster"])
			}
			work := filepath.Join(cluster.Root, b.options["dir"])
			var (
				cmd, want string
				last      shellResult
			)
			flush := func() {
				if cmd == "" {
					return
				}
				if cmd == "echo $?" {
					if got := strconv.Itoa(last.code) + "\n"; got != want {
						t.Errorf("exit code %s, %s says %s", strings.TrimSpace(got), b.file, strings.TrimSpace(want))
					}
				} else {
					last = sh(t, work, cmd, env, dir, filepath.Join(cluster.Root, "bin"))
					if got := last.stdout + last.stderr; got != want {
						t.Errorf("$ %s\nprinted:\n%s\n%s shows:\n%s", cmd, got, b.file, want)
					}
				}
			}
			for _, line := range strings.SplitAfter(b.body, "\n") {
				if c, ok := strings.CutPrefix(line, "$ "); ok {
					flush()
					cmd, want = strings.TrimSpace(c), ""
					continue
				}
				want += line
			}
			flush()
		})
	}
	if ran == 0 {
		t.Fatal("no page shows a command with its output")
	}
}

// validate -f examples/ refuses something in every folder under examples/mistakes/, as the
// README says.
func TestREADMEEveryMistakeFolderIsRefused(t *testing.T) {
	if !strings.Contains(readme(t), "with at least one denial in every folder under `examples/mistakes/`") {
		t.Fatal("the README no longer says what validate -f examples/ refuses")
	}
	dir := makeBuild(t)
	r := sh(t, cluster.Root, "consul-peering-guard validate -f examples/ -o json", nil, dir)
	var rep struct {
		Results []struct {
			File       string
			Violations []struct{ Action string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 1 || err != nil {
		t.Fatalf("validate -f examples/: exit %d, %v", r.code, err)
	}
	refused := map[string]bool{}
	for _, res := range rep.Results {
		for _, v := range res.Violations {
			if v.Action == "deny" {
				refused[strings.Split(filepath.ToSlash(res.File), "/")[2]] = true
			}
		}
	}
	folders, err := os.ReadDir(filepath.Join(cluster.Root, "examples", "mistakes"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if f.IsDir() && !refused[f.Name()] {
			t.Errorf("nothing in examples/mistakes/%s is refused", f.Name())
		}
	}
}

// The exit code table: 2 for a missing path from the binary, but 1 through go run.
func TestREADMEExitCodes(t *testing.T) {
	dir := makeBuild(t)
	s := readme(t)
	for _, want := range []string{"| 0 | everything allowed", "| 1 | at least one object denied", "| 2 | the input or the command line is wrong", "`validate -f nope/`", "`go run` turns every non-zero exit code\ninto 1"} {
		if !strings.Contains(s, want) {
			t.Errorf("the README no longer says %q", want)
		}
	}
	if r := sh(t, cluster.Root, "consul-peering-guard validate -f nope/", nil, dir); r.code != 2 || !strings.Contains(r.stderr, "nope/") {
		t.Errorf("validate -f nope/: exit %d, %q; want 2 naming the path", r.code, r.stderr)
	}
	if r := sh(t, cluster.Root, "consul-peering-guard validate -f examples/", nil, dir); r.code != 1 {
		t.Errorf("validate -f examples/: exit %d, want 1 (the tree holds the mistakes)", r.code)
	}
	if r := sh(t, cluster.Root, "go run ./cmd/consul-peering-guard validate -f nope/", nil); r.code != 1 || !strings.Contains(r.stderr, "exit status 2") {
		t.Errorf("go run ... validate -f nope/: exit %d, %q; the README says go run exits 1 and prints exit status 2", r.code, r.stderr)
	}
	if r := sh(t, cluster.Root, "consul-peering-guard completion bash", nil, dir); r.code != 0 || !strings.Contains(r.stdout, "bash completion") {
		t.Errorf("completion bash: exit %d", r.code)
	}
	if r := sh(t, cluster.Root, "consul-peering-guard version --bogus", nil, dir); r.code != 2 {
		t.Errorf("a bad flag: exit %d, want 2", r.code)
	}
}

// The README's cluster-file keys are the keys the cluster file accepts.
func TestREADMEClusterFileKeys(t *testing.T) {
	s := documentation(t)
	i := strings.Index(s, "<!-- cluster-file-keys -->")
	var listed []string
	key := regexp.MustCompile("`([a-zA-Z][a-zA-Z0-9]*)`")
	for _, line := range strings.Split(s[i:], "\n")[3:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cell := strings.Split(line, "|")[1]
		for _, m := range key.FindAllStringSubmatch(cell, -1) {
			listed = append(listed, m[1])
		}
	}
	var want []string
	for _, f := range reflect.VisibleFields(reflect.TypeFor[manifest.ClusterSettings]()) {
		if key := strings.Split(f.Tag.Get("json"), ",")[0]; key != "" && key != "-" {
			want = append(want, key)
		}
	}
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("the README lists the cluster-file keys %q, the file takes %q", listed, want)
	}
}

// helmTemplate renders the chart with bin/helm and returns the documents.
func helmTemplate(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	cmd := exec.Command(cluster.Bin("helm"), append(append([]string{"template"}, args...), "--kube-version=1.37.2")...)
	cmd.Dir = cluster.Root
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm template %q: %v\n%s", args, err, out)
	}
	var docs []map[string]any
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			break
		}
		if d == nil {
			continue
		}
		docs = append(docs, d)
		// The ValidatingWebhookConfiguration serve applies is rendered into a ConfigMap.
		if data, ok := d["data"].(map[string]any); ok && d["kind"] == "ConfigMap" {
			if embedded, ok := data["validatingwebhookconfiguration.yaml"].(string); ok {
				var vwc map[string]any
				if err := yaml.NewYAMLOrJSONDecoder(strings.NewReader(embedded), 4096).Decode(&vwc); err != nil {
					t.Fatalf("the rendered webhook configuration: %v", err)
				}
				docs = append(docs, vwc)
			}
		}
	}
	return docs
}

func docOf[T any](t *testing.T, docs []map[string]any, kind string) T {
	t.Helper()
	var out T
	for _, d := range docs {
		if d["kind"] == kind {
			raw, _ := json.Marshal(d)
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatalf("no %s rendered", kind)
	return out
}

// Without cert-manager: the README's openssl commands make a CA and a serving certificate
// valid for the webhook's Service name, and the README's helm command (rendered) serves the
// Secret and publishes the CA, encoded with the README's portable base64.
func TestREADMEInstallWithoutCertManager(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	dir := t.TempDir()
	if r := sh(t, dir, readmeBlock(t, "readme-run: tls-secret"), nil); r.code != 0 {
		t.Fatalf("the README's openssl commands: %s%s", r.stdout, r.stderr)
	}
	pemOf := func(name string) *x509.Certificate {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(raw)
		if b == nil {
			t.Fatalf("%s is not PEM", name)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	roots := x509.NewCertPool()
	roots.AddCert(pemOf("ca.crt"))
	for _, name := range []string{"consul-peering-guard.consul-peering-guard.svc", "consul-peering-guard.consul-peering-guard.svc.cluster.local"} {
		if _, err := pemOf("tls.crt").Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("tls.crt is not valid for %s: %v", name, err)
		}
	}
	// The install: the README's helm install line, rendered with helm template.
	s := documentation(t)
	i := strings.Index(s, "kubectl --namespace consul-peering-guard create secret tls my-webhook-tls --cert=tls.crt --key=tls.key")
	if i < 0 {
		t.Fatal("the README no longer creates the Secret my-webhook-tls")
	}
	install := s[i:]
	install = install[strings.Index(install, "helm install"):]
	install = strings.ReplaceAll(install[:strings.Index(install, "\n```")], "\\\n", " ")
	if !strings.Contains(install, `--set tls.caBundle="$(base64 < ca.crt | tr -d '\n')"`) {
		t.Fatalf("the README's install without cert-manager changed: %s", install)
	}
	caBundle := strings.TrimSpace(sh(t, dir, "base64 < ca.crt | tr -d '\\n'", nil).stdout)
	args := strings.Fields(strings.NewReplacer("helm install ", "", `"$(base64 < ca.crt | tr -d '\n')"`, caBundle).Replace(install))
	for j, a := range args {
		if a == "charts/consul-peering-guard" {
			args[j] = filepath.Join(cluster.Root, a)
		}
	}
	docs := helmTemplate(t, args...)
	vwc := docOf[admissionregistrationv1.ValidatingWebhookConfiguration](t, docs, "ValidatingWebhookConfiguration")
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	for _, w := range vwc.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, ca) {
			t.Errorf("webhook %s: caBundle is not ca.crt", w.Name)
		}
		if w.ClientConfig.Service == nil || w.ClientConfig.Service.Name+"."+w.ClientConfig.Service.Namespace+".svc" != "consul-peering-guard.consul-peering-guard.svc" {
			t.Errorf("webhook %s calls %+v, not the Service the certificate is for", w.Name, w.ClientConfig.Service)
		}
	}
	d := docOf[appsv1.Deployment](t, docs, "Deployment")
	mounted := false
	for _, v := range d.Spec.Template.Spec.Volumes {
		mounted = mounted || v.Secret != nil && v.Secret.SecretName == "my-webhook-tls"
	}
	if !mounted {
		t.Error("the Deployment does not mount the Secret my-webhook-tls")
	}
}

// The break-glass command, with another release name, deletes that release's webhook
// configuration and nothing else.
func TestREADMEBreakGlassFollowsTheReleaseName(t *testing.T) {
	cmd := strings.TrimSpace(readmeBlock(t, "break-glass"))
	lines := strings.Split(cmd, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "RELEASE=consul-peering-guard") {
		t.Fatalf("the break-glass block changed: %q", cmd)
	}
	docs := helmTemplate(t, "payments", filepath.Join(cluster.Root, "charts", "consul-peering-guard"), "--namespace", "payments-guard")
	vwc := docOf[admissionregistrationv1.ValidatingWebhookConfiguration](t, docs, "ValidatingWebhookConfiguration")
	if vwc.Name != "payments-consul-peering-guard" {
		t.Fatalf("the release payments renders the configuration %q", vwc.Name)
	}
	// Registered with an empty rule set, so it reviews nothing while it exists.
	for i := range vwc.Webhooks {
		vwc.Webhooks[i].Rules = nil
		vwc.Webhooks[i].ClientConfig.CABundle = nil
	}
	vwc.ResourceVersion = ""
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cluster.Client.Create(ctx, &vwc); err != nil {
		t.Fatal(err)
	}
	script := "RELEASE=payments\n" + lines[1]
	r := sh(t, cluster.Root, script, []string{"KUBECONFIG=" + cluster.Kubeconfig}, filepath.Join(cluster.Root, "bin"))
	if r.code != 0 || !strings.Contains(r.stdout, `"payments-consul-peering-guard" deleted`) {
		t.Fatalf("break glass: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var left admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := cluster.Client.List(ctx, &left); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, c := range left.Items {
		names = append(names, c.Name)
	}
	if slices.Contains(names, "payments-consul-peering-guard") || !slices.Contains(names, webhookConfigName) {
		t.Errorf("after break glass the configurations are %q", names)
	}
}
