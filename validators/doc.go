// Package validators is the rule engine of consul-peering-guard: the catalogue of rules,
// the per-rule actions and the pure functions that check one consul-k8s object against
// Consul's cluster-peering specification.
//
// Nothing here talks to a network, an HTTP library or a Kubernetes client. Rules that need
// other objects read them through the narrow ClusterState interface; the webhook backs it
// with informer caches, the offline CLI with the manifests it was given.
//
// # Where things are
//
//   - view.go: the view of the object under review, built once per review and only for what
//     a rule reads: its upstreams (ServiceDefaults overrides, upstreams-annotation entries,
//     ServiceResolver targets) with their field paths, its gateway modes, its consumers. The
//     decoded proxy config is proxyconfig_decode.go's part of it; annotation.go parses the
//     upstreams annotation and reports syntax only.
//   - One file per rule family, each rule whole in it (its Go check, its CEL, the messages
//     both share): gateway.go, placement.go, upstreams.go, workloads.go (the annotation's own
//     rules), exported.go, names.go, peering.go, references.go, proxyconfig.go, version.go,
//     pairing_rules.go (two clusters); helpers.go has the messages of several families. A
//     rule about upstreams is written once over the view's upstreams, for overrides and
//     annotation entries alike; upstreamError reports it where each is written.
//   - cel.go: the machinery a rule's CEL is written with (celGen, listSite, nestedSite, the
//     object shapes), Rule.CEL and the policies' parameter (PolicyParams).
//   - catalogue.go: every rule as data (name, family, default action, kinds, check).
//   - engine.go: a review in stages, each a function: evaluate the rules to findings, demote
//     what is only worth a warning, ratchet an update against the stored object by (rule,
//     field path, offending value), cap what one rule says, render.
//   - limits.go: every bound on a review's cost and an answer's length.
//
// # Adding a rule
//
// A rule is its row in catalogue.go plus its family's file, which holds its Go check, its
// CEL and its messages together; internal/policies/equivalence_test.go binds the two forms,
// running every table case through the engine and through the API server's own policy
// evaluator. Write the check as a function of the view: func(*ObjectInput) field.ErrorList
// when it reads the object alone, func(*Input) field.ErrorList when it reads the cluster
// too. Report each finding with a field path and, where the message leaves the offending
// value out, name it with identify so that updates ratchet by it; mark with warnOnly a
// finding the specification scopes to a warning. An object-only rule also needs, beside its
// check, its CEL (func(*celGen, kinds.Kind), using the same message constants through
// celFormat) or the reason it has none (webhookOnly). Add its row to catalogue.go, a
// passing and a failing case to the family's table test, and run go test ./validators
// -update-rule-errors to record its whole errors.
package validators
