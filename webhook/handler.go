package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"golang.org/x/sync/semaphore"
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

// DefaultInFlightWait is how long a review waits for a place (a review slot, or room for its
// body bytes) before it is answered 429, unless configured. An honest burst is served within
// it, as Gatekeeper's serving semaphore serves one, and it stays well within the API
// server's timeout.
const DefaultInFlightWait = time.Second

// DefaultBodyReadTimeout is how long a request body may take to arrive once the headers are
// in, unless configured. The API server sends a body at once; a client sending slowly is cut
// off here rather than at the server's whole-request read timeout.
const DefaultBodyReadTimeout = 2 * time.Second

// firstBodyBytes is the buffer a body starts in: the most a body that has sent a single
// byte holds (and is charged), so slow clients cannot take the byte budget.
const firstBodyBytes = 512

// waitingBodyBytes is the most a body may hold and still wait for room to grow.
const waitingBodyBytes = 64 << 10

// capacity bounds the reviews in flight: their body bytes (memory), charged as the bytes
// arrive, and the reviews decoded and judged at once (CPU). Each waits up to wait for a
// place, first come first served; a review that finds none is answered 429.
type capacity struct {
	wait               time.Duration
	maxReviews         int64
	maxBytes           int64
	reviews, bodyBytes *semaphore.Weighted
}

func newCapacity(maxReviews int, maxBytes int64, wait time.Duration) *capacity {
	return &capacity{wait: wait, maxReviews: int64(maxReviews), maxBytes: maxBytes,
		reviews: semaphore.NewWeighted(int64(maxReviews)), bodyBytes: semaphore.NewWeighted(maxBytes)}
}

// take takes n of s, waiting up to the wait when mayWait; false means there was no room
// within it, or ctx ended.
func (c *capacity) take(ctx context.Context, s *semaphore.Weighted, n int64, mayWait bool) bool {
	if s.TryAcquire(n) {
		return true
	}
	if !mayWait || c.wait <= 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, c.wait)
	defer cancel()
	return s.Acquire(ctx, n) == nil
}

// takeBytes charges n more bytes to a body that holds held. Only a body holding at most
// waitingBodyBytes waits for room: a larger one (a partly read large review) is refused at
// once, so that two of them never wait on each other for bytes neither will give back.
func (c *capacity) takeBytes(ctx context.Context, n, held int64) bool {
	return c.take(ctx, c.bodyBytes, n, held <= waitingBodyBytes)
}

func (c *capacity) giveBytes(n int64) {
	if n > 0 {
		c.bodyBytes.Release(n)
	}
}

func (c *capacity) takeSlot(ctx context.Context) bool { return c.take(ctx, c.reviews, 1, true) }

func (c *capacity) giveSlot() { c.reviews.Release(1) }

// typedReview is an admission.k8s.io/v1 AdmissionReview whose objects decode into the
// kind's Go type. controller-runtime's admission.Webhook decodes a body four times;
// decoding the review, then each object once in place, keeps our own time close to that of
// a webhook that does nothing.
type typedReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *typedRequest `json:"request"`
}

type typedRequest struct {
	UID          types.UID                   `json:"uid"`
	Kind         metav1.GroupVersionKind     `json:"kind"`
	Resource     metav1.GroupVersionResource `json:"resource"`
	Name         string                      `json:"name"`
	Namespace    string                      `json:"namespace"`
	Operation    admissionv1.Operation       `json:"operation"`
	UserInfo     authenticationv1.UserInfo   `json:"userInfo"`
	RawObject    rawObject                   `json:"object"`
	RawOldObject rawObject                   `json:"oldObject"`
	DryRun       *bool                       `json:"dryRun"`
	// Object and OldObject are RawObject and RawOldObject decoded (decodeObjects); nil when
	// absent or null.
	Object, OldObject kinds.Object `json:"-"`
}

// rawObject is an object of a review as its bytes: the slice of the request body it spans,
// which the review holds until it is answered, so nothing is copied.
type rawObject []byte

// UnmarshalJSON keeps the object's bytes, null included.
func (r *rawObject) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// decodeObjects decodes the request's objects into the kind's Go type, keys matched
// case-sensitively. A type mismatch names the field from the review's root, as one decode of
// the whole review would.
func (req *typedRequest) decodeObjects(kind kinds.Kind) error {
	for _, o := range []struct {
		raw  rawObject
		into *kinds.Object
		key  string
	}{{req.RawObject, &req.Object, "object"}, {req.RawOldObject, &req.OldObject, "oldObject"}} {
		if len(o.raw) == 0 || string(o.raw) == "null" {
			continue
		}
		obj, _ := kinds.New(kind)
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(o.raw, obj); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				typeErr.Field = strings.TrimSuffix("request."+o.key+"."+typeErr.Field, ".")
			}
			return err
		}
		*o.into = obj
	}
	return nil
}

