//go:build tools

// Package tools pins the Kyverno binary make bench-peers runs.
package tools

import _ "github.com/kyverno/kyverno/cmd/kyverno"
