package redis

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale/ratelimit"
)

var (
	//go:embed limiter.lua
	limiterLua string

	limiterScript = rueidis.NewLuaScript(limiterLua)
)

const (
	// LimiterCacheSize is the most rejections a Limiter remembers at once.
	// Each costs a few hundred bytes; past the bound a random one is
	// forgotten, and its key is asked about in Redis again.
	LimiterCacheSize = 1 << 16

	// limiterWait bounds each trip to Redis. A healthy round trip takes a
	// millisecond or two; a Redis that takes far longer is as good as down,
	// and the caller, told so by an error, should decide now rather than
	// hold every request it limits.
	limiterWait = 200 * time.Millisecond
)

// Limiter is the rate limiter a fleet shares through Redis. It decides
// exactly as ratelimit.Memory does (both pass limitertest.Run): for each key,
// policy and limit it keeps the times of the last Count admissions, and one
// script checks every limit of the policy and records the request in each
// only if all admit it.
//
// Times come from the caller's clock, so instances whose clocks disagree
// judge a key at the newest admission any of them made when that is later:
// the limits still hold, and a client can be held back by at most the skew.
//
// A rejection is remembered in the process, and the key's next requests are
// answered from it without Redis, until the answer would change: when some
// limit's oldest admission within its window leaves it. Under a single
// limit, or when the other limits' windows hold nothing, that is the whole
// Retry-After; otherwise the remembered answer ends sooner, so that the
// RateLimit headers stay exact. Either way a client hammering while
// limited costs Redis a call or two per admission, not one per request.
//
// When Redis cannot be reached, Allow returns an error within limiterWait;
// the caller decides whether to admit.
type Limiter struct {
	client rueidis.Client
	prefix string

	mu       sync.Mutex
	rejected map[rejectedKey]*rejection
}

type rejectedKey struct{ policy, key string }

