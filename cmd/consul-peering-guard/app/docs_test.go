package app

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
)

const repoRoot = "../../.."

// docPages returns README.md and every Markdown page under docs/ (docs/testdata excepted)
// and examples/, by path relative to the repository's root.
func docPages(t *testing.T) map[string]string {
	t.Helper()
	pages := map[string]string{}
	read := func(rel string) {
		raw, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		pages[filepath.ToSlash(rel)] = string(raw)
	}
	read("README.md")
	for _, dir := range []string{"docs", "examples"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, ".md") {
				rel, err := filepath.Rel(repoRoot, path)
				if err == nil {
					read(rel)
				}
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return pages
}

func TestREADMEIsALandingPage(t *testing.T) {
	const most = 250
	if n := strings.Count(docPages(t)["README.md"], "\n"); n > most {
		t.Errorf("README.md has %d lines, at most %d: move the details to docs/", n, most)
	}
}

var (
	fence      = regexp.MustCompile("(?ms)^```[a-z]*\\n(.*?)^```")
	runComment = regexp.MustCompile(`<!-- readme-run: [a-z0-9-]+(?: [a-z]+=[^ ]+)* -->\s*$`)
)

// Every fenced block that shows a command ($ ...) and its output is marked for
// test/e2e's TestDocsShowWhatCommandsPrint, which runs every marked block, and shows its
// output whole: no elision a test could not compare.
func TestDocsMarkEveryShownOutput(t *testing.T) {
	marked := 0
	for name, page := range docPages(t) {
		for _, loc := range fence.FindAllStringSubmatchIndex(page, -1) {
			body := page[loc[2]:loc[3]]
			if !showsOutput(body) {
				continue
			}
			line := strings.Count(page[:loc[0]], "\n") + 1
			if !runComment.MatchString(page[:loc[0]]) {
				t.Errorf("%s:%d: a block showing a command's output has no <!-- readme-run: NAME --> marker", name, line)
				continue
			}
			marked++
			for _, l := range strings.Split(body, "\n") {
				if strings.TrimSpace(l) == "..." || strings.Contains(l, "<your-") {
					t.Errorf("%s:%d: a block showing output elides or holds a placeholder: %q", name, line, l)
				}
			}
		}
	}
	if marked == 0 {
		t.Fatal("no page shows a command's output")
	}
}

// showsOutput says whether a fenced block holds a "$ " command followed by a line of output.
func showsOutput(body string) bool {
	lines := strings.Split(strings.TrimRight(body, "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "$ ") && i+1 < len(lines) && !strings.HasPrefix(lines[i+1], "$ ") {
			return true
		}
	}
	return false
}

var (
	mdLink  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
)

// anchorOf is GitHub's anchor of a heading.
func anchorOf(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	var b strings.Builder
	for _, r := range h {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func anchorsOf(page string) map[string]bool {
	out := map[string]bool{}
	page = fence.ReplaceAllString(page, "")
	for _, m := range heading.FindAllStringSubmatch(page, -1) {
		out[anchorOf(m[1])] = true
	}
	return out
}

// Every relative link of README.md, docs/ and examples/ names a file of the repository, and
// every #anchor a heading of its page, so moving a section cannot leave a link behind.
func TestDocsLinksResolve(t *testing.T) {
	pages := docPages(t)
	for name, page := range pages {
		for _, m := range mdLink.FindAllStringSubmatch(fence.ReplaceAllString(page, ""), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			file := name
			if path != "" {
				file = filepath.ToSlash(filepath.Join(filepath.Dir(name), path))
				if _, err := os.Stat(filepath.Join(repoRoot, file)); err != nil {
					t.Errorf("%s: the link %s names no file", name, target)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			linked, ok := pages[file]
			if !ok {
				raw, err := os.ReadFile(filepath.Join(repoRoot, file))
				if err != nil {
					t.Errorf("%s: the link %s: %v", name, target, err)
					continue
				}
				linked = string(raw)
			}
			if !anchorsOf(linked)[anchor] {
				t.Errorf("%s: the link %s names no heading of %s", name, target, file)
			}
		}
	}
}

var countedKinds = regexp.MustCompile(`(?i)\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|\d+) (consul |workload )?kinds\b`)

// Where a page counts the kinds the engine judges, the count is api/kinds' (the README's
// list of them is generated).
func TestDocsCountKindsRight(t *testing.T) {
	words := map[string]int{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
		"nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16}
	want := map[string]int{"": len(kinds.Consul) + len(kinds.Workloads), "consul ": len(kinds.Consul), "workload ": len(kinds.Workloads)}
	for name, page := range docPages(t) {
		for _, m := range countedKinds.FindAllStringSubmatch(page, -1) {
			n, ok := words[strings.ToLower(m[1])]
			if !ok {
				n, _ = strconv.Atoi(m[1])
			}
			if w := want[strings.ToLower(m[2])]; n != w {
				t.Errorf("%s says %q; api/kinds has %d", name, m[0], w)
			}
		}
	}
}

var toolModule = regexp.MustCompile("`([a-z0-9.-]+\\.[a-z]+/[^`]+)` (v[0-9][^ ,;]*)")

// The test tools table of docs/development.md names each tool's module at the version its
// module under hack/tools/ (or the product's go.mod) requires.
func TestDocsTestToolVersions(t *testing.T) {
	page := docPages(t)["docs/development.md"]
	_, table, ok := strings.Cut(page, "\n## Test tools\n")
	if !ok {
		t.Fatal("docs/development.md has no section Test tools")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	mods, err := filepath.Glob(filepath.Join(repoRoot, "hack", "tools", "*", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var requires strings.Builder
	for _, f := range append(mods, filepath.Join(repoRoot, "go.mod")) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		requires.Write(raw)
	}
	rows := 0
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| `bin/") && !strings.HasPrefix(line, "| cert-manager") {
			continue
		}
		m := toolModule.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("no module and version in %q", line)
			continue
		}
		rows++
		require := regexp.MustCompile(`(?m)^\s*(require )?` + regexp.QuoteMeta(m[1]) + ` ` + regexp.QuoteMeta(m[2]) + `(\s|$)`)
		if !require.MatchString(requires.String()) {
			t.Errorf("docs/development.md says %s %s; no module under hack/tools/ requires that version", m[1], m[2])
		}
	}
	if rows == 0 {
		t.Fatal("the test tools table is empty")
	}
}
