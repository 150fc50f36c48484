package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

// MaxRequestBytes bounds an AdmissionReview body to what the API server can really send: an
// UPDATE carries the object and its old version, each at most etcd's 1.5 MiB request limit,
// plus the review around them.
const MaxRequestBytes = 3<<20 + 512<<10

// MaxCauses bounds the causes of one denial, as validators.MaxWarnings bounds warnings: when
// there are more, the last cause says how many, so one object cannot make a response (and
// the work of building it) grow without end.
const MaxCauses = 20

// maxCauseBytes bounds the field path and the message of one cause; a rule's message quotes
// the offending value, which an object can make as long as it likes.
const maxCauseBytes = 512

// maxDenialLogLines bounds the log lines of one review; an object with thousands of
// violations gets a summary line after these.
const maxDenialLogLines = 20

// inFlightPerCPU sizes the default number of reviews served at once: a review is CPU-bound
// and short, so a few per CPU keep the CPUs busy while the API server's connections wait
// on the network.
const inFlightPerCPU = 8

// DefaultMaxInFlight is the number of reviews served at once unless configured: eight per
// CPU the Go runtime may use (GOMAXPROCS, which follows the container's CPU limit).
func DefaultMaxInFlight() int { return inFlightPerCPU * runtime.GOMAXPROCS(0) }

// DefaultMaxInFlightBytes bounds the request bodies being judged at once unless configured:
// one review of the largest size plus room for ordinary ones beside it. Memory follows body
// size: an object with a quarter of a million duplicate overrides (3.4 MiB) holds about
// 200 MiB while the engine lists its violations, so a count of reviews alone would let a
// handful of them exhaust any reasonable memory limit.
const DefaultMaxInFlightBytes = MaxRequestBytes + 512<<10

// retryAfterSeconds is what a review refused for lack of capacity is told to wait; the API
// server's client honours Retry-After within the webhook's timeout.
const retryAfterSeconds = 1

// capacity bounds the reviews in flight, by number (CPU) and by body bytes (memory).
type capacity struct {
	mu                   sync.Mutex
	reviews, bytes       int64
	maxReviews, maxBytes int64
}

// take reserves room for a review whose body has n bytes; false means there is none now.
func (c *capacity) take(n int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reviews+1 > c.maxReviews || c.bytes+n > c.maxBytes {
		return false
	}
	c.reviews++
	c.bytes += n
	return true
}

func (c *capacity) give(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reviews--
	c.bytes -= n
}

// object is what every reviewed kind is: a runtime.Object with metadata.
type object interface {
	kruntime.Object
	metav1.Object
}

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

// reviewer answers the admission reviews of one kind: it decodes the review, runs the engine
// and renders the verdict. The reviewers of every kind share one capacity.
type reviewer[T object] struct {
	kind     kinds.Kind
	gv       schema.GroupVersion
	engine   *validators.Engine
	state    validators.ClusterState
	log      logr.Logger
	metrics  *Metrics
	capacity *capacity
	gate     *Gate
}

var reviewGVK = admissionv1.SchemeGroupVersion.WithKind("AdmissionReview")

func (rv *reviewer[T]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "admission reviews are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		rv.reject(w, http.StatusUnsupportedMediaType, fmt.Errorf("contentType=%s, expected application/json", ct))
		return
	}
	if r.ContentLength > MaxRequestBytes {
		rv.reject(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request entity is too large; limit is %d bytes", MaxRequestBytes))
		return
	}
	// Reading and judging a review is where memory and CPU go, so it happens only within
	// the capacity; a review beyond it is refused at once rather than queued behind the
	// others. A body of unknown length is charged the largest size.
	size := r.ContentLength
	if size < 0 {
		size = MaxRequestBytes
	}
	if !rv.capacity.take(size) {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		rv.reject(w, http.StatusTooManyRequests, fmt.Errorf("the webhook is judging as many reviews (%d) or bytes (%d) as it may at once; retry",
			rv.capacity.maxReviews, rv.capacity.maxBytes))
		return
	}
	defer rv.capacity.give(size)
	body, err := io.ReadAll(io.LimitReader(r.Body, size+1))
	if err != nil {
		rv.reject(w, http.StatusBadRequest, fmt.Errorf("reading the request: %w", err))
		return
	}
	if len(body) > MaxRequestBytes {
		rv.reject(w, http.StatusRequestEntityTooLarge, fmt.Errorf("request entity is too large; limit is %d bytes", MaxRequestBytes))
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
			rv.metrics.countError(rv.kind, http.StatusBadRequest)
			rv.encode(w, resp)
			return
		}
		rv.reject(w, http.StatusBadRequest, decodeError(err))
		return
	}
	if review.GroupVersionKind() != reviewGVK || review.Request == nil {
		rv.reject(w, http.StatusBadRequest, fmt.Errorf("expected an %s with a request", reviewGVK))
		return
	}
	req := review.Request
	resp := rv.review(r.Context(), req)
	if resp == nil {
		// The API server gave up on this review (its timeout passed or it went away): nobody
		// reads an answer, so none is rendered.
		rv.log.V(1).Info("review abandoned by the client", "kind", rv.kind, "namespace", req.Namespace, "name", req.Name)
		return
	}
	resp.UID = req.UID
	if res := resp.Result; res != nil && res.Code != http.StatusUnprocessableEntity {
		rv.metrics.countError(rv.kind, res.Code)
	}
	rv.encode(w, resp)
}

