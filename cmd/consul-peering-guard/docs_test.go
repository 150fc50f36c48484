package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// The README's command and flag tables are what the commands define (make generate writes
// them; this catches a flag changed without it).
func TestREADMETablesAreTheCommands(t *testing.T) {
	code, out, errOut := runCLI(t, docsCommandName)
	if code != exitAllowed {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var tables map[string]string
	if err := json.Unmarshal([]byte(out), &tables); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"commands", "shared", "serve", "validate", "audit", "check", "vap", "rules", "version", "completion"}
	for _, name := range names {
		md, ok := tables[name]
		if !ok {
			t.Errorf("no table %s", name)
			continue
		}
		block := "<!-- cli:" + name + ":begin -->\n" + md + "<!-- cli:" + name + ":end -->"
		if !bytes.Contains(readme, []byte(block)) {
			t.Errorf("README.md's %s table is stale: run make generate", name)
		}
	}
	if len(tables) != len(names) {
		t.Errorf("tables %d, want %d", len(tables), len(names))
	}
	// Every flag of every command is in the README, and the hidden command is not.
	root := newRootCommand(nil, nil)
	for _, c := range root.Commands() {
		if c.Hidden {
			if strings.Contains(string(readme), c.Name()) {
				t.Errorf("the hidden %s is in the README", c.Name())
			}
			continue
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" && !strings.Contains(string(readme), "`--"+f.Name) {
				t.Errorf("%s --%s is not in the README", c.Name(), f.Name)
			}
		})
	}
}
