package flashsale

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Error codes. They are the API's error codes one to one (see API.md): the
// HTTP adapter maps each to a status and never invents another.
const (
	EInvalidRequest       = "invalid_request"
	EUnauthenticated      = "unauthenticated"
	EForbidden            = "forbidden"
	ENotFound             = "not_found"
	EMethodNotAllowed     = "method_not_allowed"
	ERequestTooLarge      = "request_too_large"
	ESaleNotFound         = "sale_not_found"
	EItemNotFound         = "item_not_found"
	EOrderNotFound        = "order_not_found"
	ESoldOut              = "sold_out"
	EAlreadyPurchased     = "already_purchased"
	ESaleNotActive        = "sale_not_active"
	EInvalidQuantity      = "invalid_quantity"
	EQuantityExceedsLimit = "quantity_exceeds_limit"
	ERateLimited          = "rate_limited"
	EOverloaded           = "overloaded"
	EUnavailable          = "unavailable"
	EPaymentFailed        = "payment_failed"
	EReservationExpired   = "reservation_expired"
	EOrderNotPayable      = "order_not_payable"
	// EPaymentInProgress answers a payment of an order that another
	// payment is settling: not final like order_not_payable, the order's
	// status tells in a moment (the answer carries Retry-After).
	EPaymentInProgress    = "payment_in_progress"
	EOrderNotCancellable  = "order_not_cancellable"
	EIdempotencyKeyReused = "idempotency_key_reused"
	EChallengeRequired    = "challenge_required"
	// EUnsupportedMediaType refuses a body in an encoding the API does not
	// read (a Content-Encoding other than identity).
	EUnsupportedMediaType = "unsupported_media_type"
	EInternal             = "internal"
)

// Error is a domain error that carries an API error code and a message a
// person can act on. Anything that is not an *Error reaches a client as
// "internal" with a generic message: details of unexpected failures are
// logged, never shown.
type Error struct {
	Code    string
	Message string
	// Field names the JSON path of the offending input (invalid_request).
	Field string
	// Reason refines payment_failed (card_declined, insufficient_funds, ...).
	Reason string
	// RetryAfter tells the client when trying again can help (429, 503).
	RetryAfter time.Duration
	// OpensAt is when what was refused opens (queue_not_open).
	OpensAt time.Time
	// StartsAt is when a sale not yet active starts (sale_not_active).
	StartsAt time.Time
	// EntriesOpen and EntriesClose are a lottery's window (entries_closed).
	EntriesOpen, EntriesClose time.Time
	// Challenge is the challenge to solve (challenge_required).
	Challenge *Challenge
	// Err is the failure behind an unavailable answer (a lost connection),
	// for the logs; clients never see it.
	Err error
}

func (e *Error) Error() string {
	msg := e.Code + ": " + e.Message
	if e.Field != "" {
		msg += " (field " + e.Field + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidField returns an invalid_request error that names the field.
func InvalidField(field, format string, args ...any) *Error {
	return &Error{Code: EInvalidRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// EInternal when there is none.
func ErrorCode(err error) string {
	if e, ok := err.(*Error); ok {
		// The common case, without errors.As, whose target would move to
		// the heap on every refusal of a rush.
		return e.Code
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EInternal
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool {
	return err != nil && ErrorCode(err) == code
}

// Error codes of the waiting room (API.md, "Waiting room").
const (
	// EQueueNotOpen refuses a join earlier than pre_queue_seconds before
	// the start; the answer carries when the line opens.
	EQueueNotOpen = "queue_not_open"
	// ENoWaitingRoom answers the waiting room's paths for a sale without one.
	ENoWaitingRoom = "no_waiting_room"
	// ETicketNotFound answers a shopper who holds no place in the line.
	ETicketNotFound = "ticket_not_found"
	// EAdmissionRequired refuses a place-order of a waiting-room sale
	// without the shopper's own, unexpired admission token.
	EAdmissionRequired = "admission_required"
)

// CodeClientGone counts a request its client abandoned (the connection
// closed, the request's context ended) before any answer was decided. It
// is never sent, the client being gone, and it is no fault of the
// service's: operators alert on internal, not on this.
const CodeClientGone = "client_gone"

// OutcomeCode is the code a refused request is counted under: its error's
// code, or CodeClientGone when it carries none because its client went
// away.
func OutcomeCode(ctx context.Context, err error) string {
	code := ErrorCode(err)
	if code == EInternal && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return CodeClientGone
	}
	return code
}
