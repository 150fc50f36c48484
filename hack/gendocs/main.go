// Command gendocs regenerates the generated parts of README.md so they never drift from the
// code: the rule table from the rule catalogue, between <!-- rules:begin --> and
// <!-- rules:end -->, and the command and flag tables from the cobra commands (the binary's
// hidden __readme-tables command), between <!-- cli:NAME:begin --> and <!-- cli:NAME:end -->
// for NAME commands, shared (the flags serve, validate and audit share) and each subcommand.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func main() {
	path := "README.md"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := run(path); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cli, err := cliTables()
	if err != nil {
		return err
	}
	sections := map[string]string{"rules": Table()}
	for name, md := range cli {
		sections["cli:"+name] = md
	}
	out, err := Replace(raw, sections)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// cliTables runs the binary's hidden command that renders its own command and flag tables.
func cliTables() (map[string]string, error) {
	cmd := exec.Command("go", "run", "./cmd/consul-peering-guard", "__readme-tables")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go run ./cmd/consul-peering-guard __readme-tables: %w", err)
	}
	var tables map[string]string
	if err := json.Unmarshal(out, &tables); err != nil {
		return nil, err
	}
	return tables, nil
}

var marker = regexp.MustCompile(`<!-- ([a-z0-9:-]+):begin -->`)

// Replace puts each section between its markers. Every section must have its markers and
// every cli: marker pair a section, so a new subcommand or a removed one fails the
// generation. Markers of other generators (load:) are left alone.
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

// Table renders the catalogue as a Markdown table.
func Table() string {
	var b strings.Builder
	b.WriteString("| rule | default | kinds | reads state | what it enforces | doc |\n|---|---|---|---|---|---|\n")
	for _, r := range validators.Catalogue() {
		kinds := make([]string, len(r.Kinds))
		for i, k := range r.Kinds {
			kinds[i] = string(k)
		}
		state := ""
		switch {
		case r.ReadsState():
			state = "yes"
		case r.ReadsPair():
			state = "two clusters (`check`)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | [%s](docs/rules/%s.md) |\n",
			r.Name, r.DefaultAction, strings.Join(kinds, ", "), state, r.Description, r.Family, r.Family)
	}
	return b.String()
}
