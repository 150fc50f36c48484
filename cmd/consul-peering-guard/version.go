package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Stamped at build time by make build, make image-build-check and the Dockerfile:
//
//	-ldflags "-X main.version=v0.1.0 -X main.revision=<git sha> -X main.buildDate=<RFC 3339>"
//
// buildDate is the commit date of the revision, not the time of the build, so that two builds
// of one commit are the same bytes; its JSON key stays buildDate for the scripts that read it.
// A plain go build or go install leaves them empty; versionInfo then falls back to what the
// Go toolchain recorded (the module version for go install ...@vX, the VCS revision for a
// build inside a git checkout) and says unknown for the date.
var (
	version   string
	revision  string
	buildDate string
)

// VersionInfo is what `version -o json` prints.
type VersionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	// BuildDate is the commit date of Revision (make build stamps it so).
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func versionInfo() VersionInfo {
	v := VersionInfo{
		Version:   version,
		Revision:  revision,
		BuildDate: buildDate,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && v.Revision == "" {
				v.Revision = s.Value
			}
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Revision == "" {
		v.Revision = "unknown"
	}
	if v.BuildDate == "" {
		v.BuildDate = "unknown"
	}
	return v
}

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, git revision, its commit date and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo()
			switch output {
			case "text":
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "consul-peering-guard %s (revision %s, commit date %s, %s, %s)\n",
					v.Version, v.Revision, v.BuildDate, v.GoVersion, v.Platform)
				return err
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			default:
				return &exitError{code: exitUsage, err: fmt.Errorf("--output %q: want text or json", output)}
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
