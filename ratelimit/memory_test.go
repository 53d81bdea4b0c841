package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// start is an arbitrary fixed instant the tests count from.
var start = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func policy(t testing.TB, text string) Policy {
	t.Helper()
	p, err := ParsePolicy(text)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func allowAt(t testing.TB, m *Memory, key string, p Policy, at time.Duration) Decision {
	t.Helper()
	d, err := m.AllowAt(key, p, start.Add(at))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDisabledPolicyStoresNothing(t *testing.T) {
	m := NewMemory()
	for range 1000 {
		allowAt(t, m, "user", policy(t, "off"), 0)
	}
	if m.Len() != 0 {
		t.Fatalf("a disabled policy stored %d keys", m.Len())
	}
}

// TestUnusablePolicyStoresNothing also checks the bounds to the unit.
func TestUnusablePolicyStoresNothing(t *testing.T) {
	m := NewMemory()
	for _, p := range []Policy{
		{Limits: []Limit{{Count: maxCount + 1, Window: time.Hour}}},
		{Limits: []Limit{{Count: 1, Window: maxWindow + 1}}},
		{Limits: []Limit{{Count: 1, Window: time.Second}, {Count: 2, Window: time.Second}}},
	} {
		if _, err := m.AllowAt("user", p, start); err == nil {
			t.Errorf("policy %v was accepted", p.Limits)
		}
	}
	if m.Len() != 0 {
		t.Fatalf("unusable policies stored %d keys", m.Len())
	}
}

// TestLogHoldsAtMostCount checks the memory bound: a log grows with the
// admissions it must remember, and never past Count.
func TestLogHoldsAtMostCount(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1000/h,100000/2h")
	for i := range 10 {
		allowAt(t, m, "user", p, time.Duration(i)*time.Millisecond)
	}
	logs := m.shards[hashShard(m, "user")].keys["user"].logs
	for _, g := range logs {
		if cap(g.times) > 16 {
			t.Fatalf("%s log holds room for %d after 10 admissions", g.limit, cap(g.times))
		}
	}
	for i := range 5000 {
		allowAt(t, m, "user", p, time.Second+time.Duration(i)*time.Millisecond)
	}
	for _, g := range logs[:1] {
		if cap(g.times) != 1000 {
			t.Fatalf("full %s log holds room for %d", g.limit, cap(g.times))
		}
	}
}

func TestAllowUsesTheClock(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1/h")
	if d, err := m.Allow(context.Background(), "user", p); err != nil || !d.Allowed {
		t.Fatalf("first request: %+v, %v", d, err)
	}
	d, err := m.Allow(context.Background(), "user", p)
	if err != nil || d.Allowed || d.RetryAfter <= 59*time.Minute {
		t.Fatalf("second request: %+v, %v; want rejected for about an hour", d, err)
	}
}

func TestRefilledKeysAreEvicted(t *testing.T) {
	m := NewMemory()
	p := policy(t, "10/s")
	const rounds, keysPerRound = 10, 100_000
	for round := range rounds {
		at := time.Duration(round) * (sweepInterval + time.Second)
		for i := range keysPerRound {
			allowAt(t, m, fmt.Sprintf("client-%d-%d", round, i), p, at)
		}
		// Each shard sweeps on its first request of the round, so at
		// most this round's keys remain.
		if n := m.Len(); n > keysPerRound {
			t.Fatalf("round %d: %d keys held, want at most %d", round, n, keysPerRound)
		}
	}
	// The sweep rebuilt the maps that shrank, so memory follows too.
	allowAtAll(t, m, p, rounds*(sweepInterval+time.Second))
	for i := range m.shards {
		if sh := &m.shards[i]; sh.peak > minShrinkPeak {
			t.Fatalf("shard %d still sized for %d keys after its sweep", i, sh.peak)
		}
	}
}

// allowAtAll makes one request on every shard at, so that each sweeps.
func allowAtAll(t *testing.T, m *Memory, p Policy, at time.Duration) {
	swept := make(map[uint64]bool)
	for i := 0; len(swept) < shardCount; i++ {
		key := "sweeper-" + strconv.Itoa(i)
		allowAt(t, m, key, p, at)
		swept[hashShard(m, key)] = true
	}
}

func TestEvictionKeepsKeysStillRefilling(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1/h")
	allowAt(t, m, "user", p, 0)
	allowAtAll(t, m, p, 30*time.Minute)
	if allowAt(t, m, "user", p, 30*time.Minute).Allowed {
		t.Fatal("a sweep forgot a key that was still limited")
	}
	if !allowAt(t, m, "user", p, time.Hour).Allowed {
		t.Fatal("the key was not admitted after its window")
	}
}

func TestKeyForgetsOtherLimitsOnceIdle(t *testing.T) {
	m := NewMemory()
	allowAt(t, m, "user", policy(t, "1/s"), 0)
	allowAt(t, m, "user", policy(t, "1/m"), 0)
	allowAt(t, m, "user", policy(t, "5/m"), 2*time.Minute)
	sh := &m.shards[hashShard(m, "user")]
	if logs := len(sh.keys["user"].logs); logs != 1 {
		t.Fatalf("key holds %d logs, want only the limit used since it went idle", logs)
	}
}

func hashShard(m *Memory, key string) uint64 {
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		_, found := sh.keys[key]
		sh.mu.Unlock()
		if found {
			return uint64(i)
		}
	}
	panic("key " + key + " is in no shard")
}

func TestSetHeadersDisabledPolicyWritesNothing(t *testing.T) {
	h := http.Header{}
	allowAt(t, NewMemory(), "user", policy(t, "off"), 0).SetHeaders(h)
	if len(h) != 0 {
		t.Fatalf("headers %v for a disabled policy", h)
	}
}

func TestSetHeadersEscapesPolicyName(t *testing.T) {
	h := http.Header{}
	allowAt(t, NewMemory(), "user", policy(t, "1/s").Named("a\"b\\c\né"), 0).SetHeaders(h)
	if got, want := h.Get("RateLimit-Policy"), `"a\"b\\c___-1s";q=1;w=1`; got != want {
		t.Fatalf("RateLimit-Policy = %s, want %s", got, want)
	}
}
