package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
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
)

// maxResponseBody caps what is read of a response: every answer of the API is
// small, and a runaway body must not exhaust the generator's memory.
const maxResponseBody = 1 << 20

// apiClient sends requests to the service and records each one.
type apiClient struct {
	baseURL  string
	http     *http.Client
	recorder *recorder
	inFlight atomic.Int64
}

func newAPIClient(cfg Config, rec *recorder) *apiClient {
	transport := &http.Transport{
		// The generator talks to the service it is told to, never through a
		// proxy from the environment.
		Proxy:       nil,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		// One pool of Concurrency keep-alive connections: enough to spread
		// load over many connections, bounded so that a big herd does not
		// exhaust ephemeral ports. Requests beyond it wait for a connection
		// in the generator; see connectionWait.
		MaxConnsPerHost:     cfg.Concurrency,
		MaxIdleConns:        cfg.Concurrency,
		MaxIdleConnsPerHost: cfg.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	return &apiClient{
		baseURL:  strings.TrimRight(cfg.BaseURL, "/"),
		http:     &http.Client{Transport: transport, Timeout: cfg.RequestTimeout},
		recorder: rec,
	}
}

func (c *apiClient) close() { c.http.CloseIdleConnections() }

// request is one call to the API.
type request struct {
	endpoint string
	method   string
	path     string
	token    string
	body     any
	// idempotencyKey is sent as Idempotency-Key when set.
	idempotencyKey string
	// ifNoneMatch is sent as If-None-Match when set.
	ifNoneMatch string
	// intended is when an open-loop schedule meant the request to go out;
	// a request sent late counts its latency from then, whatever delayed
	// it, so that a slow server cannot hide its slowness by holding the
	// generator back (coordinated omission). Otherwise (closed loop, or an
	// arrival sent a little early) latency counts from when the request had
	// a connection or began dialing one: the wait for one of the
	// generator's Concurrency connections is an artefact of simulating many
	// users with few sockets, so it is recorded apart.
	intended time.Time
}

// response is what the generator needs of an answer.
type response struct {
	status int
	// code is the error code of an error body.
	code string
	// retryAfter is the server's advice from retry_after_ms or Retry-After;
	// zero when it gave none.
	retryAfter time.Duration
	etag       string
	body       []byte
	// err is a transport failure or timeout; status is then 0.
	err error
	// canceled marks a request cut short because the run was ending; it is
	// not recorded.
	canceled bool
}

// outcomeUnknown reports whether the server may or may not have acted on the
// request: a retry must then carry the same idempotency key.
func (r response) outcomeUnknown() bool {
	return r.err != nil || (r.status >= 500 && r.status != http.StatusServiceUnavailable)
}

func (c *apiClient) do(ctx context.Context, req request) response {
	var body io.Reader
	if req.body != nil {
		encoded, err := json.Marshal(req.body)
		if err != nil {
			return response{err: err}
		}
		body = bytes.NewReader(encoded)
	}
	var wait connectionWait
	httpReq, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, wait.trace()), req.method, c.baseURL+req.path, body)
	if err != nil {
		return response{err: err}
	}
	if req.body != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	httpReq.Header.Set("Accept", "application/json")
	if req.token != "" {
		httpReq.Header.Set("Authorization", "Bearer "+req.token)
	}
	if req.idempotencyKey != "" {
		httpReq.Header.Set("Idempotency-Key", req.idempotencyKey)
	}
	if req.ifNoneMatch != "" {
		httpReq.Header.Set("If-None-Match", req.ifNoneMatch)
	}

	started := time.Now()
	c.inFlight.Add(1)
	resp := c.send(httpReq)
	c.inFlight.Add(-1)
	finished := time.Now()

	if resp.err != nil && ctx.Err() != nil {
		resp.canceled = true
		c.recorder.recordCanceled()
		return resp
	}
	waited := wait.duration()
	latency := finished.Sub(started) - waited
	if !req.intended.IsZero() && req.intended.Before(started) {
		latency = finished.Sub(req.intended)
	}
	c.recorder.record(req.endpoint, resp, latency, waited, finished)
	return resp
}

// connectionWait measures how long a request waited in the generator for a
// connection: from asking the pool until it got an idle connection or began
// dialing a new one. The hooks may run on the transport's goroutines.
type connectionWait struct {
	asked, served atomic.Int64 // UnixNano; zero until seen
}

func (w *connectionWait) trace() *httptrace.ClientTrace {
	served := func() { w.served.CompareAndSwap(0, time.Now().UnixNano()) }
	return &httptrace.ClientTrace{
		GetConn:      func(string) { w.asked.CompareAndSwap(0, time.Now().UnixNano()) },
		DNSStart:     func(httptrace.DNSStartInfo) { served() },
		ConnectStart: func(string, string) { served() },
		GotConn:      func(httptrace.GotConnInfo) { served() },
	}
}

func (w *connectionWait) duration() time.Duration {
	asked, served := w.asked.Load(), w.served.Load()
	if asked == 0 || served < asked {
		return 0
	}
	return time.Duration(served - asked)
}

func (c *apiClient) send(httpReq *http.Request) response {
	httpResp, err := c.http.Do(httpReq)
	if err != nil {
		return response{err: err}
	}
	defer httpResp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(httpResp.Body, maxResponseBody))
	// Drain what the limit left so the connection can be reused.
	_, _ = io.Copy(io.Discard, httpResp.Body)
	if err != nil {
		return response{err: err}
	}
	resp := response{status: httpResp.StatusCode, body: body, etag: httpResp.Header.Get("ETag")}
	if resp.status >= 400 {
		var envelope struct {
			Error struct {
				Code         string `json:"code"`
				RetryAfterMS int64  `json:"retry_after_ms"`
			} `json:"error"`
			RetryAfterMS int64 `json:"retry_after_ms"`
		}
		if json.Unmarshal(body, &envelope) == nil {
			resp.code = envelope.Error.Code
			resp.retryAfter = time.Duration(max(envelope.Error.RetryAfterMS, envelope.RetryAfterMS)) * time.Millisecond
		}
	}
	if resp.retryAfter == 0 {
		resp.retryAfter = parseRetryAfter(httpResp.Header.Get("Retry-After"), time.Now())
	}
	return resp
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