// review judges one decoded request. It returns nil when ctx ended before the verdict was
// rendered.
func (rv *reviewer[T]) review(ctx context.Context, req *typedRequest[T]) (resp *admissionv1.AdmissionResponse) {
	defer func() {
		if p := recover(); p != nil {
			rv.log.Error(fmt.Errorf("%v", p), "panic while validating", "kind", rv.kind, "name", req.Name)
			resp = errored(http.StatusInternalServerError, errors.New("internal error while validating"))
		}
	}()
	if req.Kind.Group != rv.gv.Group || req.Kind.Kind != string(rv.kind) {
		return errored(http.StatusBadRequest, fmt.Errorf("this path validates %s, not %s", rv.kind, req.Kind.Kind))
	}
	for _, o := range []T{req.Object, req.OldObject} {
		if isNil(o) {
			continue
		}
		if gvk := o.GetObjectKind().GroupVersionKind(); gvk.GroupVersion() != rv.gv || gvk.Kind != string(rv.kind) {
			return errored(http.StatusBadRequest, fmt.Errorf("this path validates %s %s, the object is %q %q", rv.gv, rv.kind, gvk.GroupVersion(), gvk.Kind))
		}
	}
	if resp := rv.gate.Check(rv.kind, req.Operation, req.Namespace); resp != nil {
		return resp
	}
	var (
		op  validators.Operation
		old kruntime.Object
	)
	switch req.Operation {
	case admissionv1.Create:
		if isNil(req.Object) {
			return errored(http.StatusBadRequest, errors.New("there is no content to decode: request.object is missing"))
		}
		op = validators.Create
	case admissionv1.Update:
		if isNil(req.Object) || isNil(req.OldObject) {
			return errored(http.StatusBadRequest, errors.New("there is no content to decode: request.object and request.oldObject are required"))
		}
		op, old = validators.Update, req.OldObject
	case admissionv1.Delete, admissionv1.Connect:
		// A broken object can always be removed.
		return &admissionv1.AdmissionResponse{Allowed: true}
	default:
		return errored(http.StatusBadRequest, fmt.Errorf("unknown operation %q", req.Operation))
	}
	if ctx.Err() != nil {
		return nil
	}
	start := time.Now()
	res, err := rv.engine.Validate(op, req.Object, old, rv.state)
	if err != nil {
		rv.log.Error(err, "validation failed", "kind", rv.kind, "namespace", req.Namespace, "name", req.Name)
		return errored(http.StatusInternalServerError, fmt.Errorf("internal error occurred: %w", err))
	}
	rv.metrics.observe(rv.kind, op, &res, time.Since(start))
	if ctx.Err() != nil {
		return nil
	}
	rv.logDenials(req, op, &res)
	return verdict(rv.kind, rv.gv.Group, req.Object.GetName(), &res)
}

