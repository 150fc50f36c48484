// Package multicluster runs `consul-peering-guard check --context` against two real API
// servers (two envtest environments from bin/) and compares it with the offline check of the
// same manifests.
package multicluster

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/consul-peering-guard/consul-peering-guard/internal/manifest"
	"github.com/consul-peering-guard/consul-peering-guard/internal/printer"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

var (
	east, west *framework.Cluster
	binary     string
	kubeconfig string // one file, contexts "east" and "west"
	gateways   = labels.SelectorFromSet(labels.Set{"component": "mesh-gateway"})
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	var err error
	if east, err = framework.StartCluster(); err != nil {
		fmt.Fprintln(os.Stderr, "multicluster:", err)
		return 1
	}
	defer func() { _ = east.Stop() }()
	if west, err = framework.StartCluster(); err != nil {
		fmt.Fprintln(os.Stderr, "multicluster:", err)
		return 1
	}
	defer func() { _ = west.Stop() }()
	if binary, err = framework.BuildBinary(east.Root, east.Dir); err != nil {
		fmt.Fprintln(os.Stderr, "multicluster:", err)
		return 1
	}
	if kubeconfig, err = mergeKubeconfigs(filepath.Join(east.Dir, "two-clusters.kubeconfig"),
		map[string]string{"east": east.Kubeconfig, "west": west.Kubeconfig}); err != nil {
		fmt.Fprintln(os.Stderr, "multicluster:", err)
		return 1
	}
	return m.Run()
}

// mergeKubeconfigs writes one kubeconfig holding each given kubeconfig's current context
// under a new name, as a user with several clusters has.
func mergeKubeconfigs(path string, byContext map[string]string) (string, error) {
	merged := clientcmdapi.NewConfig()
	for name, file := range byContext {
		cfg, err := clientcmd.LoadFromFile(file)
		if err != nil {
			return "", err
		}
		ctx := cfg.Contexts[cfg.CurrentContext]
		if ctx == nil {
			return "", fmt.Errorf("%s has no current context", file)
		}
		merged.Clusters[name] = cfg.Clusters[ctx.Cluster]
		merged.AuthInfos[name] = cfg.AuthInfos[ctx.AuthInfo]
		merged.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: ctx.Namespace}
	}
	return path, clientcmd.WriteToFile(*merged, path)
}

// finding is one violation of a check report, without the file (live objects have none).
type finding struct {
	Cluster, Object, Rule, Field, Action, Peer, Message string
}

func findingsOf(rep printer.Report) []finding {
	var out []finding
	for _, r := range rep.Results {
		for _, v := range r.Violations {
			out = append(out, finding{r.Cluster, r.Kind + " " + r.Namespace + "/" + r.Name, v.Rule, v.Field, v.Action, v.PeerCluster, v.Message})
		}
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// runCheck runs the binary's check -o json and returns the exit code, report and raw output.
func runCheck(t *testing.T, args ...string) (int, printer.Report, string) {
	t.Helper()
	r := framework.Run(framework.Command{Timeout: 5 * time.Minute}, binary, append([]string{"check", "-o", "json"}, args...)...)
	if r.Code == -1 {
		t.Fatal(r.Stderr)
	}
	var rep printer.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("check output is not the JSON report: %v\nstdout: %s\nstderr: %s", err, r.Stdout, r.Stderr)
	}
	return r.Code, rep, r.Stdout + r.Stderr
}

// applyHalf empties a cluster, applies a cluster folder with kubectl and marks its mesh
// gateway Deployments ready, as their pods would be.
func applyHalf(t *testing.T, c *framework.Cluster, dir string) {
	t.Helper()
	ctx, cancel := framework.Context(2 * time.Minute)
	defer cancel()
	if err := c.Reset(ctx, gateways); err != nil {
		t.Fatal(err)
	}
	if r := c.Kubectl("apply", "-f", dir); r.Code != 0 {
		t.Fatalf("kubectl apply -f %s: %s", dir, r.Stderr)
	}
	var deps appsv1.DeploymentList
	if err := c.Client.List(ctx, &deps, client.MatchingLabelsSelector{Selector: gateways}); err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		if err := c.MarkDeploymentReady(ctx, d.Namespace, d.Name, 1); err != nil {
			t.Fatal(err)
		}
	}
}

