package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/cmd/consul-peering-guard/app"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func TestReplace(t *testing.T) {
	doc := "a\n<!-- rules:begin -->\nold\n<!-- rules:end -->\nb\n<!-- cli:serve:begin -->\n<!-- cli:serve:end -->\n<!-- load:begin -->\nkept\n<!-- load:end -->\n"
	for name, tc := range map[string]struct {
		doc      string
		sections map[string]string
		want     string
		err      string
	}{
		"replaces between markers, leaves other generators' markers": {
			doc: doc, sections: map[string]string{"rules": "R\n", "cli:serve": "S\n"},
			want: "a\n<!-- rules:begin -->\nR\n<!-- rules:end -->\nb\n<!-- cli:serve:begin -->\nS\n<!-- cli:serve:end -->\n<!-- load:begin -->\nkept\n<!-- load:end -->\n",
		},
		"a new subcommand without markers": {
			doc: doc, sections: map[string]string{"rules": "R\n", "cli:serve": "S\n", "cli:debug": "D\n"},
			err: "no markers <!-- NAME:begin --> and <!-- NAME:end --> for cli:debug",
		},
		"markers of a removed subcommand": {
			doc: doc, sections: map[string]string{"rules": "R\n"},
			err: "marker cli:serve:begin has nothing to generate",
		},
		"end before begin": {
			doc: "<!-- rules:end -->\n<!-- rules:begin -->\n", sections: map[string]string{"rules": "R\n"},
			err: "not found in order",
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Replace([]byte(tc.doc), tc.sections)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
}

func TestDependencyTable(t *testing.T) {
	reqs := []requirement{
		{Path: "k8s.io/api", Version: "v0.37.2"},
		{Path: "cel.dev/expr", Version: "v0.25.2", Indirect: true},
	}
	for name, tc := range map[string]struct {
		why  map[string]string
		want string
		err  string
	}{
		"one row per direct requirement, indirect ones left out": {
			why:  map[string]string{"k8s.io/api": "types"},
			want: "| module | version | why |\n|---|---|---|\n| `k8s.io/api` | v0.37.2 | types |\n",
		},
		"a direct requirement without a reason": {
			why: map[string]string{},
			err: "go.mod requires k8s.io/api directly",
		},
		"a reason for a module no longer required": {
			why: map[string]string{"k8s.io/api": "types", "golang.org/x/net": "listener"},
			err: "explains golang.org/x/net, which go.mod no longer requires directly",
		},
		"a reason for an indirect requirement": {
			why: map[string]string{"k8s.io/api": "types", "cel.dev/expr": "CEL"},
			err: "explains cel.dev/expr",
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := dependencyTable(reqs, tc.why)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v\nwant %q", got, err, tc.want)
			}
		})
	}
}

// Every direct requirement of the repository's go.mod has a reason, and every reason a
// direct requirement.
func TestEveryDependencyIsExplained(t *testing.T) {
	md, err := Dependencies("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md, "| `sigs.k8s.io/controller-runtime` | v") {
		t.Errorf("the table lacks controller-runtime:\n%s", md)
	}
}

// Every kind of api/kinds is listed exactly once, and the counts are the lists' lengths.
func TestKindList(t *testing.T) {
	got := KindList()
	for _, list := range [][]kinds.Kind{kinds.Consul, kinds.Workloads} {
		for _, k := range list {
			if n := strings.Count(got, " "+string(k)+",") + strings.Count(got, " "+string(k)+";") + strings.Count(got, " "+string(k)+"\n"); n != 1 {
				t.Errorf("%s is listed %d times:\n%s", k, n, got)
			}
		}
	}
	for _, want := range []string{
		fmt.Sprintf("- %d Consul kinds: `consul.hashicorp.com/v1alpha1` Mesh,", len(kinds.Consul)),
		fmt.Sprintf("- %d workload kinds,", len(kinds.Workloads)),
		"`v1` Pod; `apps/v1` Deployment,",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the list lacks %q:\n%s", want, got)
		}
	}
}

func TestWatchedCRDs(t *testing.T) {
	got := WatchedCRDs()
	for _, k := range kinds.Watched {
		if !strings.Contains(got, "`"+kinds.Plural(k)+"`") {
			t.Errorf("%s is not listed: %s", k, got)
		}
	}
	if n := strings.Count(got, "`") / 2; n != len(kinds.Watched) {
		t.Errorf("%d resources listed, the webhook watches %d: %s", n, len(kinds.Watched), got)
	}
}

// The committed pages hold what gendocs generates, each section in the file it belongs to (the
// command and flag tables are checked by TestDocsTablesAreTheCommands).
func TestPagesAreCurrent(t *testing.T) {
	deps, err := Dependencies("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for path, sections := range Sections(nil, deps) {
		raw, err := os.ReadFile(filepath.Join("..", "..", path))
		if err != nil {
			t.Fatal(err)
		}
		for name, body := range sections {
			if !strings.Contains(string(raw), "<!-- "+name+":begin -->\n"+body+"<!-- "+name+":end -->") {
				t.Errorf("%s: the section %s is stale: run make generate", path, name)
			}
		}
	}
}

