package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
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

// TestBurstThenWindow is the contract's example: "10/m allows 10 requests
// in any minute (a burst of 10), not one every 6 s".
func TestBurstThenWindow(t *testing.T) {
	m := NewMemory()
	p := policy(t, "10/m")
	for i := range 10 {
		d := allowAt(t, m, "user", p, 0)
		if !d.Allowed {
			t.Fatalf("request %d of the burst was rejected", i+1)
		}
		if want := int64(9 - i); d.Limits[0].Remaining != want || d.Limits[0].ResetAfter != time.Minute {
			t.Fatalf("after request %d: %+v, want Remaining %d and ResetAfter 1m", i+1, d.Limits[0], want)
		}
	}
	d := allowAt(t, m, "user", p, 0)
	if d.Allowed || d.RetryAfter != time.Minute {
		t.Fatalf("11th request: Allowed %v RetryAfter %v, want rejected for 60s", d.Allowed, d.RetryAfter)
	}
	// Not one every 6 s: nothing until the burst is a minute old.
	for at := 6 * time.Second; at < time.Minute; at += 6 * time.Second {
		if d := allowAt(t, m, "user", p, at); d.Allowed || d.RetryAfter != time.Minute-at {
			t.Fatalf("at %v: Allowed %v RetryAfter %v, want rejected for %v", at, d.Allowed, d.RetryAfter, time.Minute-at)
		}
	}
	if d := allowAt(t, m, "user", p, time.Minute-time.Nanosecond); d.Allowed {
		t.Fatal("admitted before RetryAfter elapsed")
	}
	// Then the whole burst again, since all of the first left the window.
	for i := range 10 {
		if d := allowAt(t, m, "user", p, time.Minute); !d.Allowed {
			t.Fatalf("request %d of the second burst was rejected", i+1)
		}
	}
	if d := allowAt(t, m, "user", p, time.Minute); d.Allowed || d.RetryAfter != time.Minute {
		t.Fatalf("11th request of the second burst: Allowed %v RetryAfter %v", d.Allowed, d.RetryAfter)
	}
}

// TestSpreadRequestsFreeOneAtATime checks that RetryAfter waits for the
// oldest of the last Count admissions, not for the whole burst.
func TestSpreadRequestsFreeOneAtATime(t *testing.T) {
	m := NewMemory()
	p := policy(t, "10/m")
	for i := range 10 {
		allowAt(t, m, "user", p, time.Duration(i)*time.Second)
	}
	d := allowAt(t, m, "user", p, 10*time.Second)
	if d.Allowed || d.RetryAfter != 50*time.Second || d.Limits[0].ResetAfter != 50*time.Second {
		t.Fatalf("at 10s: %+v, want rejected until the request at 0 is a minute old", d)
	}
	// From 60s each second frees one unit: the request at i s leaves the
	// window at 60+i s. Once the first ten are gone, the oldest is the one
	// at 60s, good until 120s.
	for i := range 10 {
		at := time.Minute + time.Duration(i)*time.Second
		wait := time.Second
		if i == 9 {
			wait = 51 * time.Second
		}
		if d := allowAt(t, m, "user", p, at); !d.Allowed || d.Limits[0].Remaining != 0 || d.Limits[0].ResetAfter != wait {
			t.Fatalf("at %v: %+v, want admitted with none left for %v", at, d, wait)
		}
		if d := allowAt(t, m, "user", p, at); d.Allowed || d.RetryAfter != wait {
			t.Fatalf("second request at %v: Allowed %v RetryAfter %v, want rejected for %v", at, d.Allowed, d.RetryAfter, wait)
		}
	}
}

func TestOnePerSecond(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1/s")
	var admitted []time.Duration
	for at := time.Duration(0); at < 10*time.Second; at += 100 * time.Millisecond {
		d := allowAt(t, m, "user", p, at)
		if d.Allowed {
			admitted = append(admitted, at)
			continue
		}
		if want := at.Truncate(time.Second) + time.Second - at; d.RetryAfter != want {
			t.Fatalf("at %v RetryAfter %v, want %v", at, d.RetryAfter, want)
		}
	}
	for i, at := range admitted {
		if at != time.Duration(i)*time.Second {
			t.Fatalf("admitted at %v, want one per second on the second", admitted)
		}
	}
	if len(admitted) != 10 {
		t.Fatalf("%d admitted in 10s, want 10", len(admitted))
	}
}