// The passing peering and every mistake pair give the same findings live as offline.
func TestLiveCheckMatchesOffline(t *testing.T) {
	pairs := []string{filepath.Join(east.Root, "examples", "peering")}
	mistakes, err := filepath.Glob(filepath.Join(east.Root, "examples", "peering-mistakes", "*"))
	if err != nil || len(mistakes) == 0 {
		t.Fatalf("no peering mistakes: %v", err)
	}
	pairs = append(pairs, mistakes...)
	for _, dir := range pairs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			halves, err := filepath.Glob(filepath.Join(dir, "*", manifest.ClusterFileName))
			if err != nil || len(halves) != 2 {
				t.Fatalf("want two cluster folders in %s, got %v", dir, halves)
			}
			for _, cf := range halves {
				if _, err := manifest.ReadClusterSettings(cf, validators.Config{}); err != nil {
					t.Fatal(err)
				}
			}
			applyHalf(t, east, filepath.Dir(halves[0]))
			applyHalf(t, west, filepath.Dir(halves[1]))

			offCode, offline, _ := runCheck(t, "-f", filepath.Dir(halves[0]), "-f", filepath.Dir(halves[1]))
			// Live, each context takes its name and settings from the same cluster file.
			liveCode, live, _ := runCheck(t, "--kubeconfig", kubeconfig, "--context", "east", "--context", "west",
				"--cluster-file", "east="+halves[0], "--cluster-file", "west="+halves[1])
			if liveCode != offCode {
				t.Errorf("exit code live %d, offline %d", liveCode, offCode)
			}
			got, want := findingsOf(live), findingsOf(offline)
			if !slices.Equal(got, want) {
				t.Errorf("live findings differ from offline:\n live    %+v\n offline %+v", got, want)
			}
			if filepath.Base(dir) != "peering" && len(want) == 0 {
				t.Errorf("the mistake %s found nothing", dir)
			}
		})
	}
}

// Live, an acceptor and a dialer whose Secrets hold the same token are paired whatever they
// and the contexts are called, and the token never appears in the output.
func TestLiveTokenPairsAcceptorAndDialer(t *testing.T) {
	const token = "eyJwZWVyIjoidG9rZW4tZm9yLXRoZS10ZXN0In0="
	half := func(c *framework.Cluster, kind, name string) {
		ctx, cancel := framework.Context(time.Minute)
		defer cancel()
		if err := c.Reset(ctx, gateways); err != nil {
			t.Fatal(err)
		}
		manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: consul}
---
apiVersion: v1
kind: Secret
metadata: {name: peering-token, namespace: consul}
data:
  data: %s
---
apiVersion: consul.hashicorp.com/v1alpha1
kind: %s
metadata: {name: %s, namespace: consul}
spec:
  peer:
    secret: {name: peering-token, key: data, backend: kubernetes}
`, base64.StdEncoding.EncodeToString([]byte(token)), kind, name)
		if r := c.Apply(manifest); r.Code != 0 {
			t.Fatalf("kubectl apply: %s", r.Stderr)
		}
	}
	args := []string{"--kubeconfig", kubeconfig, "--context", "east", "--context", "west"}

	half(east, "PeeringAcceptor", "to-the-west")
	half(west, "PeeringDialer", "to-the-east")
	code, rep, out := runCheck(t, args...)
	if code != 0 || len(findingsOf(rep)) != 0 {
		t.Errorf("token-paired acceptor and dialer: exit %d, findings %+v", code, findingsOf(rep))
	}
	if strings.Contains(out, token) || strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(token))) {
		t.Errorf("the output shows the token:\n%s", out)
	}

	half(west, "PeeringAcceptor", "to-the-east")
	code, rep, _ = runCheck(t, args...)
	var got []string
	for _, f := range findingsOf(rep) {
		got = append(got, f.Cluster+" "+f.Object+" "+f.Rule+" "+f.Field+" "+f.Action)
	}
	want := []string{
		"east PeeringAcceptor consul/to-the-west peering-pair metadata.name deny",
		"west PeeringAcceptor consul/to-the-east peering-pair metadata.name deny",
	}
	if code != 1 || !slices.Equal(got, want) {
		t.Errorf("two acceptors with one token: exit %d, findings\n %v\nwant\n %v", code, got, want)
	}
}
