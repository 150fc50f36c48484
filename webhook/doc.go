// Package webhook answers admission reviews: one handler per kind, served at
// /validate-consul-hashicorp-com-v1alpha1-<kind>, that decodes the AdmissionReview, runs the
// rule engine and renders its verdict (handler.go, top to bottom), with bounded work per
// review; plus the informer handlers that keep the state index current and the admission
// metrics.
package webhook
