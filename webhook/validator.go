package webhook

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// object is what every one of the six kinds is: a runtime.Object with metadata.
type object interface {
	runtime.Object
	metav1.Object
}

// maxDenialLogLines bounds the log lines of one review; an object with thousands of
// violations gets a summary line after these.
const maxDenialLogLines = 20

// Validator is the admission.Validator of one kind: it gets the decoded object (from our
// single-pass handler), runs the engine and turns the verdict into a 422 Invalid error with
// one cause per denial plus warnings.
type Validator[T object] struct {
	kind    validators.Kind
	engine  *validators.Engine
	state   validators.ClusterState
	log     logr.Logger
	metrics *Metrics
}

var (
	_ admission.Validator[*v1alpha1.Mesh]             = &Validator[*v1alpha1.Mesh]{}
	_ admission.Validator[*v1alpha1.ProxyDefaults]    = &Validator[*v1alpha1.ProxyDefaults]{}
	_ admission.Validator[*v1alpha1.ServiceDefaults]  = &Validator[*v1alpha1.ServiceDefaults]{}
	_ admission.Validator[*v1alpha1.ExportedServices] = &Validator[*v1alpha1.ExportedServices]{}
	_ admission.Validator[*v1alpha1.PeeringAcceptor]  = &Validator[*v1alpha1.PeeringAcceptor]{}
	_ admission.Validator[*v1alpha1.PeeringDialer]    = &Validator[*v1alpha1.PeeringDialer]{}
)

// ValidateCreate implements admission.Validator.
func (v *Validator[T]) ValidateCreate(ctx context.Context, obj T) (admission.Warnings, error) {
	return v.validate(ctx, validators.Create, obj, nil)
}

// ValidateUpdate implements admission.Validator.
func (v *Validator[T]) ValidateUpdate(ctx context.Context, oldObj, newObj T) (admission.Warnings, error) {
	return v.validate(ctx, validators.Update, newObj, oldObj)
}

// ValidateDelete implements admission.Validator: deletes are always allowed, so a broken
// object can always be removed.
func (v *Validator[T]) ValidateDelete(context.Context, T) (admission.Warnings, error) {
	return nil, nil
}

func (v *Validator[T]) validate(ctx context.Context, op validators.Operation, obj T, old runtime.Object) (admission.Warnings, error) {
	start := time.Now()
	if old != nil {
		if o, ok := old.(T); ok && isNil(o) {
			old = nil
		}
	}
	res, err := v.engine.Validate(op, obj, old, v.state)
	if err != nil {
		v.log.Error(err, "validation failed", "kind", v.kind, "namespace", obj.GetNamespace(), "name", obj.GetName())
		return nil, apierrors.NewInternalError(err)
	}
	v.metrics.observe(v.kind, op, &res, time.Since(start))
	user, dryRun := "", false
	if req, err := admission.RequestFromContext(ctx); err == nil {
		user = req.UserInfo.Username
		dryRun = req.DryRun != nil && *req.DryRun
	}
	logged := 0
	for _, viol := range res.Violations {
		if viol.Action != validators.Deny {
			continue
		}
		if logged == maxDenialLogLines {
			v.log.Info("more denials not logged", "kind", v.kind, "namespace", obj.GetNamespace(), "name", obj.GetName(),
				"denials", len(res.Denials()))
			break
		}
		logged++
		v.log.Info("denied", "kind", v.kind, "namespace", obj.GetNamespace(), "name", obj.GetName(),
			"operation", op, "rule", viol.Rule, "field", viol.Error.Field, "user", user, "dryRun", dryRun)
	}
	warnings := res.Warnings()
	if !res.Allowed() {
		gk := schema.GroupKind{Group: v1alpha1.Group, Kind: string(v.kind)}
		return warnings, apierrors.NewInvalid(gk, obj.GetName(), res.Denials())
	}
	return warnings, nil
}

func isNil[T object](o T) bool {
	var zero T
	return any(o) == any(zero)
}