// TestSteadyClientGetsExactlyCountPerWindow fires one request a second for
// ten minutes at "1/s,10/m": the first minute admits exactly 10, and no
// span of a minute ever holds more than 10.
func TestSteadyClientGetsExactlyCountPerWindow(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1/s,10/m")
	var admitted []time.Duration
	for at := time.Duration(0); at < 10*time.Minute; at += time.Second {
		if allowAt(t, m, "user", p, at).Allowed {
			admitted = append(admitted, at)
		}
	}
	if n := countIn(admitted, 0, time.Minute); n != 10 {
		t.Fatalf("%d admitted in the first 60s, want 10", n)
	}
	assertAtMost(t, admitted, 10, time.Minute)
	assertAtMost(t, admitted, 1, time.Second)
	// Each minute is a burst of ten seconds, then fifty seconds of waiting.
	if len(admitted) != 100 {
		t.Fatalf("%d admitted in ten minutes, want 100", len(admitted))
	}
	for i, at := range admitted {
		if want := time.Duration(i/10)*time.Minute + time.Duration(i%10)*time.Second; at != want {
			t.Fatalf("admission %d at %v, want %v", i, at, want)
		}
	}
}

// TestHammeringClientNeverExceedsTheLimits fires every 100 ms for ten
// minutes: no second holds two admissions, no minute eleven.
func TestHammeringClientNeverExceedsTheLimits(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1/s,10/m")
	var admitted []time.Duration
	for at := time.Duration(0); at < 10*time.Minute; at += 100 * time.Millisecond {
		if allowAt(t, m, "user", p, at).Allowed {
			admitted = append(admitted, at)
		}
	}
	assertAtMost(t, admitted, 10, time.Minute)
	assertAtMost(t, admitted, 1, time.Second)
	if len(admitted) != 100 {
		t.Fatalf("%d admitted in ten minutes, want 10 a minute", len(admitted))
	}
}

// countIn counts the times in [from, to).
func countIn(times []time.Duration, from, to time.Duration) int {
	n := 0
	for _, at := range times {
		if from <= at && at < to {
			n++
		}
	}
	return n
}

// assertAtMost checks every span of length window over the sorted times.
// A span holding the most admissions can be slid forward until it starts
// at one, so checking the spans [times[i], times[i]+window) checks them
// all, closed or open at either end.
func assertAtMost(t *testing.T, times []time.Duration, count int, window time.Duration) {
	t.Helper()
	for i, from := range times {
		if n := countIn(times[i:], from, from+window); n > count {
			t.Fatalf("%d admissions in the %v from %v, want at most %d", n, window, from, count)
		}
	}
}

// TestMatchesTheDefinition replays an irregular stream of requests, with
// bursts and pauses, against a brute-force reading of the contract: admit
// when every limit has fewer than Count admissions within (t-Window, t].
func TestMatchesTheDefinition(t *testing.T) {
	m := NewMemory()
	p := policy(t, "3/s,7/10s,20/m")
	rng := rand.New(rand.NewPCG(1, 2))
	var admitted []time.Duration
	at := time.Duration(0)
	for i := range 20_000 {
		switch r := rng.IntN(10); {
		case r < 4: // same instant: a burst
		case r < 9:
			at += time.Duration(rng.Int64N(int64(2 * time.Second)))
		default:
			at += time.Duration(rng.Int64N(int64(2 * time.Minute)))
		}
		want := Decision{Allowed: true, Policy: p.Name, Limits: make([]LimitStatus, len(p.Limits))}
		for _, l := range p.Limits {
			inWindow := admittedSince(admitted, at-l.Window)
			if int64(len(inWindow)) >= l.Count {
				want.Allowed = false
				want.RetryAfter = max(want.RetryAfter, inWindow[len(inWindow)-int(l.Count)]+l.Window-at)
			}
		}
		if want.Allowed {
			admitted = append(admitted, at)
		}
		for j, l := range p.Limits {
			inWindow := admittedSince(admitted, at-l.Window)
			want.Limits[j] = LimitStatus{Limit: l, Remaining: l.Count - int64(len(inWindow)), ResetAfter: l.Window}
			if len(inWindow) > 0 {
				want.Limits[j].ResetAfter = inWindow[0] + l.Window - at
			}
		}
		if got := allowAt(t, m, "user", p, at); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("request %d at %v: got %+v, want %+v", i, at, got, want)
		}
	}
	for _, l := range p.Limits {
		assertAtMost(t, admitted, int(l.Count), l.Window)
	}
	if len(admitted) < 1000 {
		t.Fatalf("only %d admissions: the stream hardly tests anything", len(admitted))
	}
}

