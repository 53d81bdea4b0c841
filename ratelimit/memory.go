package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"
	"unsafe"
)

const (
	// shardCount spreads keys over independently locked maps so that
	// parallel requests for different keys rarely wait on each other.
	shardCount = 64
	// sweepInterval is how often a shard drops keys whose admissions have
	// all left their windows. Such keys are indistinguishable from absent
	// ones, so the interval bounds memory (keys seen in the last interval
	// plus the longest window) without changing any decision.
	sweepInterval = 10 * time.Second
	// minShrinkPeak is the map size below which a shard never rebuilds its
	// map after a sweep: small maps cost little, rebuilding them churns.
	minShrinkPeak = 1024
)

// Memory is an in-process sliding-window-log limiter. For each key and each
// limit of a policy it keeps the times of the last Count admissions, and it
// admits a request only when, for every limit, fewer than Count of them lie
// within the last Window. That is exact: no span of Window ever holds more
// than Count admissions, and a burst of Count is admitted at once.
//
// It is safe for concurrent use and keeps memory in proportion to the keys
// admitted within their longest window: at most Count timestamps (8 bytes
// each) per key and limit, allocated as admissions arrive.
type Memory struct {
	seed maphash.Seed
	// epoch anchors time as an offset from the limiter's creation, so that
	// Allow measures with the monotonic clock: a wall clock stepping back
	// must not lock every client out.
	epoch  time.Time
	now    func() time.Time
	shards [shardCount]shard
}

// shard is one lock's share of the keys, padded to a cache line so that
// neighbouring shards' locks do not contend.
type shard struct {
	shardState
	_ [cacheLine - unsafe.Sizeof(shardState{})%cacheLine]byte
}

const cacheLine = 64

type shardState struct {
	mu   sync.Mutex
	keys map[string]*keyState
	// peak is the most keys held since the map was last built. Go maps
	// never return memory on delete, so a sweep that empties most of a
	// large map rebuilds it.
	peak      int
	nextSweep time.Duration
}

// keyState is one key's admission logs, one per limit of each policy the
// key was checked against.
type keyState struct {
	logs []admissionLog
	// newest is the key's latest admission. A request dated before it (a
	// goroutine that read the clock, then waited for the lock) is judged at
	// newest, which keeps every log in time order.
	newest time.Duration
	// idleAt is when every admission has left its window (the newest
	// admission plus the longest window held); from then on the key may be
	// dropped.
	idleAt time.Duration
}

// admissionLog holds the times of the last Count admissions of one limit
// of one policy for a key, as offsets from the epoch (int64 nanoseconds,
// monotonic), oldest first from head.
type admissionLog struct {
	policy string
	limit  Limit
	// times grows as admissions arrive, up to Count entries, so a key that
	// made a few requests holds a few timestamps whatever its limit. Once
	// full it is a ring: head is the oldest entry, and a new admission
	// overwrites it. Until then head is 0 and times is in order.
	times []time.Duration
	head  int
}

// longAgo precedes every time the limiter sees. Times are offsets from the
// epoch and may be negative, so zero will not do.
const longAgo = time.Duration(math.MinInt64)

var _ Limiter = (*Memory)(nil)

// NewMemory returns an empty in-memory limiter on the real clock.
func NewMemory() *Memory { return NewMemoryAt(time.Now) }

// NewMemoryAt returns an empty in-memory limiter that Allow asks now for
// the time: a test moves a clock of its own instead of waiting for a
// window to pass.
func NewMemoryAt(now func() time.Time) *Memory {
	m := &Memory{seed: maphash.MakeSeed(), epoch: now(), now: now}
	for i := range m.shards {
		m.shards[i].keys = make(map[string]*keyState)
		m.shards[i].nextSweep = longAgo
	}
	return m
}

// Allow decides at the current time. It never fails for a valid policy.
func (m *Memory) Allow(_ context.Context, key string, p Policy) (Decision, error) {
	return m.AllowAt(key, p, m.now())
}

// AllowAt decides whether the request for key at time now is within every
// limit of p, and records it in each limit only if it is. Times passed in
// should not run backwards by more than a little: a request dated before
// the key's latest admission is judged as if made at that admission.
func (m *Memory) AllowAt(key string, p Policy, now time.Time) (Decision, error) {
	if err := p.Validate(); err != nil {
		return Decision{}, err
	}
	d := Decision{Allowed: true, Policy: p.Name}
	if !p.Enabled() {
		return d, nil
	}
	t := now.Sub(m.epoch)
	sh := &m.shards[maphash.String(m.seed, key)%shardCount]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sweepIfDue(t)

	state := sh.keys[key]
	if state != nil {
		t = max(t, state.newest)
		if state.idleAt <= t {
			// Every admission has left its window: start afresh, which also
			// forgets the logs of limits the key is no longer checked
			// against.
			clear(state.logs)
			state.logs, state.idleAt = state.logs[:0], longAgo
		}
	}
	// A limit rejects when its log is full and its oldest entry is still
	// within the window: then Count admissions lie in (t-Window, t].
	for _, l := range p.Limits {
		if wait := state.find(p.Name, l).wait(l, t); wait > 0 {
			d.Allowed = false
			d.RetryAfter = max(d.RetryAfter, wait)
		}
	}
	d.Limits = make([]LimitStatus, len(p.Limits))
	if d.Allowed {
		state = sh.record(key, state, p.Name, p.Limits, t)
	}
	for i, l := range p.Limits {
		d.Limits[i] = state.find(p.Name, l).status(l, t)
	}
	return d, nil
}

