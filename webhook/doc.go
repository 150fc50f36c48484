// Package webhook answers admission reviews: one handler per kind, served at the kind's Path
// (/validate-consul-hashicorp-com-v1alpha1-mesh, /validate-apps-v1-deployment, ...), that
// decodes the AdmissionReview, runs the rule engine and renders its verdict (handler.go, top
// to bottom), with bounded work per review; plus the gate that answers exempt namespaces and
// refuses reviews until the state has synced, and the admission metrics.
package webhook
