package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
)

// maxBodyBytes bounds every request body (docs/API.md: over 64 KiB is a 413).
const maxBodyBytes = 64 << 10

// statusOf maps each error code of docs/API.md to its HTTP status.
var statusOf = map[string]int{
	flashsale.EInvalidRequest:        http.StatusBadRequest,
	flashsale.EUnauthenticated:       http.StatusUnauthorized,
	flashsale.EForbidden:             http.StatusForbidden,
	flashsale.ENotFound:              http.StatusNotFound,
	flashsale.EMethodNotAllowed:      http.StatusMethodNotAllowed,
	flashsale.ERequestTooLarge:       http.StatusRequestEntityTooLarge,
	flashsale.ESaleNotFound:          http.StatusNotFound,
	flashsale.EItemNotFound:          http.StatusNotFound,
	flashsale.EOrderNotFound:         http.StatusNotFound,
	flashsale.ESoldOut:               http.StatusConflict,
	flashsale.EAlreadyPurchased:      http.StatusConflict,
	flashsale.ESaleNotActive:         http.StatusBadRequest,
	flashsale.EInvalidQuantity:       http.StatusBadRequest,
	flashsale.EQuantityExceedsLimit:  http.StatusBadRequest,
	flashsale.ERateLimited:           http.StatusTooManyRequests,
	flashsale.EOverloaded:            http.StatusServiceUnavailable,
	flashsale.EUnavailable:           http.StatusServiceUnavailable,
	flashsale.EPaymentFailed:         http.StatusPaymentRequired,
	flashsale.EReservationExpired:    http.StatusGone,
	flashsale.EOrderNotPayable:       http.StatusConflict,
	flashsale.EPaymentInProgress:     http.StatusConflict,
	flashsale.EOrderNotCancellable:   http.StatusConflict,
	flashsale.EIdempotencyKeyReused:  http.StatusUnprocessableEntity,
	flashsale.EChallengeRequired:     http.StatusForbidden,
	flashsale.EQueueNotOpen:          http.StatusBadRequest,
	flashsale.ENoWaitingRoom:         http.StatusConflict,
	flashsale.ETicketNotFound:        http.StatusNotFound,
	flashsale.EAdmissionRequired:     http.StatusForbidden,
	flashsale.EPurchaseLimitExceeded: http.StatusConflict,
	flashsale.EAccountNotEligible:    http.StatusForbidden,
	flashsale.EEntriesClosed:         http.StatusBadRequest,
	flashsale.ELotterySale:           http.StatusBadRequest,
	flashsale.ENotLottery:            http.StatusConflict,
	flashsale.ESaleEnded:             http.StatusConflict,
	flashsale.EOrderNotRefundable:    http.StatusConflict,
	flashsale.EUnsupportedMediaType:  http.StatusUnsupportedMediaType,
	flashsale.EInternal:              http.StatusInternalServerError,
}

type errorBody struct {
	Error errorDetail `json:"error"`
	// Challenge is the challenge to solve, beside a challenge_required.
	Challenge *flashsale.Challenge `json:"challenge,omitempty"`
}

type errorDetail struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	Field        string `json:"field,omitempty"`
	Reason       string `json:"reason,omitempty"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
	// OpensAt and StartsAt are RFC 3339: the type must stay comparable
	// (fasterrors.go).
	OpensAt      string `json:"opens_at,omitempty"`
	StartsAt     string `json:"starts_at,omitempty"`
	EntriesOpen  string `json:"entries_open,omitempty"`
	EntriesClose string `json:"entries_close,omitempty"`
}

// error writes err in the API's error shape. An error that is not a
// *flashsale.Error is logged and answered as a bare 500, or as 503 when the
// request's own deadline or cancellation caused it, or a dependency's:
// a deadline that ran out, a network failure, a write in doubt. Those pass
// (a client is told to retry); a 500 is a bug of ours.
func (s *server) error(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := asError(err)
	if !ok {
		if errors.Is(err, r.Context().Err()) || errors.Is(err, errTimeout) {
			e = &flashsale.Error{Code: flashsale.EUnavailable, Message: "the request took too long, please retry", RetryAfter: time.Second}
		} else if dependencyFault(err) {
			s.Logger.Warn("request failed on a dependency", "method", r.Method, "path", r.URL.Path, "err", err)
			e = &flashsale.Error{Code: flashsale.EUnavailable, Message: "a service we depend on did not answer; please retry", RetryAfter: time.Second}
		} else {
			s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			e = &flashsale.Error{Code: flashsale.EInternal, Message: "internal error"}
		}
	}
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	// A local copy: e may be a shared error value (errShed,
	// flashsale.SoldOut(0)), which many requests read at once.
	retryAfter := e.RetryAfter
	if (e.Code == flashsale.EOverloaded || e.Code == flashsale.EUnavailable) && retryAfter <= 0 {
		retryAfter = time.Second
	}
	if e.Code == flashsale.EUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flashsale"`) // RFC 6750
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(retryAfter)))
	}
	detail := errorDetail{Code: e.Code, Message: e.Message, Field: e.Field, Reason: e.Reason,
		RetryAfterMS: retryAfter.Milliseconds()}
	if !e.OpensAt.IsZero() {
		detail.OpensAt = e.OpensAt.Format(time.RFC3339Nano)
	}
	if !e.StartsAt.IsZero() {
		detail.StartsAt = e.StartsAt.Format(time.RFC3339Nano)
	}
	if !e.EntriesOpen.IsZero() {
		detail.EntriesOpen = e.EntriesOpen.Format(time.RFC3339Nano)
		detail.EntriesClose = e.EntriesClose.Format(time.RFC3339Nano)
	}
	if e.Code == flashsale.EInvalidRequest && detail.Field == "" {
		detail.Field = "$"
	}
	if e.Challenge != nil {
		// Fresh each time: never kept by errorBodies.
		writeJSON(w, status, errorBody{Error: detail, Challenge: e.Challenge})
		return
	}
	body, err := s.errorBodies.render(detail)
	if err != nil {
		writeMarshalFailure(w)
		return
	}
	body.write(w, status)
}