// The command and flag tables of docs/cli.md are what the commands define (make generate
// writes them; this catches a flag changed without it).
func TestDocsTablesAreTheCommands(t *testing.T) {
	tables := cliTables()
	raw, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	names := []string{"commands", "shared", "serve", "validate", "audit", "check", "vap", "rules", "version", "completion"}
	for _, name := range names {
		md, ok := tables[name]
		if !ok {
			t.Errorf("no table %s", name)
			continue
		}
		block := "<!-- cli:" + name + ":begin -->\n" + md + "<!-- cli:" + name + ":end -->"
		if !strings.Contains(page, block) {
			t.Errorf("the %s table of docs/cli.md is stale: run make generate", name)
		}
	}
	if len(tables) != len(names) {
		t.Errorf("tables %d, want %d", len(tables), len(names))
	}
	// Every flag of every command is in docs/cli.md.
	for _, c := range app.NewRootCommand(nil, nil, app.Build{}).Commands() {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" && !strings.Contains(page, "`--"+f.Name) {
				t.Errorf("%s --%s is not in docs/cli.md", c.Name(), f.Name)
			}
		})
	}
}

// README.md is a landing page; the manual lives in docs/.

// The chart's kind rows and its description are what the kind table says.
func TestChartIsCurrent(t *testing.T) {
	kindsFile, err := os.ReadFile(filepath.Join("..", "..", chartKindsFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(kindsFile) != ChartKinds() {
		t.Errorf("%s is stale: run make generate", chartKindsFile)
	}
	for _, k := range kinds.Table {
		row := "- {kind: " + string(k.Kind) + ", group: \"" + k.GroupVersion.Group + "\", version: " + k.GroupVersion.Version + ", plural: " + k.Plural + ","
		if !strings.Contains(ChartKinds(), row) {
			t.Errorf("no row %q for %s", row, k.Kind)
		}
	}
	chart, err := os.ReadFile(filepath.Join("..", "..", chartFile))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReplaceChartDescription(chart)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(chart) {
		t.Errorf("the description of %s is stale: run make generate", chartFile)
	}
	if _, err := ReplaceChartDescription([]byte("name: x\n")); err == nil {
		t.Error("a Chart.yaml without a description: no error")
	}
}

// The chart passes every setting of the configuration: each field with a flag has a chart
// value, documented in values.yaml and values.schema.json, and _settings.tpl is current.
func TestChartSettingsAreCurrent(t *testing.T) {
	current, err := os.ReadFile(filepath.Join("..", "..", chartSettingsFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(current) != ChartSettings() {
		t.Errorf("%s is stale: run make generate", chartSettingsFile)
	}
	var values, schema map[string]any
	for file, into := range map[string]*map[string]any{"values.yaml": &values, "values.schema.json": &schema} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "charts", "consul-peering-guard", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, into); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[validators.Config]()) {
		if f.Tag.Get("flag") == "" {
			if f.Tag.Get("chart") != "" {
				t.Errorf("Config.%s has a chart value but no flag to pass it as", f.Name)
			}
			continue
		}
		value := f.Tag.Get("chart")
		if value == "" {
			t.Errorf("Config.%s has the flag --%s but no chart tag naming its chart value", f.Name, f.Tag.Get("flag"))
			continue
		}
		for _, path := range []string{value, f.Tag.Get("chartIf")} {
			if path == "" {
				continue
			}
			if !hasPath(values, path, "") {
				t.Errorf("Config.%s: values.yaml has no %s", f.Name, path)
			}
			if !hasPath(schema, path, "properties") {
				t.Errorf("Config.%s: values.schema.json has no %s", f.Name, path)
			}
		}
	}
}

// hasPath reports whether the dotted path names a key of doc, each level under the key
// within when within is set (a JSON schema's properties).
func hasPath(doc map[string]any, path, within string) bool {
	var v any = doc
	for _, key := range strings.Split(path, ".") {
		m, _ := v.(map[string]any)
		if within != "" {
			m, _ = m[within].(map[string]any)
		}
		var ok bool
		if v, ok = m[key]; !ok {
			return false
		}
	}
	return true
}

// extraArgs takes exactly the serving bounds docs/security.md says it sets, each a flag of
// serve: a setting the policies read too (a flag of vap) must come from its own value, never
// from extraArgs.
func TestExtraArgsAreTheServingBounds(t *testing.T) {
	var schema struct {
		Properties struct {
			ExtraArgs struct {
				Items struct{ Pattern string } `json:"items"`
			} `json:"extraArgs"`
		} `json:"properties"`
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "charts", "consul-peering-guard", "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	alternatives := regexp.MustCompile(`^\^--\(([a-z0-9|-]+)\)=\.\+\$$`).FindStringSubmatch(schema.Properties.ExtraArgs.Items.Pattern)
	if alternatives == nil {
		t.Fatalf("extraArgs pattern %q is not ^--(flag|...)=.+$", schema.Properties.ExtraArgs.Items.Pattern)
	}
	allowed := strings.Split(alternatives[1], "|")
	security, err := os.ReadFile(filepath.Join("..", "..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, row := range regexp.MustCompile("(?m)^\\|.*\\| `extraArgs` \\|$").FindAllString(string(security), -1) {
		for _, m := range regexp.MustCompile("`--([a-z0-9-]+)`").FindAllStringSubmatch(row, -1) {
			documented = append(documented, m[1])
		}
	}
	slices.Sort(allowed)
	slices.Sort(documented)
	if !slices.Equal(allowed, documented) {
		t.Errorf("extraArgs accepts %v, docs/security.md sets %v with it", allowed, documented)
	}
	root := app.NewRootCommand(nil, nil, app.Build{})
	serve, vap := findCommand(root, "serve"), findCommand(root, "vap")
	for _, name := range allowed {
		if serve.Flags().Lookup(name) == nil {
			t.Errorf("extraArgs accepts --%s, which serve does not know", name)
		}
		if vap.Flags().Lookup(name) != nil {
			t.Errorf("extraArgs accepts --%s, a setting the policies read too", name)
		}
	}
}
