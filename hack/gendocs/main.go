// Command gendocs regenerates the rule table of README.md from the rule catalogue, between
// the markers <!-- rules:begin --> and <!-- rules:end -->, so the two never drift.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

const (
	begin = "<!-- rules:begin -->"
	end   = "<!-- rules:end -->"
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
	i, j := bytes.Index(raw, []byte(begin)), bytes.Index(raw, []byte(end))
	if i < 0 || j < i {
		return fmt.Errorf("%s: markers %s and %s not found", path, begin, end)
	}
	var out bytes.Buffer
	out.Write(raw[:i+len(begin)])
	out.WriteString("\n" + Table() + end)
	out.Write(raw[j+len(end):])
	return os.WriteFile(path, out.Bytes(), 0o644)
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