// admittedSince returns the admissions after since.
func admittedSince(admitted []time.Duration, since time.Duration) []time.Duration {
	i := len(admitted)
	for i > 0 && admitted[i-1] > since {
		i--
	}
	return admitted[i:]
}

func TestKeysAreIndependent(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1/m")
	if !allowAt(t, m, "alice", p, 0).Allowed || !allowAt(t, m, "bob", p, 0).Allowed {
		t.Fatal("one key's use limited another")
	}
	if allowAt(t, m, "alice", p, 0).Allowed {
		t.Fatal("alice's second request was admitted")
	}
}

func TestPoliciesWithTheSameKeyAreIndependent(t *testing.T) {
	m := NewMemory()
	ip, order := policy(t, "1/m").Named("ip"), policy(t, "1/m").Named("order")
	if !allowAt(t, m, "alice", ip, 0).Allowed || !allowAt(t, m, "alice", order, 0).Allowed {
		t.Fatal("one policy's use limited another under the same key")
	}
}

func TestMultipleLimits(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1/s,10/m")
	d := allowAt(t, m, "user", p, 0)
	if !d.Allowed || d.Limits[0].Remaining != 0 || d.Limits[1].Remaining != 9 {
		t.Fatalf("first request: %+v", d)
	}
	d = allowAt(t, m, "user", p, 500*time.Millisecond)
	if d.Allowed || d.RetryAfter != 500*time.Millisecond {
		t.Fatalf("second request within the second: Allowed %v RetryAfter %v, want rejected for 500ms", d.Allowed, d.RetryAfter)
	}
	for i := 1; i < 10; i++ {
		if d := allowAt(t, m, "user", p, time.Duration(i)*time.Second); !d.Allowed {
			t.Fatalf("request at %ds rejected", i)
		}
	}
	// The 1/s limit would admit now; the 10/m limit waits for the request
	// at 0 to be a minute old.
	d = allowAt(t, m, "user", p, 10*time.Second)
	if d.Allowed || d.RetryAfter != 50*time.Second || d.Limits[0].Remaining != 1 || d.Limits[1].Remaining != 0 {
		t.Fatalf("at 10s: %+v, want rejected by 10/m alone for 50s", d)
	}
}

func TestRejectedRequestsConsumeNothing(t *testing.T) {
	m := NewMemory()
	p := policy(t, "10/m")
	for range 10 {
		allowAt(t, m, "user", p, 0)
	}
	for at := time.Duration(0); at < time.Minute; at += 10 * time.Millisecond {
		if d := allowAt(t, m, "user", p, at); d.Allowed || d.RetryAfter != time.Minute-at {
			t.Fatalf("at %v during the wait: Allowed %v RetryAfter %v", at, d.Allowed, d.RetryAfter)
		}
	}
	// Six thousand rejections later, the whole burst is back on time.
	for i := range 10 {
		if !allowAt(t, m, "user", p, time.Minute).Allowed {
			t.Fatalf("request %d at 60s rejected: hammering while limited cost quota", i+1)
		}
	}
}

func TestRejectionByOneLimitConsumesFromNone(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1/s,10/m")
	allowAt(t, m, "user", p, 0)
	for range 50 {
		d := allowAt(t, m, "user", p, 500*time.Millisecond)
		if d.Allowed {
			t.Fatal("the 1/s limit admitted a second request")
		}
		if d.Limits[1].Remaining != 9 {
			t.Fatalf("the 10/m limit has %d left after rejections, want 9", d.Limits[1].Remaining)
		}
	}
	if d := allowAt(t, m, "user", p, time.Second); !d.Allowed || d.Limits[1].Remaining != 8 {
		t.Fatalf("at 1s: Allowed %v, 10/m Remaining %d; want admitted with 8", d.Allowed, d.Limits[1].Remaining)
	}

	// The other way round: while 2/m rejects, 1/s must not log either, or
	// the first request after the wait would find 1/s spent.
	p = policy(t, "1/s,2/m")
	allowAt(t, m, "other", p, 0)
	allowAt(t, m, "other", p, time.Second)
	for at := 2 * time.Second; at < time.Minute; at += 100 * time.Millisecond {
		if d := allowAt(t, m, "other", p, at); d.Allowed || d.Limits[0].Remaining != 1 {
			t.Fatalf("at %v: %+v, want rejected by 2/m with 1/s untouched", at, d)
		}
	}
	if !allowAt(t, m, "other", p, time.Minute).Allowed {
		t.Fatal("rejections by 2/m consumed the 1/s limit")
	}
}

