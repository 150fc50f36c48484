// Package framework starts the real components the end-to-end, chart and reliability tests
// need: kube-apiserver and etcd through controller-runtime's envtest (binaries from bin/),
// TLS certificates, the consul-peering-guard binary started as production starts it, its
// ValidatingWebhookConfiguration, and kubectl.
package framework
