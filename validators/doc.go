// Package validators is the rule engine of consul-peering-guard: the catalogue of rules,
// the per-rule actions and the pure functions that check one consul-k8s object against
// Consul's cluster-peering specification.
//
// Nothing here talks to a network, an HTTP library or a Kubernetes client. Rules that need
// other objects read them through the narrow ClusterState interface; the webhook backs it
// with informer caches, the offline CLI with the manifests it was given.
package validators
