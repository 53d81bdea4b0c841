package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
)

// Connect opens a client for the inventory. redisURL is a redis:// (or
// rediss://) URL as rueidis.ParseURL reads it, e.g. redis://127.0.0.1:6379/0,
// or, for a Redis Cluster, a comma-separated list of seed nodes:
// redis://user:pass@10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379. The first
// entry is a full URL and gives every option; the others may be bare
// host:port and add only their address. With several seeds the client
// must find a cluster; with one it finds out itself whether it has one.
//
// Automatic retries are off. rueidis resends on its own only commands marked
// retryable, read-only ones by default, never the EVALSHA of a mutating
// script; DisableRetry also stops those, so that a command that failed is
// reported as failed and the caller decides. Redirections in a cluster
// (MOVED, ASK) are still followed: a redirected script has not run. A client
// made some other way for this inventory must never mark the mutating
// scripts retryable, and should set DisableRetry too.
//
// The client gives every call a deadline and stops calling a Redis that
// keeps failing (see guardedClient); opts tune both.
func Connect(redisURL string, opts ClientOptions) (rueidis.Client, error) {
	seeds := strings.Split(redisURL, ",")
	conn, err := rueidis.ParseURL(strings.TrimSpace(seeds[0]))
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	for _, seed := range seeds[1:] {
		seed = strings.TrimSpace(seed)
		if !strings.Contains(seed, "://") {
			seed = "redis://" + seed
		}
		more, err := rueidis.ParseURL(seed)
		if err != nil {
			return nil, fmt.Errorf("redis url: seed %q: %w", seed, err)
		}
		conn.InitAddress = append(conn.InitAddress, more.InitAddress...)
	}
	conn.DisableRetry = true
	// Every command goes through the pipeline, even one sent alone: a call
	// sent alone on an idle connection otherwise runs synchronously, and
	// when its deadline passes rueidis closes the connection, failing the
	// commands queued behind it unsent. Pipelined, a call that ran out of
	// time only stops waiting; the others are sent and answered.
	conn.AlwaysPipelining = true
	// A connection rueidis drops (a server silent past its write timeout)
	// is dialled again by the next call, and every call waits for that one
	// attempt whatever its own deadline: the attempt, handshake included,
	// gets the call deadline instead of rueidis's 5 s.
	callTimeout := opts.CallTimeout
	if callTimeout <= 0 {
		callTimeout = DefaultCallTimeout
	}
	conn.Dialer.Timeout = callTimeout
	client, err := rueidis.NewClient(conn)
	if err != nil {
		return nil, fmt.Errorf("connect to redis at %s: %w", strings.Join(conn.InitAddress, ","), err)
	}
	return guard(client, opts.CallTimeout, opts.Logger), nil
}

// ClientOptions tune the client Connect returns.
type ClientOptions struct {
	// CallTimeout bounds each call but blocking ones (which carry their
	// own timeout); zero or less means DefaultCallTimeout.
	CallTimeout time.Duration
	// Logger hears when Redis starts and stops failing; nil: silence.
	Logger *slog.Logger
}

// Failing reports whether a client from Connect has stopped calling Redis
// because its last calls failed (it probes until Redis answers). It is
// false for any other client.
func Failing(client rueidis.Client) bool {
	g, ok := client.(*guardedClient)
	return ok && g.Failing()
}

// failure wraps the error of a Redis call. A server that cannot be reached
// or is still loading its data is a passing condition: the caller gets
// flashsale's unavailable, which clients are told to retry. An error reply
// (a script refusing its arguments) is a fault and stays one.
func failure(op string, err error) error {
	wrapped := fmt.Errorf("%s: %w", op, err)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return wrapped // the caller's own deadline; it knows
	}
	if errors.Is(err, ErrStalled) {
		// Unlike an unreachable server, a stalled one may have run the
		// command: say nothing of what changed.
		return &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: time.Second, Err: wrapped,
			Message: "the inventory did not answer in time; please retry"}
	}
	if reply, ok := rueidis.IsRedisErr(err); ok && !reply.IsLoading() && !reply.IsTryAgain() && !reply.IsClusterDown() {
		return wrapped
	}
	return &flashsale.Error{Code: flashsale.EUnavailable, RetryAfter: time.Second, Err: wrapped,
		Message: "the inventory cannot be reached right now; nothing was changed, please retry"}
}
