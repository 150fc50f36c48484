// Package framework is the harness of the end-to-end, chart and reliability tests (and of
// the demo): it starts the real components they need, kube-apiserver and etcd through
// controller-runtime's envtest (binaries from bin/), TLS certificates, the
// consul-peering-guard binary started as production starts it and kubectl; builds and
// registers the ValidatingWebhookConfiguration that routes reviews to it (the chart renders
// the production one); and applies the example folders and reads what each documents in its
// .example file.
package framework