// rejection is a decision to reject, kept to answer a key's next requests
// locally. It never changes once made, so it is read outside the lock.
type rejection struct {
	decision ratelimit.Decision
	// judged is when the decision was made, on the caller's clock.
	judged time.Time
	// until is when the first admission of some limit leaves its window,
	// changing the decision; until then each status just counts down.
	until time.Time
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// NewLimiter returns a limiter whose keys, under prefix, live in client. The
// prefix must not contain braces, as for NewInventory; the client should
// come from Connect, since a script resent on its own could count one
// request twice.
func NewLimiter(client rueidis.Client, prefix string) *Limiter {
	if strings.ContainsAny(prefix, "{}") {
		// A brace would move the hash tag, and one call's keys could land
		// on several shards.
		panic(fmt.Sprintf("redis: key prefix %q contains a brace", prefix))
	}
	return &Limiter{client: client, prefix: prefix, rejected: make(map[rejectedKey]*rejection)}
}

// Allow decides at the current time.
func (l *Limiter) Allow(ctx context.Context, key string, p ratelimit.Policy) (ratelimit.Decision, error) {
	return l.AllowAt(ctx, key, p, time.Now())
}

// AllowAt decides whether the request for key at time now is within every
// limit of p, and records it in each limit only if it is. Times are kept to
// the microsecond, rounded down. Times passed in should not run backwards
// by more than a little: a request dated before the newest admission of its
// policy is judged as if made at that admission.
func (l *Limiter) AllowAt(ctx context.Context, key string, p ratelimit.Policy, now time.Time) (ratelimit.Decision, error) {
	if err := p.Validate(); err != nil {
		return ratelimit.Decision{}, err
	}
	if !p.Enabled() {
		return ratelimit.Decision{Allowed: true, Policy: p.Name}, nil
	}
	if d, ok := l.recall(key, p, now); ok {
		return d, nil
	}

	args := make([]string, 1, 1+2*len(p.Limits))
	args[0] = strconv.FormatInt(now.UnixMicro(), 10)
	for _, limit := range p.Limits {
		args = append(args, strconv.FormatInt(limit.Count, 10), strconv.FormatInt(windowMicros(limit), 10))
	}
	ctx, cancel := context.WithTimeout(ctx, limiterWait)
	defer cancel()
	reply, err := limiterScript.Exec(ctx, l.client, l.keys(key, p), args).AsIntSlice()
	if err != nil {
		return ratelimit.Decision{}, fmt.Errorf("rate limit %q under policy %q: %w", key, p.Name, err)
	}
	if len(reply) != 3+2*len(p.Limits) {
		return ratelimit.Decision{}, fmt.Errorf("rate limit %q under policy %q: reply of %d numbers", key, p.Name, len(reply))
	}

	d := ratelimit.Decision{Allowed: reply[0] == 1, RetryAfter: microseconds(reply[2]), Policy: p.Name,
		Limits: make([]ratelimit.LimitStatus, len(p.Limits))}
	for i, limit := range p.Limits {
		d.Limits[i] = ratelimit.LimitStatus{Limit: limit, Remaining: reply[3+2*i], ResetAfter: microseconds(reply[4+2*i])}
	}
	if !d.Allowed {
		// The script judged the request at now's microsecond, or later
		// (lag) at the policy's newest admission.
		judged := now.Add(-time.Duration(now.Nanosecond()%1000) + microseconds(reply[1]))
		l.remember(key, d, judged)
	}
	return d, nil
}

// recall answers from a remembered rejection of key under p, while one
// applies at now.
func (l *Limiter) recall(key string, p ratelimit.Policy, now time.Time) (ratelimit.Decision, bool) {
	k := rejectedKey{p.Name, key}
	l.mu.Lock()
	r := l.rejected[k]
	if r != nil && !now.Before(r.until) {
		delete(l.rejected, k)
		r = nil
	}
	l.mu.Unlock()
	// A request dated before the decision is left to Redis: a limit may
	// have held more admissions in its window then.
	if r == nil || now.Before(r.judged) || !sameLimits(r.decision.Limits, p.Limits) {
		return ratelimit.Decision{}, false
	}
	// While rejected the key is logged nowhere, so each limit holding
	// admissions in its window counts down to the first one leaving, and a
	// limit holding none stays at its full count and window.
	elapsed := now.Sub(r.judged)
	d := r.decision
	d.RetryAfter -= elapsed
	d.Limits = slices.Clone(d.Limits)
	for i := range d.Limits {
		if s := &d.Limits[i]; s.Remaining < s.Limit.Count {
			s.ResetAfter -= elapsed
		}
	}
	return d, true
}

// remember keeps the rejection d of key, judged at the given time, until its
// first limit would change.
func (l *Limiter) remember(key string, d ratelimit.Decision, judged time.Time) {
	// The binding limit holds admissions in its window, so there is a
	// first change, at the latest when RetryAfter elapses.
	next := d.RetryAfter
	for _, s := range d.Limits {
		if s.Remaining < s.Limit.Count {
			next = min(next, s.ResetAfter)
		}
	}
	// Cloned: the caller's key may share memory with a large buffer (a
	// request header) that the map would otherwise keep alive.
	k := rejectedKey{d.Policy, strings.Clone(key)}
	d.Limits = slices.Clone(d.Limits) // the caller's copy is the caller's
	r := &rejection{decision: d, judged: judged, until: judged.Add(next)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, found := l.rejected[k]; !found && len(l.rejected) >= LimiterCacheSize {
		// Map iteration starts at a random entry: random eviction, with
		// no bookkeeping on the hot path.
		for old := range l.rejected {
			delete(l.rejected, old)
			break
		}
	}
	l.rejected[k] = r
}

func sameLimits(statuses []ratelimit.LimitStatus, limits []ratelimit.Limit) bool {
	return slices.EqualFunc(statuses, limits, func(s ratelimit.LimitStatus, l ratelimit.Limit) bool { return s.Limit == l })
}

// keys returns the logs of key under p, one per limit. Layout, for a prefix
// P, a policy named N (of n bytes) and a key K:
//
//	P:rl:{n:N:K}:count/window   sorted set: the limit's last count admissions (see limiter.lua)
//
// with the window in microseconds. The hash tag holds the policy and the
// key, so one call's logs share a slot and keys spread over a cluster's
// shards. The name's length makes the layout unambiguous whatever
// characters N and K hold: a crafted key can never share another's logs.
// A '}' in K ends the tag early, which still gives every log of the call
// the same one.
func (l *Limiter) keys(key string, p ratelimit.Policy) []string {
	tag := l.prefix + ":rl:{" + strconv.Itoa(len(p.Name)) + ":" + p.Name + ":" + key + "}:"
	keys := make([]string, len(p.Limits))
	for i, limit := range p.Limits {
		keys[i] = tag + strconv.FormatInt(limit.Count, 10) + "/" + strconv.FormatInt(windowMicros(limit), 10)
	}
	return keys
}

// windowMicros is the limit's window in whole microseconds, rounded up so
// that a window set by hand to a fraction never admits early.
func windowMicros(l ratelimit.Limit) int64 {
	return int64((l.Window + time.Microsecond - 1) / time.Microsecond)
}

func microseconds(n int64) time.Duration { return time.Duration(n) * time.Microsecond }
