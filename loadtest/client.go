package loadtest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Endpoint names as they appear in the report.
const (
	endpointCreateSale = "create_sale"
	endpointGetSale    = "get_sale"
	endpointPlaceOrder = "place_order"
	endpointPollOrder  = "poll_order"
	endpointPay        = "pay"
	endpointGetOrder   = "get_order"
	endpointStats      = "stats"
	endpointJoinQueue  = "join_queue"
	endpointPollQueue  = "poll_queue"
	endpointLeaveQueue = "leave_queue"
	endpointQueueStats = "queue_stats"
	// The lottery's.
	endpointEnter       = "enter_lottery"
	endpointEntries     = "get_entries"
	endpointDraw        = "get_draw"
	endpointDrawEntries = "draw_entries"
	endpointCancel      = "cancel_order"
	endpointFairness    = "fairness"
)

// maxResponseBody caps what is read of a response: every answer of the API is
// small, and a runaway body must not exhaust the generator's memory.
const maxResponseBody = 1 << 20

// apiClient sends requests to the service and records each one.
type apiClient struct {
	wire     *wireClient
	recorder *recorder
	inFlight atomic.Int64
}

// newAPIClient needs a base URL that Config.Validate accepted. The generator
// talks to the service it is told to, never through a proxy from the
// environment. It keeps up to twice Concurrency connections alive: the run
// bounds the requests in flight itself (Concurrency workers, plus as many
// open-loop senders), so every request can reuse a connection, as browsers
// keep theirs alive, and none waits for one: its latency counts from when
// it is sent.
func newAPIClient(cfg Config, rec *recorder) (*apiClient, error) {
	wire, err := newWireClient(cfg.BaseURL, cfg.RequestTimeout, 2*cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	return &apiClient{wire: wire, recorder: rec}, nil
}

func (c *apiClient) close() { c.wire.closeIdle() }

// request is one call to the API.
type request struct {
	endpoint string
	method   string
	path     string
	token    string
	// body is sent as JSON when set; callers encode it once where they can
	// (every place-order of an item sends the same bytes).
	body []byte
	// idempotencyKey is sent as Idempotency-Key when set.
	idempotencyKey string
	// ifNoneMatch is sent as If-None-Match when set.
	ifNoneMatch string
	// admission is sent as Flashsale-Admission when set: the waiting
	// room's admission token.
	admission string
	// device is sent as Flashsale-Device when set: the device fingerprint
	// the shopper's page sends, one per device however many accounts use
	// it.
	device string
	// challenge is sent as Flashsale-Challenge when set: a solved
	// challenge. forwardedFor is sent as X-Forwarded-For when set.
	challenge, forwardedFor string
	// maxBody raises the cap on the answer's body above maxResponseBody,
	// for the one answer that is large by design: a draw's list of
	// entry ids, a million lines.
	maxBody int64
	// intended is when an open-loop schedule meant the request to go out;
	// a request sent late counts its latency from then, whatever delayed
	// it, so that a slow server cannot hide its slowness by holding the
	// generator back (coordinated omission). Otherwise (closed loop, or an
	// arrival sent a little early) latency counts from the send: a closed
	// loop step's wait for a free worker is an artefact of simulating many
	// users with few workers, so the scheduler records it apart.
	intended time.Time
}

// response is what the generator needs of an answer.
type response struct {
	status int
	// code is the error code of an error body, and reason its reason
	// when it gives one (payment_failed, purchase_limit_exceeded).
	code   string
	reason string
	// retryAfter is the server's advice from retry_after_ms or Retry-After;
	// zero when it gave none.
	retryAfter time.Duration
	// limitReset and exhausted are what the RateLimit fields said of the
	// limits with no quota left: the longest time until one gives more,
	// and their names ("ip-1s"); zero and nil when none was spent or the
	// service sent no such field.
	limitReset time.Duration
	exhausted  []string
	etag       string
	body       []byte
	// err is a transport failure or timeout; status is then 0.
	err error
	// canceled marks a request cut short because the run was ending; it is
	// not recorded.
	canceled bool
}

// limitWait is how long a 429 asks to be left alone: the server's retry
// advice, else the time its RateLimit fields gave a spent limit; zero when
// it said neither.
func (r response) limitWait() time.Duration { return cmp.Or(r.retryAfter, r.limitReset) }

// outcomeUnknown reports whether the server may or may not have acted on the
// request: a retry must then carry the same idempotency key.
func (r response) outcomeUnknown() bool {
	return r.err != nil || (r.status >= 500 && r.status != http.StatusServiceUnavailable)
}

func (c *apiClient) do(ctx context.Context, req request) response {
	started := time.Now()
	c.inFlight.Add(1)
	resp := c.wire.roundTrip(ctx, req)
	c.inFlight.Add(-1)
	finished := time.Now()

	if resp.err != nil && ctx.Err() != nil {
		resp.canceled = true
		c.recorder.recordCanceled()
		return resp
	}
	if resp.status >= 400 {
		readErrorBody(&resp)
	}
	latency := finished.Sub(started)
	if !req.intended.IsZero() && req.intended.Before(started) {
		latency = finished.Sub(req.intended)
	}
	c.recorder.record(req.endpoint, resp, latency, finished)
	return resp
}

// readErrorBody takes the error code of an error answer, and the server's
// retry advice from its retry_after_ms, which is finer than the
// Retry-After header's seconds and so wins over it.
func readErrorBody(resp *response) {
	envelope, ok := errorBodies.read(resp.body)
	if !ok {
		return
	}
	resp.code, resp.reason = envelope.Error.Code, envelope.Error.Reason
	if ms := max(envelope.Error.RetryAfterMS, envelope.RetryAfterMS); ms > 0 {
		resp.retryAfter = time.Duration(ms) * time.Millisecond
	}
}

// errorEnvelope is the part of an error answer the generator reads.
type errorEnvelope struct {
	Error struct {
		Code         string `json:"code"`
		Reason       string `json:"reason"`
		RetryAfterMS int64  `json:"retry_after_ms"`
	} `json:"error"`
	RetryAfterMS int64 `json:"retry_after_ms"`
}

// errorBodyCache remembers what error bodies say: in a herd nearly every
// answer is the same sold_out body, and decoding it each time was a few
// per cent of the generator's CPU. Only bodies without retry advice are
// kept (those with it differ from answer to answer), and at most
// maxCachedErrorBodies of them.
type errorBodyCache struct {
	mu     sync.RWMutex
	bodies map[string]errorEnvelope
}

const maxCachedErrorBodies = 64

var errorBodies = errorBodyCache{bodies: map[string]errorEnvelope{}}

func (c *errorBodyCache) read(body []byte) (errorEnvelope, bool) {
	c.mu.RLock()
	envelope, ok := c.bodies[string(body)]
	c.mu.RUnlock()
	if ok {
		return envelope, true
	}
	if json.Unmarshal(body, &envelope) != nil {
		return errorEnvelope{}, false
	}
	if envelope.Error.RetryAfterMS == 0 && envelope.RetryAfterMS == 0 {
		c.mu.Lock()
		if len(c.bodies) < maxCachedErrorBodies {
			c.bodies[string(body)] = envelope
		}
		c.mu.Unlock()
	}
	return envelope, true
}

// parseRetryAfter reads a Retry-After header: whole seconds or an HTTP date.
func parseRetryAfter(value string, now time.Time) time.Duration {
	if value == "" {
		return 0
	}
	if seconds, err := strconv.Atoi(strings.TrimSpace(value)); err == nil && seconds >= 0 {
		return time.Duration(seconds) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// outcomeName labels a response for the report: the status and the error
// code ("409 sold_out"), or the class of transport failure.
func outcomeName(resp response) string {
	if resp.err != nil {
		return "error " + transportErrorClass(resp.err)
	}
	name := strconv.Itoa(resp.status)
	if resp.code != "" {
		name += " " + resp.code
	}
	return name
}

func transportErrorClass(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_closed"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return "connection_" + opErr.Op
	}
	return "transport"
}