// reviewer answers the admission reviews of one kind: it decodes the review, runs the engine
// and renders the verdict. The reviewers of every kind share one capacity.
type reviewer struct {
	kind     kinds.Kind
	gv       schema.GroupVersion
	engine   *validators.Engine
	state    validators.ClusterState
	log      logr.Logger
	metrics  *Metrics
	capacity *capacity
	gate     *Gate
	// bodyTimeout bounds the arrival of a request body once its headers are in.
	bodyTimeout time.Duration
}

var reviewGVK = admissionv1.SchemeGroupVersion.WithKind("AdmissionReview")

func (rv *reviewer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "admission reviews are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		rv.reject(w, r, http.StatusUnsupportedMediaType, fmt.Errorf("contentType=%s, expected application/json", ct))
		return
	}
	if r.ContentLength > MaxRequestBytes {
		rv.reject(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("request entity is too large; limit is %d bytes", MaxRequestBytes))
		return
	}
	// The body gets its own short deadline from here, the headers being in: the API server
	// sends it at once, and a slow sender should not hold its connection and bytes until
	// the server's whole-request timeout. Once the body is read the deadline is lifted, so
	// that net/http's background read does not take a judging review for an abandoned one;
	// after an error it stays, bounding net/http's discarding of the unread rest.
	rc := http.NewResponseController(w)
	if rv.bodyTimeout > 0 {
		_ = rc.SetReadDeadline(time.Now().Add(rv.bodyTimeout)) // not every ResponseWriter supports it (tests)
	}
	body, charged, code, err := rv.readBody(r)
	defer rv.capacity.giveBytes(charged)
	if err == nil {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		}
		rv.reject(w, r, code, err)
		return
	}
	// Decoding and judging a review is where the CPU goes, so it happens only within the
	// slots; a review beyond them waits a little for one rather than being refused at once.
	if !rv.capacity.takeSlot(r.Context()) {
		if r.Context().Err() != nil {
			return // the API server gave up; nobody reads an answer
		}
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
		rv.reject(w, r, http.StatusTooManyRequests, fmt.Errorf("the webhook is judging as many reviews (%d) as it may at once; retry", rv.capacity.maxReviews))
		return
	}
	defer rv.capacity.giveSlot()
	// Keys match case-sensitively, as the API server decodes: encoding/json would read a
	// "Peer" key as peer.
	var review typedReview
	err = sigsjson.UnmarshalCaseSensitivePreserveInts(body, &review)
	if err == nil && review.Request != nil {
		err = review.Request.decodeObjects(rv.kind)
	}
	if err != nil {
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
		rv.reject(w, r, http.StatusBadRequest, decodeError(err))
		return
	}
	if review.GroupVersionKind() != reviewGVK || review.Request == nil {
		rv.reject(w, r, http.StatusBadRequest, fmt.Errorf("expected an %s with a request", reviewGVK))
		return
	}
	req := review.Request
	client := clientName(r)
	resp := rv.review(r.Context(), req, client)
	if resp == nil {
		// The API server gave up on this review (its timeout passed or it went away): nobody
		// reads an answer, so none is rendered.
		rv.logFor(client).V(1).Info("review abandoned by the client", "kind", rv.kind, "namespace", req.Namespace, "name", req.Name)
		return
	}
	resp.UID = req.UID
	if res := resp.Result; res != nil && res.Code != http.StatusUnprocessableEntity {
		rv.metrics.countError(rv.kind, res.Code)
	}
	rv.encode(w, resp)
}

// readBody reads the request body into a buffer that grows as the bytes arrive, charging
// each growth to the capacity: a body holds what it has sent (at most twice that, and at
// least firstBodyBytes), not what its Content-Length announces. It returns the bytes
// charged, which the caller gives back, and on error the HTTP status to answer.
func (rv *reviewer) readBody(r *http.Request) (body []byte, charged int64, code int32, err error) {
	limit := int64(MaxRequestBytes) + 1 // one byte more shows a body over the limit
	if r.ContentLength >= 0 {
		limit = r.ContentLength + 1 // room for the read that meets the end
	}
	tooLarge := fmt.Errorf("request entity is too large; limit is %d bytes", MaxRequestBytes)
	for {
		if len(body) == cap(body) {
			grow := min(max(int64(cap(body)), firstBodyBytes), limit-int64(cap(body)))
			if grow <= 0 {
				return body, charged, http.StatusRequestEntityTooLarge, tooLarge
			}
			if !rv.capacity.takeBytes(r.Context(), grow, charged) {
				return body, charged, http.StatusTooManyRequests, fmt.Errorf("the webhook holds as many request bytes (%d) as it may at once; retry", rv.capacity.maxBytes)
			}
			charged += grow
			body = slices.Grow(body, int(grow))
		}
		n, err := r.Body.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if len(body) > MaxRequestBytes {
			return body, charged, http.StatusRequestEntityTooLarge, tooLarge
		}
		switch {
		case errors.Is(err, io.EOF):
			return body, charged, 0, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			return body, charged, http.StatusRequestTimeout, fmt.Errorf("the request body did not arrive within %s", rv.bodyTimeout)
		case err != nil:
			return body, charged, http.StatusBadRequest, fmt.Errorf("reading the request: %w", err)
		}
	}
}