var errTimeout = errors.New("timeout")

// dependencyFault reports whether err is a passing failure of a server we
// call rather than a bug: it ran out of time, the network failed, or a
// write's outcome is unknown.
func dependencyFault(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, flashsale.ErrWriteInDoubt)
}

// asError returns the first *flashsale.Error in err's chain. The common
// cases, no error (every authenticated request asks) and err itself, are
// decided before errors.As, which would move a variable to the heap for
// each.
func asError(err error) (*flashsale.Error, bool) {
	if err == nil {
		return nil, false
	}
	if e, ok := err.(*flashsale.Error); ok {
		return e, true
	}
	var e *flashsale.Error
	ok := errors.As(err, &e)
	return e, ok
}

// retryAfterSeconds rounds up to whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshalBody(v)
	if err != nil {
		writeMarshalFailure(w)
		return
	}
	b.write(w, status)
}

// jsonBody is a JSON response body, ready to send: the JSON and a newline,
// and the header values that go with it. The header values are slices made
// once, set into the response's header map as they are: net/http and this
// package only read header values, and Set would allocate new ones each
// time.
type jsonBody struct {
	body          []byte
	contentLength []string
}

var contentTypeJSON = []string{"application/json"}

func marshalBody(v any) (jsonBody, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return jsonBody{}, err
	}
	return jsonBody{body: append(b, '\n'), contentLength: []string{strconv.Itoa(len(b) + 1)}}, nil
}

func (b jsonBody) write(w http.ResponseWriter, status int) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Content-Length"] = b.contentLength
	w.WriteHeader(status)
	w.Write(b.body)
}

func writeMarshalFailure(w http.ResponseWriter) {
	http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
}

// decode reads a JSON body into v: at most 64 KiB, no unknown fields, one
// value. An empty body counts as {} when allowEmpty is set. What the
// headers alone condemn is refused before the body is touched: net/http
// sends a client's awaited 100 Continue at the first read, so a client
// that asked with Expect: 100-continue hears the refusal at once instead,
// and never sends the body.
func decode(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	if coding, ok := contentCoding(r.Header); ok {
		// RFC 9110, 15.5.16: say which codings would have been read.
		w.Header().Set("Accept-Encoding", "identity")
		return &flashsale.Error{Code: flashsale.EUnsupportedMediaType, Field: "Content-Encoding",
			Message: fmt.Sprintf("a body with Content-Encoding %q cannot be read; send it uncompressed, without Content-Encoding", coding)}
	}
	if r.ContentLength > maxBodyBytes {
		return errTooLarge
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return flashsale.InvalidField("$", "the body must be JSON (Content-Type: application/json)")
	}
	raw, err := readBody(w, r)
	switch {
	case err != nil:
		return err
	case len(bytes.TrimSpace(raw)) == 0:
		if allowEmpty {
			return nil
		}
		return flashsale.InvalidField("$", "the body is empty; send a JSON object")
	}
	if f, ok := v.(fastDecoder); ok && f.decodeFast(raw) {
		return nil
	}
	return decodeJSON(raw, v)
}

// readBody reads a request's body, at most maxBodyBytes of it: more is
// errTooLarge, a body that could not be read an invalid request.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		// Declared here, not above: errors.As moves it to the heap, which
		// only a failed read should pay for.
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errTooLarge
		}
		return nil, flashsale.InvalidField("$", "the body could not be read")
	}
	return raw, nil
}

// contentCoding returns the first content coding of a request's body
// other than identity, which is the only one the API reads: ignoring the
// header would read a compressed body as JSON, or worse, act on a body
// that says it is compressed and is not.
func contentCoding(h http.Header) (string, bool) {
	for _, v := range h["Content-Encoding"] { // canonical: no canonicalizing lookup on the hot path
		for coding := range strings.SplitSeq(v, ",") {
			if coding = strings.TrimSpace(coding); coding != "" && !strings.EqualFold(coding, "identity") {
				return coding, true
			}
		}
	}
	return "", false
}

// errTooLarge answers a body over maxBodyBytes, declared (Content-Length)
// or found while reading (chunked).
var errTooLarge = flashsale.Errorf(flashsale.ERequestTooLarge, "the body is larger than %d bytes", maxBodyBytes)

// fastDecoder is a request body with a parser of its own for its usual
// shape, cheaper than encoding/json on a hot path. decodeFast fills the
// value and reports true only for a body it understands whole, where
// decodeJSON would give the same value; it reports false, changing
// nothing, for anything else, and decodeJSON then decides, errors and all.
type fastDecoder interface {
	decodeFast(raw []byte) bool
}

// decodeJSON decodes raw into v with encoding/json: no unknown fields, one
// value, each key once and spelled exactly as its field (checkKeys); a
// failure names the JSON path it is at.
func decodeJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
			return flashsale.InvalidField("$", "the body is not valid JSON")
		}
		if path, problem := locateProblem(raw, reflect.TypeOf(v)); path != "" {
			if strings.HasPrefix(problem, "unknown") {
				return flashsale.InvalidField(path, "%s", problem)
			}
			return flashsale.InvalidField(path, "%s %s", path, problem)
		}
		return flashsale.InvalidField("$", "the body does not match the expected shape")
	}
	if dec.More() {
		return flashsale.InvalidField("$", "the body must hold one JSON object")
	}
	return checkKeys(raw, reflect.TypeOf(v))
}

func stack() string { return string(debug.Stack()) }
