package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// FieldManager is the server-side apply field manager of the webhook configuration serve
// registers: every replica applies the same object under it, so a second apply changes nothing.
const FieldManager = "consul-peering-guard"

// Registration is the ValidatingWebhookConfiguration serve applies once it can answer
// reviews, so that a webhook that never starts (a missing image, a crash loop, a bad value)
// never blocks a write.
type Registration struct {
	// File holds the configuration as YAML (the chart mounts the ConfigMap it renders);
	// empty registers nothing.
	File string
	// Owner is the ClusterRole the configuration is owned by: when it is deleted (helm
	// uninstall), Kubernetes' garbage collector deletes the configuration.
	Owner string
}

// ReadWebhookConfiguration reads and checks a configuration file: one
// ValidatingWebhookConfiguration (admissionregistration.k8s.io/v1) with a name, at least one
// entry, and every entry calling the same Service. Unknown fields are refused: the API server
// would drop them, and with them what the author meant.
func ReadWebhookConfiguration(path string) (*unstructured.Unstructured, *admissionregistrationv1.ServiceReference, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var typed admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(raw, &typed); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if typed.APIVersion != admissionregistrationv1.SchemeGroupVersion.String() || typed.Kind != "ValidatingWebhookConfiguration" {
		return nil, nil, fmt.Errorf("%s: apiVersion %q kind %q, want %s ValidatingWebhookConfiguration", path, typed.APIVersion, typed.Kind, admissionregistrationv1.SchemeGroupVersion)
	}
	if typed.Name == "" || len(typed.Webhooks) == 0 {
		return nil, nil, fmt.Errorf("%s: a configuration needs metadata.name and at least one webhook", path)
	}
	svc := typed.Webhooks[0].ClientConfig.Service
	for _, w := range typed.Webhooks {
		s := w.ClientConfig.Service
		if s == nil || svc == nil || s.Name != svc.Name || s.Namespace != svc.Namespace {
			return nil, nil, fmt.Errorf("%s: webhook %s: every entry must call the same Service (clientConfig.service)", path, w.Name)
		}
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, svc, nil
}

// registrar applies the configuration once ready() holds and the Service the configuration
// calls has a ready endpoint: before that, the API server would find nobody to call and,
// with failurePolicy Fail, refuse the write.
type registrar struct {
	obj      *unstructured.Unstructured
	svc      *admissionregistrationv1.ServiceReference
	reader   client.Reader
	writer   client.Client
	reg      Registration
	ready    func() bool
	log      logr.Logger
	interval time.Duration
}

// NeedLeaderElection is false: every replica applies the same object, which is idempotent.
func (r *registrar) NeedLeaderElection() bool { return false }

// Start waits until serve is ready, then applies the configuration, retrying on errors
// (each logged with what to fix) until ctx ends.
func (r *registrar) Start(ctx context.Context) error {
	wait := r.interval
	for {
		err := r.tryApply(ctx, r.obj, r.svc)
		if err == nil {
			r.log.Info("registered the webhook configuration", "name", r.obj.GetName(), "owner", r.reg.Owner)
			return nil
		}
		if !errors.Is(err, errNotYet) {
			r.log.Error(err, "cannot register the webhook configuration; Consul writes are not checked until it is", "name", r.obj.GetName())
			wait = min(2*wait, 30*time.Second)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// errNotYet: serve or its Service is not ready yet; not an error to report.
var errNotYet = errors.New("not ready yet")

func (r *registrar) tryApply(ctx context.Context, obj *unstructured.Unstructured, svc *admissionregistrationv1.ServiceReference) error {
	if !r.ready() {
		return errNotYet
	}
	ok, err := r.serviceHasReadyEndpoint(ctx, svc)
	if err != nil {
		return fmt.Errorf("reading the EndpointSlices of Service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	if !ok {
		return errNotYet
	}
	apply := obj.DeepCopy()
	if r.reg.Owner != "" {
		var owner rbacv1.ClusterRole
		if err := r.reader.Get(ctx, client.ObjectKey{Name: r.reg.Owner}, &owner); err != nil {
			return fmt.Errorf("reading ClusterRole %s, the configuration's owner: %w", r.reg.Owner, err)
		}
		apply.SetOwnerReferences([]metav1.OwnerReference{{
			APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole", Name: owner.Name, UID: owner.UID,
		}})
	}
	return r.writer.Apply(ctx, client.ApplyConfigurationFromUnstructured(apply), client.FieldOwner(FieldManager), client.ForceOwnership)
}

// serviceHasReadyEndpoint reports whether an EndpointSlice of the Service lists a ready
// endpoint: the API server resolves the Service through them.
func (r *registrar) serviceHasReadyEndpoint(ctx context.Context, svc *admissionregistrationv1.ServiceReference) (bool, error) {
	var slices discoveryv1.EndpointSliceList
	if err := r.reader.List(ctx, &slices, client.InNamespace(svc.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}); err != nil {
		return false, err
	}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if len(e.Addresses) > 0 && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				return true, nil
			}
		}
	}
	return false, nil
}
