package e2e

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

// readmeMetrics returns the metric names of the metrics table of docs/operations.md and the names whose
// row says they only appear under a condition ("only with").
func readmeMetrics(t *testing.T) (all, conditional []string) {
	t.Helper()
	s := readDoc(t, "docs/operations.md")
	i := strings.Index(s, "<!-- metrics-list -->")
	if i < 0 {
		t.Fatal("docs/operations.md has no <!-- metrics-list --> table")
	}
	row := regexp.MustCompile("^\\s*\\| `([a-z_]+)` \\|")
	for _, line := range strings.Split(s[i:], "\n")[1:] {
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		if m := row.FindStringSubmatch(line); m != nil {
			all = append(all, m[1])
			if strings.Contains(line, "only with") {
				conditional = append(conditional, m[1])
			}
		}
	}
	if len(all) == 0 {
		t.Fatal("the metrics table of docs/operations.md is empty")
	}
	return all, conditional
}

// scrapedNames returns the metric family names of a Prometheus text scrape (histograms by
// their family name).
func scrapedNames(text string) map[string]bool {
	names := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names[strings.Fields(name)[0]] = true
		}
	}
	return names
}

// The README's metrics list is what a real serve exports, from its start and after a review:
// every consul_peering_guard_ metric listed is scraped (but the one that needs
// --audit-interval), none scraped is missing from the list, and the other families scraped
// are the ones the README names, each of them present. controller-runtime's webhook metrics, replaced by ours, are
// not exported.
func TestREADMEMetricsAreWhatServeExports(t *testing.T) {
	listed, conditional := readmeMetrics(t)
	foreign := []string{"go_", "process_", "rest_client_", "certwatcher_"}
	doc := readDoc(t, "docs/operations.md")
	for _, p := range foreign {
		if !strings.Contains(doc, "(`"+p+"*`)") {
			t.Errorf("docs/operations.md does not name the %s* metrics this test allows", p)
		}
	}
	w, err := framework.StartWebhook(binary, cluster.Kubeconfig, certDir, "--log-format=text")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	if err := w.WaitReady(time.Minute); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		text, err := w.Metrics()
		if err != nil {
			t.Fatal(err)
		}
		scraped := scrapedNames(text)
		var ours []string
		for name := range scraped {
			switch {
			case strings.HasPrefix(name, "consul_peering_guard_"):
				ours = append(ours, name)
			case strings.HasPrefix(name, "controller_runtime_webhook_"), strings.HasPrefix(name, "controller_runtime_conversion_webhook_"):
				t.Errorf("%s: %s is exported", when, name)
			case !slices.ContainsFunc(foreign, func(p string) bool { return strings.HasPrefix(name, p) }):
				t.Errorf("%s: %s is exported but the README does not name its family", when, name)
			}
		}
		for _, p := range foreign {
			if !slices.ContainsFunc(slices.Collect(maps.Keys(scraped)), func(n string) bool { return strings.HasPrefix(n, p) }) {
				t.Errorf("%s: the README names %s* metrics, none is exported", when, p)
			}
		}
		var want []string
		for _, name := range listed {
			if !slices.Contains(conditional, name) {
				want = append(want, name)
			}
		}
		sort.Strings(ours)
		sort.Strings(want)
		if !slices.Equal(ours, want) {
			t.Errorf("%s: scraped %q\nREADME lists (without the conditional %q) %q", when, ours, conditional, want)
		}
	}
	check("before any review")
	client := framework.TLSClient(ca.CertPEM, false)
	body := framework.ReviewBody(kinds.ProxyDefaults, "CREATE",
		`{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"ProxyDefaults","metadata":{"name":"default","namespace":"default"},"spec":{}}`, "")
	code, resp, err := framework.PostReview(client, "https://127.0.0.1:"+strconv.Itoa(w.Port), kinds.ProxyDefaults, body)
	if err != nil || code != http.StatusOK || resp == nil || resp.Allowed {
		t.Fatalf("review: %d %+v %v", code, resp, err)
	}
	check("after one review")
}