func TestRetryAfterIsTheLongestWait(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1/s,2/m")
	allowAt(t, m, "user", p, 0)
	allowAt(t, m, "user", p, time.Second)
	// The 1/s limit would admit at 2s, the 2/m limit only at 60s.
	if d := allowAt(t, m, "user", p, 1500*time.Millisecond); d.Allowed || d.RetryAfter != 58500*time.Millisecond {
		t.Fatalf("Allowed %v RetryAfter %v, want rejected with 58.5s", d.Allowed, d.RetryAfter)
	}
	if allowAt(t, m, "user", p, time.Minute-time.Nanosecond).Allowed {
		t.Fatal("admitted before RetryAfter elapsed")
	}
	if !allowAt(t, m, "user", p, time.Minute).Allowed {
		t.Fatal("rejected once RetryAfter elapsed")
	}
}

// TestRequestDatedInThePast checks a request whose time precedes the key's
// latest admission (it read the clock, then waited for the lock): it is
// judged at that admission, so the log stays in order and the limit holds.
func TestRequestDatedInThePast(t *testing.T) {
	m := NewMemory()
	p := policy(t, "2/s")
	allowAt(t, m, "user", p, 10*time.Second)
	if d := allowAt(t, m, "user", p, 9500*time.Millisecond); !d.Allowed || d.Limits[0].ResetAfter != time.Second {
		t.Fatalf("late request: %+v, want admitted as of 10s", d)
	}
	if d := allowAt(t, m, "user", p, 10500*time.Millisecond); d.Allowed || d.RetryAfter != 500*time.Millisecond {
		t.Fatalf("at 10.5s: Allowed %v RetryAfter %v, want rejected until 11s", d.Allowed, d.RetryAfter)
	}
	for range 2 {
		if !allowAt(t, m, "user", p, 11*time.Second).Allowed {
			t.Fatal("at 11s both earlier admissions have left the window")
		}
	}
}

func TestDisabledPolicyAdmitsEverything(t *testing.T) {
	m := NewMemory()
	off := policy(t, "off")
	for range 1000 {
		if d := allowAt(t, m, "user", off, 0); !d.Allowed || len(d.Limits) != 0 {
			t.Fatalf("disabled policy decided %+v", d)
		}
	}
	if m.Len() != 0 {
		t.Fatalf("a disabled policy stored %d keys", m.Len())
	}
}

func TestUnusablePolicyIsAnError(t *testing.T) {
	m := NewMemory()
	for _, p := range []Policy{
		{Limits: []Limit{{Count: 0, Window: time.Second}}},
		{Limits: []Limit{{Count: 10, Window: 0}}},
		{Limits: []Limit{{Count: 10, Window: -time.Second}}},
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

func TestConcurrentRequestsAdmitExactlyTheBurst(t *testing.T) {
	m := NewMemory()
	const goroutines, requestsEach = 32, 100
	// requestAll fires every request at one instant and counts admissions
	// per key.
	requestAll := func(p Policy, keys int, at time.Duration) []int64 {
		admitted := make([]atomic.Int64, keys)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range requestsEach {
					key := (g + i) % keys
					if allowAt(t, m, strconv.Itoa(key), p, at).Allowed {
						admitted[key].Add(1)
					}
				}
			})
		}
		wg.Wait()
		counts := make([]int64, keys)
		for i := range admitted {
			counts[i] = admitted[i].Load()
		}
		return counts
	}

	burst := policy(t, "100/m").Named("burst")
	if got := requestAll(burst, 1, 0); got[0] != 100 {
		t.Fatalf("%d of %d concurrent requests admitted, want the burst of 100", got[0], goroutines*requestsEach)
	}
	multi := policy(t, "1/s,50/m").Named("multi")
	for _, at := range []time.Duration{0, time.Second} {
		for key, n := range requestAll(multi, 4, at) {
			if n != 1 {
				t.Errorf("at %v key %d: %d admitted, want 1", at, key, n)
			}
		}
	}
}

