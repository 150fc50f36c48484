package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/), only the fields this SBOM fills.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID           string            `json:"SPDXID"`
	Name             string            `json:"name"`
	VersionInfo      string            `json:"versionInfo"`
	DownloadLocation string            `json:"downloadLocation"`
	FilesAnalyzed    bool              `json:"filesAnalyzed"`
	Checksums        []spdxChecksum    `json:"checksums,omitempty"`
	ExternalRefs     []spdxExternalRef `json:"externalRefs,omitempty"`
	PrimaryPurpose   string            `json:"primaryPackagePurpose,omitempty"`
	Comment          string            `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExternalRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

func sbomCommand(args []string) error {
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	binary := fs.String("binary", "", "the Go binary whose build info is listed")
	version := fs.String("version", "", "the release version (the main module's build info says (devel) or a pseudo-version)")
	created := fs.Int64("created", 0, "creation time as Unix seconds (the commit's time keeps the SBOM reproducible)")
	out := fs.String("out", "", "file to write (default: standard output)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *binary == "" || *version == "" {
		return usageError{fmt.Errorf("sbom needs -binary and -version")}
	}
	info, err := buildinfo.ReadFile(*binary)
	if err != nil {
		return fmt.Errorf("%s: no Go build info: %w", *binary, err)
	}
	raw, err := os.ReadFile(*binary)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	doc := newSBOM(info, *version, time.Unix(*created, 0).UTC(), hex.EncodeToString(sum[:]))
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if *out == "" {
		_, err = os.Stdout.Write(data)
		return err
	}
	return os.WriteFile(*out, data, 0o644)
}

// newSBOM lists the main module (the binary, with its SHA-256), every module linked into it
// (replacements resolved), and the Go toolchain whose standard library it holds.
func newSBOM(info *debug.BuildInfo, version string, created time.Time, binarySHA256 string) spdxDocument {
	main := spdxPackage{
		SPDXID: "SPDXRef-Package-main", Name: info.Main.Path, VersionInfo: version,
		DownloadLocation: "NOASSERTION", PrimaryPurpose: "APPLICATION",
		Checksums:    []spdxChecksum{{Algorithm: "SHA256", Value: binarySHA256}},
		ExternalRefs: []spdxExternalRef{purl(info.Main.Path, version)},
		Comment:      "build settings: " + buildSettings(info),
	}
	golang := spdxPackage{
		SPDXID: "SPDXRef-Package-go", Name: "go", VersionInfo: strings.TrimPrefix(info.GoVersion, "go"),
		DownloadLocation: "https://go.dev/dl/", ExternalRefs: []spdxExternalRef{purl("stdlib", info.GoVersion)},
	}
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              info.Main.Path + "@" + version,
		DocumentNamespace: "https://" + info.Main.Path + "/spdx/" + version + "-" + binarySHA256[:12],
		CreationInfo: spdxCreationInfo{
			Created:  created.Format(time.RFC3339),
			Creators: []string{"Tool: consul-peering-guard hack/release sbom (Go build info)"},
		},
		Packages: []spdxPackage{main, golang},
		Relationships: []spdxRelationship{
			{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: main.SPDXID},
			{Element: main.SPDXID, Type: "DEPENDS_ON", Related: golang.SPDXID},
		},
	}
	deps := slicesSorted(info.Deps)
	for i, d := range deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		p := spdxPackage{
			SPDXID: fmt.Sprintf("SPDXRef-Package-%d", i+1), Name: m.Path, VersionInfo: m.Version,
			DownloadLocation: "https://proxy.golang.org/" + m.Path + "/@v/" + m.Version + ".zip",
			ExternalRefs:     []spdxExternalRef{purl(m.Path, m.Version)},
		}
		if m.Sum != "" {
			p.Comment = "go.sum " + m.Sum
		}
		if d.Replace != nil {
			p.Comment = strings.TrimSpace("replaces " + d.Path + " " + d.Version + "; " + p.Comment)
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{Element: main.SPDXID, Type: "DEPENDS_ON", Related: p.SPDXID})
	}
	return doc
}

func slicesSorted(deps []*debug.Module) []*debug.Module {
	out := append([]*debug.Module(nil), deps...)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// purl is the package URL of a Go module (https://github.com/package-url/purl-spec).
func purl(path, version string) spdxExternalRef {
	return spdxExternalRef{Category: "PACKAGE-MANAGER", Type: "purl", Locator: "pkg:golang/" + path + "@" + version}
}

func buildSettings(info *debug.BuildInfo) string {
	var kv []string
	for _, s := range info.Settings {
		if s.Key == "-ldflags" {
			continue // holds the version stamp, already the package version
		}
		kv = append(kv, s.Key+"="+s.Value)
	}
	return strings.Join(kv, " ")
}
