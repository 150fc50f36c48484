package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	sigsjson "sigs.k8s.io/json"

	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// MaxRequestBytes bounds an AdmissionReview body (the same 7 MiB as controller-runtime; the
// API server refuses objects over about 1.5 MiB long before that).
const MaxRequestBytes = 7 << 20

// typedReview is an admission.k8s.io/v1 AdmissionReview whose objects decode straight into
// the kind's Go type. controller-runtime's admission.Webhook decodes a body four times (the
// review and the object, each once to sniff its kind and once for real); decoding it once
// is what keeps our own time close to that of a webhook that does nothing.
type typedReview[T any] struct {
	metav1.TypeMeta `json:",inline"`
	Request         *typedRequest[T] `json:"request"`
}

type typedRequest[T any] struct {
	UID       types.UID                   `json:"uid"`
	Kind      metav1.GroupVersionKind     `json:"kind"`
	Resource  metav1.GroupVersionResource `json:"resource"`
	Name      string                      `json:"name"`
	Namespace string                      `json:"namespace"`
	Operation admissionv1.Operation       `json:"operation"`
	UserInfo  authenticationv1.UserInfo   `json:"userInfo"`
	Object    T                           `json:"object"`
	OldObject T                           `json:"oldObject"`
	DryRun    *bool                       `json:"dryRun"`
}

// handler serves the typed admission.Validator of one kind over HTTP.
type handler[T object] struct {
	kind      validators.Kind
	validator admission.Validator[T]
	log       logr.Logger
	metrics   *Metrics
	gate      *Gate
}

var reviewGVK = admissionv1.SchemeGroupVersion.WithKind("AdmissionReview")

func (h *handler[T]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "admission reviews are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		h.reject(w, http.StatusUnsupportedMediaType, fmt.Errorf("contentType=%s, expected application/json", ct))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		h.reject(w, http.StatusBadRequest, fmt.Errorf("reading the request: %w", err))
		return
	}
	if len(body) > MaxRequestBytes {
		h.reject(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request entity is too large; limit is %d bytes", MaxRequestBytes))
		return
	}
	// Keys match case-sensitively, as the API server decodes: encoding/json would read a
	// "Peer" key as peer.
	var review typedReview[T]
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(body, &review); err != nil {
		// A well-formed review whose object has a field of the wrong type is answered as a
		// review, so that the message naming the field reaches kubectl.
		var head struct {
			Request struct {
				UID types.UID `json:"uid"`
			} `json:"request"`
		}
		if sigsjson.UnmarshalCaseSensitivePreserveInts(body, &head) == nil && head.Request.UID != "" {
			resp := errored(http.StatusBadRequest, decodeError(err))
			resp.UID = head.Request.UID
			h.metrics.countError(h.kind, http.StatusBadRequest)
			h.encode(w, resp)
			return
		}
		h.reject(w, http.StatusBadRequest, decodeError(err))
		return
	}
	if review.GroupVersionKind() != reviewGVK || review.Request == nil {
		h.reject(w, http.StatusBadRequest, fmt.Errorf("expected an %s with a request", reviewGVK))
		return
	}
	req := review.Request
	resp := h.handle(r.Context(), req)
	resp.UID = req.UID
	if res := resp.Result; res != nil && res.Code != http.StatusUnprocessableEntity && res.Code != http.StatusForbidden {
		h.metrics.countError(h.kind, res.Code)
	}
	h.encode(w, resp)
}

func (h *handler[T]) handle(ctx context.Context, req *typedRequest[T]) (resp *admissionv1.AdmissionResponse) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error(fmt.Errorf("%v", p), "panic while validating", "kind", h.kind, "name", req.Name)
			resp = errored(http.StatusInternalServerError, errors.New("internal error while validating"))
		}
	}()
	if req.Kind.Group != v1alpha1.Group || req.Kind.Kind != string(h.kind) {
		return errored(http.StatusBadRequest, fmt.Errorf("this path validates %s, not %s", h.kind, req.Kind.Kind))
	}
	for _, o := range []T{req.Object, req.OldObject} {
		if isNil(o) {
			continue
		}
		if gvk := o.GetObjectKind().GroupVersionKind(); gvk.GroupVersion() != v1alpha1.GroupVersion || gvk.Kind != string(h.kind) {
			return errored(http.StatusBadRequest, fmt.Errorf("this path validates %s %s, the object is %q %q", v1alpha1.GroupVersion, h.kind, gvk.GroupVersion(), gvk.Kind))
		}
	}
	if resp := h.gate.Check(h.kind, req.Operation, req.Namespace); resp != nil {
		return resp
	}
	ctx = admission.NewContextWithRequest(ctx, admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: req.UID, Kind: req.Kind, Resource: req.Resource, Name: req.Name, Namespace: req.Namespace,
		Operation: req.Operation, UserInfo: req.UserInfo, DryRun: req.DryRun,
	}})
	var (
		warnings admission.Warnings
		err      error
	)
	switch req.Operation {
	case admissionv1.Create:
		if isNil(req.Object) {
			return errored(http.StatusBadRequest, errors.New("there is no content to decode: request.object is missing"))
		}
		warnings, err = h.validator.ValidateCreate(ctx, req.Object)
	case admissionv1.Update:
		if isNil(req.Object) || isNil(req.OldObject) {
			return errored(http.StatusBadRequest, errors.New("there is no content to decode: request.object and request.oldObject are required"))
		}
		warnings, err = h.validator.ValidateUpdate(ctx, req.OldObject, req.Object)
	case admissionv1.Delete, admissionv1.Connect:
		return &admissionv1.AdmissionResponse{Allowed: true}
	default:
		return errored(http.StatusBadRequest, fmt.Errorf("unknown operation %q", req.Operation))
	}
	resp = &admissionv1.AdmissionResponse{Allowed: err == nil, Warnings: warnings}
	if err != nil {
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			s := status.Status()
			resp.Result = &s
		} else {
			resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: err.Error()}
		}
	}
	return resp
}

func errored(code int32, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Status: metav1.StatusFailure, Code: code, Message: err.Error()}}
}

// reject answers a request that could not be read as a review.
func (h *handler[T]) reject(w http.ResponseWriter, code int32, err error) {
	h.log.Info("bad admission request", "kind", h.kind, "error", err.Error())
	h.metrics.countError(h.kind, code)
	resp := errored(code, err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(code))
	h.encode(w, resp)
}

func (h *handler[T]) encode(w http.ResponseWriter, resp *admissionv1.AdmissionResponse) {
	out := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: reviewGVK.GroupVersion().String(), Kind: reviewGVK.Kind}, Response: resp}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		h.log.Error(err, "writing the admission response")
	}
}

// decodeError names the field of a JSON type mismatch, as kubectl users expect.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Errorf("field %s: cannot use a JSON %s as %s", typeErr.Field, typeErr.Value, typeErr.Type)
	}
	return fmt.Errorf("malformed AdmissionReview: %w", err)
}
