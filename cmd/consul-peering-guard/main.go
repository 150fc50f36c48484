// Command consul-peering-guard is the project's one binary, a thin command line over the
// command tree of package app.
package main

import (
	"os"

	"github.com/consul-peering-guard/consul-peering-guard/cmd/consul-peering-guard/app"
)

// Stamped by make build, make image-build-check and the Dockerfile with -ldflags "-X
// main.version=v0.1.0 -X main.revision=<git sha> -X main.buildDate=<commit date, RFC 3339>"
// (app.Build says what an empty one means).
var (
	version   string
	revision  string
	buildDate string
)

func main() {
	os.Exit(app.Run(os.Args[1:], os.Stdout, os.Stderr, app.Build{Version: version, Revision: revision, Date: buildDate}))
}
