// Command gendocs regenerates the generated parts of README.md and docs/ so they never drift
// from the code. Each file has its own sections, each between <!-- NAME:begin --> and
// <!-- NAME:end -->:
//
//   - README.md: kinds, the kinds the engine judges (api/kinds);
//   - docs/rules.md: rules, the rule table from the rule catalogue;
//   - docs/cli.md: cli:NAME, the command and flag tables from the cobra command tree
//     (package app, imported, as Kubernetes' gendocs imports its commands), for NAME
//     commands, shared (the flags serve, validate and audit share) and each subcommand;
//   - docs/troubleshooting.md: watched-crds, the CRDs of the kinds the webhook watches;
//   - docs/development.md: dependencies, the direct requirements of go.mod with why each is
//     there.
//
// It also writes the chart's kind table (templates/_kinds.tpl, from api/kinds), its serve
// arguments of the installation's settings (templates/_settings.tpl, from the tags of
// validators.Config) and the description of Chart.yaml, which names the kinds.
package main

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/cmd/consul-peering-guard/app"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run() error {
	cli := cliTables()
	deps, err := Dependencies("go.mod")
	if err != nil {
		return err
	}
	if err := os.WriteFile(chartKindsFile, []byte(ChartKinds()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(chartSettingsFile, []byte(ChartSettings()), 0o644); err != nil {
		return err
	}
	chart, err := os.ReadFile(chartFile)
	if err != nil {
		return err
	}
	if chart, err = ReplaceChartDescription(chart); err != nil {
		return fmt.Errorf("%s: %w", chartFile, err)
	}
	if err := os.WriteFile(chartFile, chart, 0o644); err != nil {
		return err
	}
	for path, sections := range Sections(cli, deps) {
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out, err := Replace(raw, sections)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Sections returns, by file, the sections to generate in it: cli holds the command and flag
// tables by name, deps the dependency table.
func Sections(cli map[string]string, deps string) map[string]map[string]string {
	files := map[string]map[string]string{
		"README.md":               {"kinds": KindList()},
		"docs/rules.md":           {"rules": Table()},
		"docs/cli.md":             {},
		"docs/development.md":     {"dependencies": deps},
		"docs/troubleshooting.md": {"watched-crds": WatchedCRDs()},
	}
	for name, md := range cli {
		files["docs/cli.md"]["cli:"+name] = md
	}
	return files
}

// cliTables renders the command and flag tables from the command tree itself.
func cliTables() map[string]string {
	return readmeTables(app.NewRootCommand(nil, nil, app.Build{}))
}

var marker = regexp.MustCompile(`<!-- ([a-z0-9:-]+):begin -->`)

// Replace puts each section between its markers. Every section must have its markers and
// every cli: marker pair a section, so a new subcommand or a removed one fails the
// generation. Markers of other generators (load:, policies:) are left alone.
func Replace(raw []byte, sections map[string]string) ([]byte, error) {
	seen := map[string]bool{}
	for _, m := range marker.FindAllSubmatch(raw, -1) {
		name := string(m[1])
		if _, ok := sections[name]; !ok && strings.HasPrefix(name, "cli:") {
			return nil, fmt.Errorf("marker %s:begin has nothing to generate", name)
		}
		seen[name] = true
	}
	var missing []string
	for name := range sections {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("no markers <!-- NAME:begin --> and <!-- NAME:end --> for %s", strings.Join(missing, ", "))
	}
	for name, body := range sections {
		begin, end := []byte("<!-- "+name+":begin -->"), []byte("<!-- "+name+":end -->")
		i, j := bytes.Index(raw, begin), bytes.Index(raw, end)
		if i < 0 || j < i {
			return nil, fmt.Errorf("markers %s and %s not found in order", begin, end)
		}
		var out bytes.Buffer
		out.Write(raw[:i+len(begin)])
		out.WriteString("\n" + body + string(end))
		out.Write(raw[j+len(end):])
		raw = out.Bytes()
	}
	return raw, nil
}

// Table renders the catalogue as a Markdown table for docs/rules.md.
func Table() string {
	var b strings.Builder
	b.WriteString("| rule | default | kinds | reads state | what it enforces | doc |\n|---|---|---|---|---|---|\n")
	for _, r := range validators.Catalogue() {
		state := ""
		switch {
		case r.ReadsState():
			state = "yes"
		case r.ReadsPair():
			state = "two clusters (`check`)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | [%s](rules/%s.md) |\n",
			r.Name, r.DefaultAction, strings.Join(kinds.Names(r.Kinds), ", "), state, r.Description, r.Family, r.Family)
	}
	return b.String()
}

// KindList renders the kinds the engine judges, by API group and version, for README.md.
func KindList() string {
	var b strings.Builder
	fmt.Fprintf(&b, "- %d Consul kinds: %s\n", len(kinds.Consul), byGroupVersion(kinds.Consul))
	fmt.Fprintf(&b, "- %d workload kinds, for the upstreams they declare in the pod annotation `consul.hashicorp.com/connect-service-upstreams`: %s\n",
		len(kinds.Workloads), byGroupVersion(kinds.Workloads))
	return b.String()
}

// byGroupVersion lists kinds as "`group/version` A, B; `other/version` C", in their order.
func byGroupVersion(list []kinds.Kind) string {
	var groups []string
	names := map[string][]string{}
	for _, k := range list {
		gv := kinds.GroupVersion(k).String()
		if _, ok := names[gv]; !ok {
			groups = append(groups, gv)
		}
		names[gv] = append(names[gv], string(k))
	}
	parts := make([]string, len(groups))
	for i, gv := range groups {
		parts[i] = "`" + gv + "` " + strings.Join(names[gv], ", ")
	}
	return strings.Join(parts, "; ")
}

// The chart files written from the kind table.
const (
	chartKindsFile    = "charts/consul-peering-guard/templates/_kinds.tpl"
	chartSettingsFile = "charts/consul-peering-guard/templates/_settings.tpl"
	chartFile         = "charts/consul-peering-guard/Chart.yaml"
)

// ChartKinds renders the kind table as the chart's cpg.kinds and cpg.workloads, whose rows
// the webhook entries and the RBAC range over.
func ChartKinds() string {
	var b strings.Builder
	b.WriteString("{{/* Generated by make generate (hack/gendocs) from the kind table of api/kinds; do not edit. */}}\n")
	define := func(name, doc string, list []kinds.Kind, last func(kinds.Info) string) {
		fmt.Fprintf(&b, "{{/* %s */}}\n{{- define %q -}}\n", doc, name)
		for _, k := range list {
			i, _ := kinds.InfoOf(k)
			fmt.Fprintf(&b, "- {kind: %s, group: %q, version: %s, plural: %s, %s}\n", k, i.GroupVersion.Group, i.GroupVersion.Version, i.Plural, last(i))
		}
		b.WriteString("{{- end }}\n")
	}
	define("cpg.kinds", "The Consul kinds in table order; state marks the kinds the state index watches.", kinds.Consul,
		func(i kinds.Info) string { return fmt.Sprintf("state: %t", i.Watched) })
	b.WriteString("\n")
	define("cpg.workloads", "The workload kinds whose pods may carry the upstreams annotation, with the metadata their pod template sits at.",
		kinds.Workloads, func(i kinds.Info) string { return "meta: " + i.PodMeta })
	return b.String()
}

// ChartSettings renders cpg.settingsArgs, the serve arguments of the installation's
// settings: for each field of validators.Config with a chart tag, its flag from that value.
// A bool is a bare flag when true, a map a flag per entry, anything else a flag when set.
func ChartSettings() string {
	var b strings.Builder
	b.WriteString("{{/* Generated by make generate (hack/gendocs) from the chart tags of validators.Config; do not edit. */}}\n")
	b.WriteString("{{/* The serve arguments of the installation's settings, one flag per field of the configuration. */}}\n")
	b.WriteString("{{- define \"cpg.settingsArgs\" -}}\n")
	for _, f := range reflect.VisibleFields(reflect.TypeFor[validators.Config]()) {
		value, flag := f.Tag.Get("chart"), f.Tag.Get("flag")
		if value == "" {
			continue
		}
		if cond := f.Tag.Get("chartIf"); cond != "" {
			fmt.Fprintf(&b, "{{- if .Values.%s }}\n", cond)
		}
		switch f.Type.Kind() {
		case reflect.Bool:
			fmt.Fprintf(&b, "{{- if .Values.%s }}\n- --%s\n{{- end }}\n", value, flag)
		case reflect.Map:
			// YAML 1.1 reads an unquoted off as false.
			fmt.Fprintf(&b, "{{- range $k, $v := .Values.%s }}\n- {{ printf \"--%s=%%s=%%s\" $k (ternary \"off\" (toString $v) (eq (toString $v) \"false\")) | quote }}\n{{- end }}\n", value, flag)
		default:
			fmt.Fprintf(&b, "{{- with .Values.%s }}\n- {{ printf \"--%s=%%s\" (toString .) | quote }}\n{{- end }}\n", value, flag)
		}
		if f.Tag.Get("chartIf") != "" {
			b.WriteString("{{- end }}\n")
		}
	}
	b.WriteString("{{- end }}\n")
	return b.String()
}

// chartDescription is the description line of Chart.yaml.
var chartDescription = regexp.MustCompile(`(?m)^description: .*$`)

// ReplaceChartDescription rewrites the description of Chart.yaml, which names the kinds.
func ReplaceChartDescription(chart []byte) ([]byte, error) {
	if !chartDescription.Match(chart) {
		return nil, fmt.Errorf("no description: line")
	}
	return chartDescription.ReplaceAllLiteral(chart, []byte("description: Validating admission webhook that enforces HashiCorp Consul's cluster-peering rules "+
		"on the consul-k8s custom resources ("+strings.Join(kinds.Names(kinds.Consul), ", ")+") and on the workloads "+
		"that declare upstreams in the pod annotation ("+strings.Join(kinds.Names(kinds.Workloads), ", ")+").")), nil
}

// WatchedCRDs lists the resources of the Consul kinds the webhook watches for its state rules.
func WatchedCRDs() string {
	names := make([]string, len(kinds.Watched))
	for i, k := range kinds.Watched {
		names[i] = "`" + kinds.Plural(k) + "`"
	}
	return strings.Join(names, ", ") + ".\n"
}