// find returns the key's log for the policy's limit, or nil when there is
// none (a nil state is a key never seen).
func (s *keyState) find(policy string, l Limit) *admissionLog {
	if s != nil {
		for i := range s.logs {
			if s.logs[i].limit == l && s.logs[i].policy == policy {
				return &s.logs[i]
			}
		}
	}
	return nil
}

// record logs an admission at t in each of the policy's limits, creating
// the key's state and logs as needed, and returns the state.
func (sh *shardState) record(key string, s *keyState, policy string, limits []Limit, t time.Duration) *keyState {
	if s == nil {
		s = &keyState{newest: longAgo, idleAt: longAgo}
		// Clone: the caller's key may share memory with a large buffer
		// (a request header) that the map would otherwise keep alive.
		sh.keys[strings.Clone(key)] = s
		sh.peak = max(sh.peak, len(sh.keys))
	}
	for _, l := range limits {
		g := s.find(policy, l)
		if g == nil {
			s.logs = append(s.logs, admissionLog{policy: policy, limit: l})
			g = &s.logs[len(s.logs)-1]
		}
		g.add(l, t)
		s.idleAt = max(s.idleAt, t+l.Window)
	}
	s.newest = t
	return s
}

// wait returns how long until the limit admits a request made at t: zero
// when fewer than Count admissions lie in (t-Window, t], otherwise the time
// until the oldest of the last Count leaves the window. A nil log is empty.
func (g *admissionLog) wait(l Limit, t time.Duration) time.Duration {
	if g == nil || int64(len(g.times)) < l.Count {
		return 0
	}
	return max(0, g.times[g.head]+l.Window-t)
}

// add logs an admission at t, which must not precede the newest entry.
func (g *admissionLog) add(l Limit, t time.Duration) {
	if n := int64(len(g.times)); n < l.Count {
		if n == int64(cap(g.times)) {
			// Grow by doubling, but never past Count: append's own growth
			// could overshoot the bound ParsePolicy promises.
			grown := make([]time.Duration, n, min(l.Count, max(4, 2*n)))
			copy(grown, g.times)
			g.times = grown
		}
		g.times = append(g.times, t)
		return
	}
	g.times[g.head] = t
	g.head = (g.head + 1) % len(g.times)
}

// at returns the i-th oldest entry.
func (g *admissionLog) at(i int) time.Duration {
	return g.times[(g.head+i)%len(g.times)]
}

// status describes the limit at t: Remaining is Count less the admissions
// within (t-Window, t], and ResetAfter the time until the oldest of those
// leaves the window and frees one more unit (the whole Window when none is
// in it, since then Count is all that any span of Window can admit).
func (g *admissionLog) status(l Limit, t time.Duration) LimitStatus {
	s := LimitStatus{Limit: l, Remaining: l.Count, ResetAfter: l.Window}
	if g == nil {
		return s
	}
	// The entries are in time order, so those still within the window
	// are a suffix: find its start by binary search.
	lo, hi := 0, len(g.times)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if g.at(mid)+l.Window > t {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if inWindow := len(g.times) - lo; inWindow > 0 {
		s.Remaining = l.Count - int64(inWindow)
		s.ResetAfter = g.at(lo) + l.Window - t
	}
	return s
}

// sweepIfDue drops the keys whose admissions have all left their windows,
// at most once per sweepInterval.
func (sh *shardState) sweepIfDue(t time.Duration) {
	if t < sh.nextSweep {
		return
	}
	sh.nextSweep = t + sweepInterval
	for key, s := range sh.keys {
		if s.idleAt <= t {
			delete(sh.keys, key)
		}
	}
	if sh.peak >= minShrinkPeak && len(sh.keys) < sh.peak/4 {
		// A fresh map sized to its contents: maps.Clone would keep the
		// old map's capacity.
		rebuilt := make(map[string]*keyState, len(sh.keys))
		for key, s := range sh.keys {
			rebuilt[key] = s
		}
		sh.keys, sh.peak = rebuilt, len(rebuilt)
	}
}

// Len returns the number of keys held, for tests and metrics.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.keys)
		sh.mu.Unlock()
	}
	return n
}
