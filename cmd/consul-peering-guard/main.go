// Command consul-peering-guard is the project's one binary, a thin command line over the
// command tree of package app.
package main

import (
	"os"

	"github.com/consul-peering-guard/consul-peering-guard/cmd/consul-peering-guard/app"
)

// Stamped at build time by make build, make image-build-check and the Dockerfile:
//
//	-ldflags "-X main.version=v0.1.0 -X main.revision=<git sha> -X main.buildDate=<RFC 3339>"
//
// buildDate is the commit date of the revision, not the time of the build, so that two builds
// of one commit are the same bytes. A plain go build or go install leaves them empty; the
// version command then falls back to what the Go toolchain recorded.
var (
	version   string
	revision  string
	buildDate string
)

func main() {
	os.Exit(app.Run(os.Args[1:], os.Stdout, os.Stderr, app.Build{Version: version, Revision: revision, Date: buildDate}))
}
