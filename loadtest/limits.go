package loadtest

import (
	"cmp"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// How the generator lives with the service's rate limits (API.md: a 429
// rate_limited carries Retry-After and the RateLimit fields). The load
// itself meets them as a crowd would: people wait what Retry-After says,
// bots do not (herd.go). The generator's own requests around the load
// (the sale's setup, the checks at the end, the draw watcher, the queue
// monitor) wait them out instead, through the pacer, for as long as the
// service says; a winner's payment or cancel and a queued order's status
// read are sent again once the limit allows, spending no attempt. A 429 is
// answered before the service acts: it tells nothing of what is checked
// or paid.

// clock is the generator's time for what it decides by the clock alone:
// how long its own requests wait for a rate limit. Tests replace it; the
// load's schedule (scheduler, openLoop) keeps the machine's clock.
type clock interface {
	now() time.Time
	// sleep waits d, or until ctx ends, and reports whether d passed.
	sleep(ctx context.Context, d time.Duration) bool
}

// systemClock is the machine's clock.
type systemClock struct{}

func (systemClock) now() time.Time { return time.Now() }

func (systemClock) sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// parseRateLimit reads one RateLimit field as the service writes it
// (package ratelimit, draft-ietf-httpapi-ratelimit-headers-11): a list of
// limits such as `"ip-1s";r=0;t=1, "order-60s";r=9;t=45`, where r is the
// quota left and t the seconds within which no more is given. It returns
// the longest t of the limits with no quota left, and their names. A
// member it cannot read is skipped: the field advises, and Retry-After
// still comes with every 429.
func parseRateLimit(field string) (reset time.Duration, exhausted []string) {
	for _, member := range splitOutsideQuotes(field, ',') {
		parts := splitOutsideQuotes(member, ';')
		name := strings.Trim(strings.TrimSpace(parts[0]), `"`)
		remaining, seconds := int64(-1), int64(0)
		for _, param := range parts[1:] {
			key, value, _ := strings.Cut(strings.TrimSpace(param), "=")
			n, err := strconv.ParseInt(value, 10, 64)
			switch {
			case err != nil:
			case key == "r":
				remaining = n
			case key == "t":
				seconds = n
			}
		}
		if name == "" || remaining != 0 {
			continue
		}
		exhausted = append(exhausted, name)
		reset = max(reset, time.Duration(seconds)*time.Second)
	}
	return reset, exhausted
}

// splitOutsideQuotes splits s at each sep that is not inside a quoted
// string (where a backslash escapes the next character).
func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// defaultLimitWait is the wait after a 429 that says none: the shortest
// window the service writes its limits in.
const defaultLimitWait = time.Second

// pacer keeps the generator's own requests within the service's rate
// limits. They share one gate, as they share the generator's address and
// so its per-IP limit: an answer that says a limit is spent (a 429, or a
// RateLimit field with a limit at r=0) closes the gate for as long as the
// answer says, and each request waits for it rather than spend itself on
// a certain 429.
type pacer struct {
	clock     clock
	mu        sync.Mutex
	notBefore time.Time
}

// wait holds the caller until the gate is open; false when ctx ended first.
func (p *pacer) wait(ctx context.Context) bool {
	for {
		p.mu.Lock()
		d := p.notBefore.Sub(p.clock.now())
		p.mu.Unlock()
		if d <= 0 {
			return true
		}
		// The gate may have moved on meanwhile: look again.
		if !p.clock.sleep(ctx, d) {
			return false
		}
	}
}

// learn closes the gate for as long as resp says a limit needs.
func (p *pacer) learn(resp response) {
	var wait time.Duration
	switch {
	case resp.status == http.StatusTooManyRequests:
		wait = cmp.Or(resp.limitWait(), defaultLimitWait)
	case len(resp.exhausted) > 0:
		wait = resp.limitReset
	default:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if until := p.clock.now().Add(wait); until.After(p.notBefore) {
		p.notBefore = until
	}
}

// paced sends req, one of the generator's own requests, through the
// pacer, and again after each 429 once the limit allows, however often,
// until ctx ends. It returns the first answer that is not a 429; else the
// last 429, or one standing for the request the pacer held for a limit
// until ctx ended.
func (r *run) paced(ctx context.Context, req request) response {
	resp := response{status: http.StatusTooManyRequests, code: "rate_limited"}
	for r.pacer.wait(ctx) {
		resp = r.client.do(ctx, req)
		r.pacer.learn(resp)
		if resp.status != http.StatusTooManyRequests {
			return resp
		}
	}
	return resp
}
