// Command release holds the steps of `make release` and `make publish` that need more than
// the go and helm commands:
//
//	release sbom -binary FILE -version V -created UNIX -out FILE   an SPDX 2.3 JSON SBOM from the binary's Go build info
//	release checksums -dir DIR FILE...                              DIR/SHA256SUMS of the files (paths relative to DIR)
//	release push-image -layout DIR -ref REPO:TAG                    push the OCI layout's image index to a registry
//
// push-image authenticates as crane and docker do (~/.docker/config.json, credential helpers).
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: release sbom|checksums|push-image [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "sbom":
		err = sbomCommand(os.Args[2:])
	case "checksums":
		err = checksumsCommand(os.Args[2:])
	case "push-image":
		err = pushImageCommand(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want sbom, checksums or push-image", os.Args[1])
	}
	var usage usageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

// usageError is a mistake on the command line (exit 2).
type usageError struct{ error }
