// Package webhook adapts the rule engine to controller-runtime: one typed admission
// validator per kind, served at /validate-consul-hashicorp-com-v1alpha1-<kind>, the gate that
// answers exempt namespaces and refuses reviews until the state has synced, the watcher
// whose informers keep the state index current (kinds without a CRD left unwatched until it
// appears), the webhook configuration and the admission metrics.
package webhook
