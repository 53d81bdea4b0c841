package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
)

// maxBodyBytes bounds every request body (API.md: over 64 KiB is a 413).
const maxBodyBytes = 64 << 10

// statusOf maps each error code of API.md to its HTTP status.
var statusOf = map[string]int{
	flashsale.EInvalidRequest:       http.StatusBadRequest,
	flashsale.EUnauthenticated:      http.StatusUnauthorized,
	flashsale.EForbidden:            http.StatusForbidden,
	flashsale.ENotFound:             http.StatusNotFound,
	flashsale.EMethodNotAllowed:     http.StatusMethodNotAllowed,
	flashsale.ERequestTooLarge:      http.StatusRequestEntityTooLarge,
	flashsale.ESaleNotFound:         http.StatusNotFound,
	flashsale.EItemNotFound:         http.StatusNotFound,
	flashsale.EOrderNotFound:        http.StatusNotFound,
	flashsale.ESoldOut:              http.StatusConflict,
	flashsale.EAlreadyPurchased:     http.StatusConflict,
	flashsale.ESaleNotActive:        http.StatusBadRequest,
	flashsale.EInvalidQuantity:      http.StatusBadRequest,
	flashsale.EQuantityExceedsLimit: http.StatusBadRequest,
	flashsale.ERateLimited:          http.StatusTooManyRequests,
	flashsale.EOverloaded:           http.StatusServiceUnavailable,
	flashsale.EUnavailable:          http.StatusServiceUnavailable,
	flashsale.EPaymentFailed:        http.StatusPaymentRequired,
	flashsale.EReservationExpired:   http.StatusGone,
	flashsale.EOrderNotPayable:      http.StatusConflict,
	flashsale.EOrderNotCancellable:  http.StatusConflict,
	flashsale.EIdempotencyKeyReused: http.StatusUnprocessableEntity,
	flashsale.EChallengeRequired:    http.StatusForbidden,
	flashsale.EInternal:             http.StatusInternalServerError,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	Field        string `json:"field,omitempty"`
	Reason       string `json:"reason,omitempty"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
}

// error writes err in the API's error shape. An error that is not a
// *flashsale.Error is logged and answered as a bare 500, or as 503 when the
// request's own deadline or cancellation caused it.
func (s *server) error(w http.ResponseWriter, r *http.Request, err error) {
	var e *flashsale.Error
	if !errors.As(err, &e) {
		if errors.Is(err, r.Context().Err()) || errors.Is(err, errTimeout) {
			e = &flashsale.Error{Code: flashsale.EUnavailable, Message: "the request took too long, please retry", RetryAfter: time.Second}
		} else {
			s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			e = &flashsale.Error{Code: flashsale.EInternal, Message: "internal error"}
		}
	}
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if e.Code == flashsale.EOverloaded || e.Code == flashsale.EUnavailable {
		if e.RetryAfter <= 0 {
			e.RetryAfter = time.Second
		}
	}
	if e.Code == flashsale.EUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flashsale"`) // RFC 6750
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(e.RetryAfter)))
	}
	body := errorBody{Error: errorDetail{Code: e.Code, Message: e.Message, Field: e.Field, Reason: e.Reason,
		RetryAfterMS: e.RetryAfter.Milliseconds()}}
	if e.Code == flashsale.EInvalidRequest && body.Error.Field == "" {
		body.Error.Field = "$"
	}
	writeJSON(w, status, body)
}

var errTimeout = errors.New("timeout")

// retryAfterSeconds rounds up to whole seconds, at least one.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decode reads a JSON body into v: at most 64 KiB, no unknown fields, one
// value. An empty body counts as {} when allowEmpty is set.
func decode(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return flashsale.InvalidField("$", "the body must be JSON (Content-Type: application/json)")
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return flashsale.Errorf(flashsale.ERequestTooLarge, "the body is larger than %d bytes", maxBodyBytes)
	case err != nil:
		return flashsale.InvalidField("$", "the body could not be read")
	case len(bytes.TrimSpace(raw)) == 0:
		if allowEmpty {
			return nil
		}
		return flashsale.InvalidField("$", "the body is empty; send a JSON object")
	}
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
	return nil
}

func stack() string { return string(debug.Stack()) }
