// Package webhook adapts the rule engine to controller-runtime: one typed admission
// validator per kind, served at /validate-consul-hashicorp-com-v1alpha1-<kind>, the informer
// handlers that keep the state index current, and the admission metrics.
package webhook
