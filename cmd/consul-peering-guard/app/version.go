package app

import (
	"cmp"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Build is what the binary was stamped with at build time (main's -ldflags -X variables).
// Date is the commit date of the revision, not the time of the build; its JSON key stays
// buildDate for the scripts that read it. Empty fields fall back to what the Go toolchain
// recorded (the module version for go install ...@vX, the VCS revision for a build inside a
// git checkout), and unknown for the date.
type Build struct {
	Version, Revision, Date string
}

// VersionInfo is what `version -o json` prints.
type VersionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	// BuildDate is the commit date of Revision (make build stamps it so).
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func versionInfo(b Build) VersionInfo {
	v := VersionInfo{
		Version:   b.Version,
		Revision:  b.Revision,
		BuildDate: b.Date,
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
	v.Version = cmp.Or(v.Version, "dev")
	v.Revision = cmp.Or(v.Revision, "unknown")
	v.BuildDate = cmp.Or(v.BuildDate, "unknown")
	return v
}

func newVersionCommand(b Build) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, git revision, its commit date and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo(b)
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
