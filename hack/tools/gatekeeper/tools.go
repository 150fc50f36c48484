//go:build tools

// Package tools pins the Gatekeeper binary make bench-peers runs.
package tools

import _ "github.com/open-policy-agent/gatekeeper/v3"
