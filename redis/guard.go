package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// guardedClient is the client every part of the adapter talks through. It
// gives each call a deadline, so that a stalled Redis (stopped, swapping, a
// network that drops packets without resetting the connection) is answered
// as unavailable within the deadline rather than after rueidis's connection
// timeout of ten seconds, which a shopper's request, a payment or a
// readiness probe cannot wait out. And it stops calling a Redis that keeps
// failing: after a few failed calls in a row every call fails at once,
// while one call at a time probes whether Redis is back.
//
// A call that ran out of time may still run on the server: a mutating
// script whose answer was lost is in doubt, as before, and its callers
// treat it so (checkout keeps a reservation whose answer was lost until
// the store tells).
type guardedClient struct {
	rueidis.Client
	timeout time.Duration
	breaker *breaker
}

// Guard defaults: a deadline a little above the slowest script a healthy
// server runs under a rush (milliseconds), three failures before the
// circuit opens, and a probe every quarter second while it is open.
const (
	DefaultCallTimeout = time.Second
	breakerThreshold   = 3
	breakerProbeEvery  = 250 * time.Millisecond
)

// ErrStalled is a call that Redis did not answer within the client's
// deadline; the command may still have run.
var ErrStalled = errors.New("redis did not answer in time")

// ErrCircuitOpen is a call that was not sent: the last calls failed, and
// Redis is being probed until it answers again.
var ErrCircuitOpen = errors.New("redis is failing; the call was not sent")

func guard(client rueidis.Client, timeout time.Duration, log *slog.Logger) *guardedClient {
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	return &guardedClient{Client: client, timeout: timeout,
		breaker: &breaker{threshold: breakerThreshold, probeEvery: breakerProbeEvery, now: time.Now, log: log}}
}

// Failing reports whether the circuit is open: Redis failed the last calls
// and only probes reach it.
func (c *guardedClient) Failing() bool { return c.breaker.open() }

func (c *guardedClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if !c.breaker.allow() {
		return rueidis.NewErrorResult(ErrCircuitOpen)
	}
	callCtx, cancel, own := c.deadline(ctx, cmd.IsBlock())
	res := c.Client.Do(callCtx, cmd)
	err := c.judge(ctx, callCtx, own, res.Error())
	cancel()
	if err != nil {
		return rueidis.NewErrorResult(err)
	}
	return res
}

func (c *guardedClient) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	if !c.breaker.allow() {
		results := make([]rueidis.RedisResult, len(multi))
		for i := range results {
			results[i] = rueidis.NewErrorResult(ErrCircuitOpen)
		}
		return results
	}
	blocking := false
	for i := range multi {
		blocking = blocking || multi[i].IsBlock()
	}
	callCtx, cancel, own := c.deadline(ctx, blocking)
	results := c.Client.DoMulti(callCtx, multi...)
	defer cancel()
	// One command that got no answer means the connection got none.
	var failed error
	for _, r := range results {
		if err := r.Error(); err != nil && !answered(err) {
			failed = err
			break
		}
	}
	if err := c.judge(ctx, callCtx, own, failed); err != failed {
		for i, r := range results {
			if r.Error() != nil && !answered(r.Error()) {
				results[i] = rueidis.NewErrorResult(err)
			}
		}
	}
	return results
}

// deadline bounds a call by the client's timeout unless the caller's own
// deadline is sooner. A blocking command (WAITAOF) carries a timeout of
// its own and is left to it. own says whether the deadline is the
// guard's.
func (c *guardedClient) deadline(ctx context.Context, blocking bool) (_ context.Context, _ context.CancelFunc, own bool) {
	if blocking {
		return ctx, func() {}, false
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= c.timeout {
		return ctx, func() {}, false
	}
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	return callCtx, cancel, true
}

// judge records a call's outcome with the breaker and returns the error to
// give the caller: the guard's own deadline becomes ErrStalled, so that it
// is not mistaken for the caller's.
func (c *guardedClient) judge(caller, call context.Context, own bool, err error) error {
	switch {
	case err == nil || answered(err):
		c.breaker.record(true)
		return err
	case caller.Err() != nil, !own && errors.Is(err, context.DeadlineExceeded):
		// The caller gave up, or its own deadline, the call's, ran out
		// (rueidis may give up a moment before the deadline's timer, with
		// the caller's context not yet done): that says nothing of Redis.
		return err
	case errors.Is(call.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		// rueidis may give up a moment before the deadline's own timer.
		c.breaker.record(false)
		return fmt.Errorf("%w within %s", ErrStalled, c.timeout)
	default:
		c.breaker.record(false)
		return err
	}
}

// answered reports whether err is Redis's own reply (an error reply or
// nil): the server is there.
func answered(err error) bool {
	_, ok := rueidis.IsRedisErr(err)
	return ok || rueidis.IsRedisNil(err)
}

// breaker counts failed calls in a row. At threshold it opens: calls fail
// at once, but one call every probeEvery goes through, and the first that
// Redis answers closes it.
type breaker struct {
	threshold  int32
	probeEvery time.Duration
	now        func() time.Time
	log        *slog.Logger

	failures  atomic.Int32
	nextProbe atomic.Int64 // unix nanoseconds; meaningful while open
}

func (b *breaker) open() bool { return b.failures.Load() >= b.threshold }

func (b *breaker) allow() bool {
	if !b.open() {
		return true
	}
	next, now := b.nextProbe.Load(), b.now().UnixNano()
	return now >= next && b.nextProbe.CompareAndSwap(next, now+int64(b.probeEvery))
}

func (b *breaker) record(ok bool) {
	if ok {
		if b.failures.Load() != 0 && b.failures.Swap(0) >= b.threshold && b.log != nil {
			b.log.Info("redis answers again; calls go through")
		}
		return
	}
	if b.failures.Add(1) == b.threshold {
		b.nextProbe.Store(b.now().Add(b.probeEvery).UnixNano())
		if b.log != nil {
			b.log.Warn("redis failed the last calls; failing fast and probing", "probe_every", b.probeEvery)
		}
	}
}

// callTimeout is the deadline a client from Connect gives each call, or
// DefaultCallTimeout for any other client.
func callTimeout(client rueidis.Client) time.Duration {
	if g, ok := client.(*guardedClient); ok {
		return g.timeout
	}
	return DefaultCallTimeout
}
