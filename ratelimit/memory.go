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
	// sweepInterval is how often a shard drops keys whose quota has fully
	// refilled. Such keys are indistinguishable from absent ones, so the
	// interval bounds memory (keys seen in the last interval plus the
	// longest window) without changing any decision.
	sweepInterval = 10 * time.Second
	// minShrinkPeak is the map size below which a shard never rebuilds its
	// map after a sweep: small maps cost little, rebuilding them churns.
	minShrinkPeak = 1024
)

// Memory is an in-process GCRA limiter. It is safe for concurrent use and
// keeps memory in proportion to the keys that are still refilling.
type Memory struct {
	seed maphash.Seed
	// epoch anchors time as an offset from the limiter's creation, so that
	// Allow measures with the monotonic clock: a wall clock stepping back
	// must not lock every client out.
	epoch  time.Time
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

// keyState is one key's GCRA state.
type keyState struct {
	cells []cell
	// idleAt is when every cell has fully refilled; from then on the key
	// may be dropped.
	idleAt time.Duration
}

// cell holds the theoretical arrival time (TAT) of one limit of one policy
// for a key: the time at which the key's quota for that limit is full again
// if nothing more is admitted.
type cell struct {
	policy string
	limit  Limit
	tat    time.Duration
}

// longAgo precedes every time the limiter sees. Times are offsets from the
// epoch and may be negative, so zero will not do.
const longAgo = time.Duration(math.MinInt64)

var _ Limiter = (*Memory)(nil)

// NewMemory returns an empty in-memory limiter.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed(), epoch: time.Now()}
	for i := range m.shards {
		m.shards[i].keys = make(map[string]*keyState)
		m.shards[i].nextSweep = longAgo
	}
	return m
}

// Allow decides at the current time. It never fails for a valid policy.
func (m *Memory) Allow(_ context.Context, key string, p Policy) (Decision, error) {
	return m.AllowAt(key, p, time.Now())
}

// AllowAt decides whether the request for key at time now conforms to every
// limit of p, and consumes one unit from each limit only if it does. Times
// passed in should not run backwards by more than a little (a request
// dated in the past is judged against the current state).
func (m *Memory) AllowAt(key string, p Policy, now time.Time) (Decision, error) {
	if err := p.validate(); err != nil {
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
	if state != nil && state.idleAt <= t {
		// Fully refilled: start afresh, which also forgets cells of limits
		// the key is no longer checked against.
		state.cells, state.idleAt = state.cells[:0], longAgo
	}
	// GCRA: a request at t conforms when t >= TAT - (Count-1)*interval,
	// that is, when admitting it keeps the backlog within the burst.
	for _, l := range p.Limits {
		tat := max(state.tat(p.Name, l), t)
		if admitAt := tat - time.Duration(l.Count-1)*l.interval(); admitAt > t {
			d.Allowed = false
			d.RetryAfter = max(d.RetryAfter, admitAt-t)
		}
	}
	d.Limits = make([]LimitStatus, len(p.Limits))
	for i, l := range p.Limits {
		tat := max(state.tat(p.Name, l), t)
		if d.Allowed {
			tat += l.interval()
			state = sh.record(key, state, p.Name, l, tat)
		}
		d.Limits[i] = limitStatus(l, tat-t)
	}
	return d, nil
}

// tat returns the key's TAT for the policy's limit, or longAgo when the
// key has none (a nil state is a key never seen).
func (s *keyState) tat(policy string, l Limit) time.Duration {
	if s != nil {
		for _, c := range s.cells {
			if c.limit == l && c.policy == policy {
				return c.tat
			}
		}
	}
	return longAgo
}

// record stores tat for the policy's limit, creating the key's state if
// needed, and returns the state.
func (sh *shardState) record(key string, s *keyState, policy string, l Limit, tat time.Duration) *keyState {
	if s == nil {
		s = &keyState{idleAt: longAgo}
		// Clone: the caller's key may share memory with a large buffer
		// (a request header) that the map would otherwise keep alive.
		sh.keys[strings.Clone(key)] = s
		sh.peak = max(sh.peak, len(sh.keys))
	}
	s.idleAt = max(s.idleAt, tat)
	for i := range s.cells {
		if s.cells[i].limit == l && s.cells[i].policy == policy {
			s.cells[i].tat = tat
			return s
		}
	}
	s.cells = append(s.cells, cell{policy: policy, limit: l, tat: tat})
	return s
}

// limitStatus describes a limit whose backlog (TAT minus now) is given.
// With capacity = Count*interval, the quota left is the whole intervals
// still free, and the effective window is the time until one more frees.
func limitStatus(l Limit, backlog time.Duration) LimitStatus {
	interval := l.interval()
	capacity := time.Duration(l.Count) * interval
	remaining := max(0, int64((capacity-backlog)/interval))
	return LimitStatus{
		Limit:      l,
		Remaining:  remaining,
		ResetAfter: backlog + time.Duration(remaining+1)*interval - capacity,
	}
}

// sweepIfDue drops the keys that have fully refilled, at most once per
// sweepInterval.
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