// verdict renders the engine's result as an AdmissionResponse: allowed with warnings, or
// denied with a Kubernetes Invalid status (422) carrying one cause per denial, at most
// MaxCauses, and a message in the form of apierrors.NewInvalid. It is built here, in time
// linear in what it shows, because NewInvalid joins every error into its message by
// repeated concatenation, quadratic in their number.
func verdict(kind kinds.Kind, group, name string, res *validators.Result) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{Allowed: true, Warnings: res.Warnings()}
	denials := 0
	for _, v := range res.Violations {
		if v.Action == validators.Deny {
			denials++
		}
	}
	if denials == 0 {
		return resp
	}
	listed := denials
	if denials > MaxCauses {
		listed = MaxCauses - 1
	}
	causes := make([]metav1.StatusCause, 0, min(denials, MaxCauses))
	var msg strings.Builder
	qualified := string(kind)
	if group != "" {
		qualified += "." + group
	}
	fmt.Fprintf(&msg, "%s %q is invalid: ", qualified, clip(name, maxCauseBytes, ""))
	if denials > 1 {
		msg.WriteByte('[')
	}
	for _, v := range res.Violations {
		if v.Action != validators.Deny {
			continue
		}
		if len(causes) == listed {
			break
		}
		c := metav1.StatusCause{
			Type:    metav1.CauseType(v.Error.Type),
			Field:   clip(v.Error.Field, maxCauseBytes, ""),
			Message: clip(v.Error.ErrorBody(), maxCauseBytes, " ("+v.Rule+")"),
		}
		if len(causes) > 0 {
			msg.WriteString(", ")
		}
		msg.WriteString(c.Field + ": " + c.Message)
		causes = append(causes, c)
	}
	if denials > listed {
		more := metav1.StatusCause{
			Type:    metav1.CauseType(field.ErrorTypeTooMany),
			Message: fmt.Sprintf("%d more denials; consul-peering-guard validate lists them all", denials-listed),
		}
		msg.WriteString(", " + more.Message)
		causes = append(causes, more)
	}
	if denials > 1 {
		msg.WriteByte(']')
	}
	resp.Allowed = false
	resp.Result = &metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusUnprocessableEntity,
		Reason:  metav1.StatusReasonInvalid,
		Message: msg.String(),
		Details: &metav1.StatusDetails{Group: group, Kind: string(kind), Name: name, Causes: causes},
	}
	return resp
}

// clip shortens s to at most n bytes on a rune boundary, marking the cut with "…" and
// keeping suffix (a rule name) when s ends with it.
func clip(s string, n int, suffix string) string {
	if len(s) <= n {
		return s
	}
	if !strings.HasSuffix(s, suffix) {
		suffix = ""
	}
	keep := n - len(suffix) - len("…")
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:max(keep, 0)] + "…" + suffix
}

// logDenials logs who was denied what, one line per denial up to maxDenialLogLines.
func (rv *reviewer[T]) logDenials(req *typedRequest[T], op validators.Operation, res *validators.Result) {
	dryRun := req.DryRun != nil && *req.DryRun
	logged := 0
	for _, v := range res.Violations {
		if v.Action != validators.Deny {
			continue
		}
		logged++
		if logged > maxDenialLogLines {
			continue
		}
		rv.log.Info("denied", "kind", rv.kind, "namespace", req.Namespace, "name", req.Name,
			"operation", op, "rule", v.Rule, "field", v.Error.Field, "user", req.UserInfo.Username, "dryRun", dryRun)
	}
	if logged > maxDenialLogLines {
		rv.log.Info("more denials not logged", "kind", rv.kind, "namespace", req.Namespace, "name", req.Name,
			"operation", op, "denials", logged, "user", req.UserInfo.Username, "dryRun", dryRun)
	}
}

func errored(code int32, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Status: metav1.StatusFailure, Code: code, Message: err.Error()}}
}

// reject answers a request that is not judged (not a review, too large, over capacity)
// with an HTTP error code.
func (rv *reviewer[T]) reject(w http.ResponseWriter, code int32, err error) {
	if code == http.StatusTooManyRequests {
		// Counted in the metrics; a line each would flood the log exactly when it is busiest.
		rv.log.V(1).Info("over capacity", "kind", rv.kind, "error", err.Error())
	} else {
		rv.log.Info("bad admission request", "kind", rv.kind, "code", code, "error", err.Error())
	}
	rv.metrics.countError(rv.kind, code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(code))
	rv.encode(w, errored(code, err))
}

func (rv *reviewer[T]) encode(w http.ResponseWriter, resp *admissionv1.AdmissionResponse) {
	out := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: reviewGVK.GroupVersion().String(), Kind: reviewGVK.Kind}, Response: resp}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	if err := json.NewEncoder(w).Encode(&out); err != nil {
		rv.log.Error(err, "writing the admission response")
	}
}

// decodeError names the field of a JSON type mismatch, as kubectl users expect.
func decodeError(err error) error {
	if v1alpha1.IsTypeError(err) {
		return v1alpha1.NameTypeError(err)
	}
	return fmt.Errorf("malformed AdmissionReview: %w", err)
}

func isNil[T object](o T) bool {
	var zero T
	return any(o) == any(zero)
}
