package main

import (
	"runtime/debug"
	"testing"
	"time"
)

// The SBOM lists the main module at the release version with the binary's checksum, Go, and
// every dependency at the version linked (a replacement's), each depended on by the main one.
func TestSBOMListsTheBuildInfo(t *testing.T) {
	info := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "example.com/guard", Version: "(devel)"},
		Deps: []*debug.Module{
			{Path: "example.com/b", Version: "v1.2.0", Sum: "h1:bbb="},
			{Path: "example.com/a", Version: "v0.1.0", Replace: &debug.Module{Path: "example.com/fork-a", Version: "v0.1.1", Sum: "h1:aaa="}},
		},
		Settings: []debug.BuildSetting{{Key: "CGO_ENABLED", Value: "0"}, {Key: "-ldflags", Value: "-X main.version=v1.0.0"}},
	}
	doc := newSBOM(info, "v1.0.0", time.Unix(0, 0).UTC(), "abcdef0123456789")
	type pkg struct{ name, version, purl string }
	var got []pkg
	for _, p := range doc.Packages {
		got = append(got, pkg{p.Name, p.VersionInfo, p.ExternalRefs[0].Locator})
	}
	want := []pkg{
		{"example.com/guard", "v1.0.0", "pkg:golang/example.com/guard@v1.0.0"},
		{"go", "1.26.0", "pkg:golang/stdlib@go1.26.0"},
		{"example.com/fork-a", "v0.1.1", "pkg:golang/example.com/fork-a@v0.1.1"},
		{"example.com/b", "v1.2.0", "pkg:golang/example.com/b@v1.2.0"},
	}
	if len(got) != len(want) {
		t.Fatalf("packages %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("package %d: %v, want %v", i, got[i], want[i])
		}
	}
	if c := doc.Packages[0].Checksums; len(c) != 1 || c[0].Algorithm != "SHA256" || c[0].Value != "abcdef0123456789" {
		t.Errorf("main package checksums %v", c)
	}
	if doc.Packages[0].Comment != "build settings: CGO_ENABLED=0" {
		t.Errorf("main package comment %q", doc.Packages[0].Comment)
	}
	if doc.CreationInfo.Created != "1970-01-01T00:00:00Z" || doc.SPDXVersion != "SPDX-2.3" {
		t.Errorf("created %q, version %q", doc.CreationInfo.Created, doc.SPDXVersion)
	}
	depends := map[string]bool{}
	for _, r := range doc.Relationships {
		if r.Type == "DEPENDS_ON" && r.Element == "SPDXRef-Package-main" {
			depends[r.Related] = true
		}
	}
	for _, p := range doc.Packages[1:] {
		if !depends[p.SPDXID] {
			t.Errorf("the main package does not depend on %s", p.Name)
		}
	}
}
