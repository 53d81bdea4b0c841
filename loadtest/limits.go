package loadtest

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
// or paid. And a run whose first second is mostly 429s says so at once
// (limitWatch), not only in its final report.

// clock is the generator's time for what it decides by the clock alone:
// how long its own requests wait for a rate limit, and whether an answer
// came within the traffic's first second. Tests replace it; the load's
// schedule (scheduler, openLoop) keeps the machine's clock.
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

// The first second of the traffic, which limitWatch judges, and the
// fewest answers in it that make "most" mean something.
const (
	limitWatchWindow     = time.Second
	limitWatchMinAnswers = 10
)

// limitWatch warns, once, when most answers of the traffic's first second
// are 429s. A service run with its default rate limits (10/s per client
// IP, which every simulated user shares, and 1/s,10/m per user on
// place-order) refuses nearly all of a load test, and a run that said so
// only in its final report would have measured the limits for its whole
// duration.
type limitWatch struct {
	clock clock
	out   *console
	// over is set once the warning went out or the first second passed,
	// so that the rest of the run's answers skip the lock.
	over atomic.Bool

	mu sync.Mutex
	// start is when the traffic's first answer came; zero before it.
	start            time.Time
	answers, limited int
	// exhausted names the limits the 429s said were spent.
	exhausted []string
}

// observe counts an answer of the traffic phase and warns when, within
// the first second, most answers so far were 429s.
func (w *limitWatch) observe(resp response) {
	if w == nil || resp.err != nil || w.over.Load() {
		return
	}
	w.mu.Lock()
	now := w.clock.now()
	if w.start.IsZero() {
		w.start = now
	}
	if now.Sub(w.start) >= limitWatchWindow {
		w.over.Store(true)
		w.mu.Unlock()
		return
	}
	w.answers++
	if resp.status == http.StatusTooManyRequests {
		w.limited++
		for _, name := range resp.exhausted {
			if !slices.Contains(w.exhausted, name) {
				w.exhausted = append(w.exhausted, name)
			}
		}
	}
	if w.answers < limitWatchMinAnswers || 2*w.limited <= w.answers {
		w.mu.Unlock()
		return
	}
	w.over.Store(true)
	text := limitWarning(w.limited, w.answers, w.exhausted)
	w.mu.Unlock()
	w.out.warn(text)
}

// limitWarning says that the service's rate limits refuse the load, which
// limits (by the names the RateLimit fields gave) and how to run the
// service for a load test.
func limitWarning(limited, answers int, exhausted []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "WARNING: %d of the first %d answers were 429 rate_limited: the service's rate limits refuse this load, so the run measures them, not the service.\n", limited, answers)
	slices.Sort(exhausted)
	for _, name := range exhausted {
		switch {
		case strings.HasPrefix(name, "ip-"):
			fmt.Fprintf(&b, "  %q is the per-IP limit (FLASHSALE_RATE_LIMIT_IP, default 10/s): every simulated user sends from this generator's address.\n", name)
		case strings.HasPrefix(name, "order-throttle"):
			fmt.Fprintf(&b, "  %q is the per-user place-order limit as the throttle tightened it (FLASHSALE_THROTTLE, default off).\n", name)
		case strings.HasPrefix(name, "order-"):
			fmt.Fprintf(&b, "  %q is the per-user place-order limit (FLASHSALE_RATE_LIMIT_ORDER_USER, default 1/s,10/m).\n", name)
		default:
			fmt.Fprintf(&b, "  %q is spent.\n", name)
		}
	}
	b.WriteString("  For a load test, run the service with its limits off (or raised, e.g. 100000/s):\n")
	b.WriteString("    FLASHSALE_RATE_LIMIT_IP=off FLASHSALE_RATE_LIMIT_ORDER_USER=off flashsale serve\n")
	b.WriteString("    flashsale serve --rate-limit-ip off --rate-limit-order-user off\n")
	b.WriteString("  (With --embedded, the per-IP limit is off already: add -embedded-rate-limit-order-user off.) The run goes on; its own requests wait out the limits.")
	return b.String()
}