// TestConcurrentRequestsOnTheClock races requests through Allow, whose
// times come from the clock before the lock, so some arrive dated before
// the admission ahead of them: still exactly the burst is admitted.
func TestConcurrentRequestsOnTheClock(t *testing.T) {
	m := NewMemory()
	p := policy(t, "100/h,1000/2h")
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 200 {
				d, err := m.Allow(context.Background(), "user", p)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 100 {
		t.Fatalf("%d of 6400 requests admitted, want the burst of 100", n)
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

func TestSetHeaders(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1/s,10/m").Named("order")

	h := http.Header{}
	allowAt(t, m, "user", p, 0).SetHeaders(h)
	want := http.Header{
		"Ratelimit-Policy": {`"order-1s";q=1;w=1, "order-60s";q=10;w=60`},
		"Ratelimit":        {`"order-1s";r=0;t=1, "order-60s";r=9;t=60`},
	}
	assertHeaders(t, h, want)

	h = http.Header{}
	allowAt(t, m, "user", p, 200*time.Millisecond).SetHeaders(h)
	want["Ratelimit"] = []string{`"order-1s";r=0;t=1, "order-60s";r=9;t=60`}
	want["Retry-After"] = []string{"1"}
	assertHeaders(t, h, want)
}

func TestSetHeadersRetryAfterRoundsUp(t *testing.T) {
	m := NewMemory()
	p := policy(t, "10/m")
	for range 10 {
		allowAt(t, m, "user", p, 0)
	}
	for _, tt := range []struct {
		at   time.Duration
		want string
	}{
		{0, "60"},
		{100 * time.Millisecond, "60"}, // 59.9 s
		{59999 * time.Millisecond, "1"},
	} {
		h := http.Header{}
		allowAt(t, m, "user", p, tt.at).SetHeaders(h)
		if got := h.Get("Retry-After"); got != tt.want {
			t.Errorf("at %v Retry-After = %q, want %q", tt.at, got, tt.want)
		}
		if got := h.Get("RateLimit"); got != `"default-60s";r=0;t=`+tt.want {
			t.Errorf("at %v RateLimit = %q, want its t to match Retry-After", tt.at, got)
		}
	}
}

func TestSetHeadersCombinesPolicies(t *testing.T) {
	m := NewMemory()
	h := http.Header{}
	allowAt(t, m, "1.2.3.4", policy(t, "10/s").Named("ip"), 0).SetHeaders(h)
	allowAt(t, m, "user", policy(t, "10/m").Named("order"), 0).SetHeaders(h)
	assertHeaders(t, h, http.Header{
		"Ratelimit-Policy": {`"ip-1s";q=10;w=1`, `"order-60s";q=10;w=60`},
		"Ratelimit":        {`"ip-1s";r=9;t=1`, `"order-60s";r=9;t=60`},
	})
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

func assertHeaders(t *testing.T, got, want http.Header) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("headers %v, want %v", got, want)
	}
	for name, values := range want {
		if fmt.Sprint(got[name]) != fmt.Sprint(values) {
			t.Errorf("%s: %q, want %q", name, got[name], values)
		}
	}
}

func BenchmarkAllowParallel(b *testing.B) {
	for _, bc := range []struct {
		policy string
		keys   int
	}{
		{"1/s,10/m", 1},
		{"1/s,10/m", 100_000},
		// The largest log: every request searches 100000 timestamps.
		{"100000/h", 1},
	} {
		b.Run(fmt.Sprintf("policy=%s/keys=%d", bc.policy, bc.keys), func(b *testing.B) {
			m := NewMemory()
			p := policy(b, bc.policy).Named("order")
			keys := make([]string, bc.keys)
			for i := range keys {
				keys[i] = "user-" + strconv.Itoa(i)
			}
			var next atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := next.Add(1) * 7919
				for pb.Next() {
					i++
					if _, err := m.Allow(context.Background(), keys[i%uint64(bc.keys)], p); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