// clientName is the subject common name of the client certificate the caller presented,
// empty without client authentication.
func clientName(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return r.TLS.PeerCertificates[0].Subject.CommonName
}

// review judges one decoded request. It returns nil when ctx ended before the verdict was
// rendered.
func (rv *reviewer) review(ctx context.Context, req *typedRequest, client string) (resp *admissionv1.AdmissionResponse) {
	defer func() {
		if p := recover(); p != nil {
			rv.logFor(client).Error(fmt.Errorf("%v", p), "panic while validating", "kind", rv.kind, "name", req.Name)
			resp = errored(http.StatusInternalServerError, errors.New("internal error while validating"))
		}
	}()
	if req.Kind.Group != rv.gv.Group || req.Kind.Kind != string(rv.kind) {
		return errored(http.StatusBadRequest, fmt.Errorf("this path validates %s, not %s", rv.kind, req.Kind.Kind))
	}
	for _, o := range []kinds.Object{req.Object, req.OldObject} {
		if o == nil {
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
		if req.Object == nil {
			return errored(http.StatusBadRequest, errors.New("there is no content to decode: request.object is missing"))
		}
		op = validators.Create
	case admissionv1.Update:
		if req.Object == nil || req.OldObject == nil {
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
		rv.logFor(client).Error(err, "validation failed", "kind", rv.kind, "namespace", req.Namespace, "name", req.Name)
		return errored(http.StatusInternalServerError, fmt.Errorf("internal error occurred: %w", err))
	}
	rv.metrics.observe(rv.kind, op, &res, time.Since(start))
	if ctx.Err() != nil {
		return nil
	}
	rv.logDenials(req, op, &res, client)
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
// With client authentication on, each line names the client certificate too: the user is
// who the review says wrote the object, the client is who sent the review.
func (rv *reviewer) logDenials(req *typedRequest, op validators.Operation, res *validators.Result, client string) {
	dryRun := req.DryRun != nil && *req.DryRun
	log := rv.logFor(client)
	logged := 0
	for _, v := range res.Violations {
		if v.Action != validators.Deny {
			continue
		}
		logged++
		if logged > maxDenialLogLines {
			continue
		}
		log.Info("denied", "kind", rv.kind, "namespace", req.Namespace, "name", req.Name,
			"operation", op, "rule", v.Rule, "field", v.Error.Field, "user", req.UserInfo.Username, "dryRun", dryRun)
	}
	if logged > maxDenialLogLines {
		log.Info("more denials not logged", "kind", rv.kind, "namespace", req.Namespace, "name", req.Name,
			"operation", op, "denials", logged, "user", req.UserInfo.Username, "dryRun", dryRun)
	}
}

// logFor is the reviewer's logger naming the client certificate that sent a review, when
// there is one.
func (rv *reviewer) logFor(client string) logr.Logger {
	if client == "" {
		return rv.log
	}
	return rv.log.WithValues("client", client)
}

func errored(code int32, err error) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Status: metav1.StatusFailure, Code: code, Message: err.Error()}}
}

// reject answers a request that is not judged (not a review, too large, over capacity)
// with an HTTP error code.
func (rv *reviewer) reject(w http.ResponseWriter, r *http.Request, code int32, err error) {
	if code == http.StatusTooManyRequests {
		// Counted in the metrics; a line each would flood the log exactly when it is busiest.
		rv.logFor(clientName(r)).V(1).Info("over capacity", "kind", rv.kind, "error", err.Error())
	} else {
		rv.logFor(clientName(r)).Info("bad admission request", "kind", rv.kind, "code", code, "error", err.Error())
	}
	rv.metrics.countError(rv.kind, code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(code))
	rv.encode(w, errored(code, err))
}

func (rv *reviewer) encode(w http.ResponseWriter, resp *admissionv1.AdmissionResponse) {
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
