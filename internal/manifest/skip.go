package manifest

import (
	"bytes"
	"regexp"
)

// helmAction matches a Go template action as Helm charts write them ({{- ...}}, {{ .Values.x }},
// {{ include ... }}, {{ if ... }}, ...), but not GitHub Actions expressions (${{ ... }}), which
// workflow files hold and which are no template of the file.
var helmAction = regexp.MustCompile(`(^|[^$])\{\{(-|\s*(/\*|\.Values\b|\.Release\b|\.Chart\b|\.Capabilities\b|\.Files\b|\.Template\b|\$|include\b|template\b|tpl\b|toYaml\b|if\b|else\b|end\b|range\b|with\b|define\b|block\b|printf\b|required\b|default\b|quote\b))`)

// anyAction matches any {{ that is not a GitHub Actions expression.
var anyAction = regexp.MustCompile(`(^|[^$])\{\{`)

// templateHint is the reason given for a skipped template: how to validate what it renders.
const templateHint = "Helm template, not a manifest: render it first, e.g. helm template RELEASE CHART | consul-peering-guard validate -f -"

// isHelmTemplate reports whether a file holds Helm's template syntax. A Consul escape hatch such
// as envoy_bootstrap_json_tpl may hold {{ .AgentAddress }} in a string; that alone is data.
func isHelmTemplate(raw []byte) bool {
	return helmAction.Match(raw)
}

// mayBeTemplate reports whether a file that is not valid YAML may be a template (of Helm or
// another tool) rather than a broken manifest.
func mayBeTemplate(raw []byte) bool {
	return bytes.Contains(raw, []byte("{{")) && anyAction.Match(raw)
}
