package ratelimit

import (
	"context"
	"fmt"
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

func TestBurstThenRefill(t *testing.T) {
	m := NewMemory()
	p := policy(t, "10/m")
	for i := range 10 {
		d := allowAt(t, m, "user", p, 0)
		if !d.Allowed {
			t.Fatalf("request %d of the burst was rejected", i+1)
		}
		if want := int64(9 - i); d.Limits[0].Remaining != want {
			t.Fatalf("after request %d Remaining = %d, want %d", i+1, d.Limits[0].Remaining, want)
		}
	}
	d := allowAt(t, m, "user", p, 0)
	if d.Allowed || d.RetryAfter != 6*time.Second {
		t.Fatalf("11th request: Allowed %v RetryAfter %v, want rejected with 6s", d.Allowed, d.RetryAfter)
	}
	if d := allowAt(t, m, "user", p, 6*time.Second-time.Nanosecond); d.Allowed {
		t.Fatal("admitted before RetryAfter elapsed")
	}
	if d := allowAt(t, m, "user", p, 6*time.Second); !d.Allowed {
		t.Fatal("rejected once RetryAfter elapsed")
	}
	if d := allowAt(t, m, "user", p, 6*time.Second); d.Allowed {
		t.Fatal("a refill of one interval admitted two requests")
	}
	// After a full window of quiet the whole burst is back.
	for i := range 10 {
		if d := allowAt(t, m, "user", p, 72*time.Second); !d.Allowed {
			t.Fatalf("request %d of the second burst was rejected", i+1)
		}
	}
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
	if !allowAt(t, m, "user", p, 0).Allowed {
		t.Fatal("first request rejected")
	}
	d := allowAt(t, m, "user", p, 500*time.Millisecond)
	if d.Allowed || d.RetryAfter != 500*time.Millisecond {
		t.Fatalf("second request within the second: Allowed %v RetryAfter %v, want rejected with 500ms", d.Allowed, d.RetryAfter)
	}

	// A client hammering every 100 ms for ten minutes: the 1/s limit spaces
	// admissions a second apart, and the 10/m limit holds the long-run rate
	// to its burst plus one per 6 s.
	var admitted []time.Duration
	for at := time.Second; at <= 10*time.Minute; at += 100 * time.Millisecond {
		if allowAt(t, m, "user", p, at).Allowed {
			admitted = append(admitted, at)
		}
	}
	for i := 1; i < len(admitted); i++ {
		if gap := admitted[i] - admitted[i-1]; gap < time.Second {
			t.Fatalf("admissions %v apart at %v", gap, admitted[i])
		}
	}
	// GCRA's bound: any span of length D holds at most Count + D/interval
	// admissions (counting the one at 0).
	all := append([]time.Duration{0}, admitted...)
	for i := range all {
		for j := i; j < len(all); j++ {
			if bound := 10 + int((all[j]-all[i])/(6*time.Second)); j-i+1 > bound {
				t.Fatalf("%d admissions between %v and %v, GCRA allows %d", j-i+1, all[i], all[j], bound)
			}
		}
	}
	if total := len(all); total != 10+100 {
		t.Fatalf("%d admissions in ten minutes, want the burst of 10 plus 100 refills", total)
	}
}

func TestRejectedRequestsConsumeNothing(t *testing.T) {
	m := NewMemory()
	p := policy(t, "10/m")
	for range 10 {
		allowAt(t, m, "user", p, 0)
	}
	for at := time.Duration(0); at < 6*time.Second; at += 10 * time.Millisecond {
		if allowAt(t, m, "user", p, at).Allowed {
			t.Fatalf("admitted at %v during the wait", at)
		}
	}
	if !allowAt(t, m, "user", p, 6*time.Second).Allowed {
		t.Fatal("hammering while limited extended the wait")
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
}

func TestRetryAfterIsTheLongestWait(t *testing.T) {
	m := NewMemory()
	p := policy(t, "1/s,2/m")
	allowAt(t, m, "user", p, 0)
	allowAt(t, m, "user", p, time.Second)
	// The 1/s limit would admit at 2s, the 2/m limit only at 30s.
	if d := allowAt(t, m, "user", p, 1500*time.Millisecond); d.Allowed || d.RetryAfter != 28500*time.Millisecond {
		t.Fatalf("Allowed %v RetryAfter %v, want rejected with 28.5s", d.Allowed, d.RetryAfter)
	}
	if !allowAt(t, m, "user", p, 30*time.Second).Allowed {
		t.Fatal("rejected once RetryAfter elapsed")
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
		{Limits: []Limit{{Count: 10, Window: 5}}},
	} {
		if _, err := m.AllowAt("user", p, start); err == nil {
			t.Errorf("policy %v was accepted", p.Limits)
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

func TestKeyForgetsOtherLimitsOnceRefilled(t *testing.T) {
	m := NewMemory()
	allowAt(t, m, "user", policy(t, "1/s"), 0)
	allowAt(t, m, "user", policy(t, "1/m"), 0)
	allowAt(t, m, "user", policy(t, "5/m"), 2*time.Minute)
	sh := &m.shards[hashShard(m, "user")]
	if cells := len(sh.keys["user"].cells); cells != 1 {
		t.Fatalf("key holds %d cells, want only the limit used since it refilled", cells)
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
		"Ratelimit":        {`"order-1s";r=0;t=1, "order-60s";r=9;t=6`},
	}
	assertHeaders(t, h, want)

	h = http.Header{}
	allowAt(t, m, "user", p, 200*time.Millisecond).SetHeaders(h)
	want["Ratelimit"] = []string{`"order-1s";r=0;t=1, "order-60s";r=9;t=6`}
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
		{0, "6"},
		{100 * time.Millisecond, "6"}, // 5.9 s
		{5999 * time.Millisecond, "1"},
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
		"Ratelimit":        {`"ip-1s";r=9;t=1`, `"order-60s";r=9;t=6`},
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
	for _, keyCount := range []int{1, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", keyCount), func(b *testing.B) {
			m := NewMemory()
			p := policy(b, "1/s,10/m").Named("order")
			keys := make([]string, keyCount)
			for i := range keys {
				keys[i] = "user-" + strconv.Itoa(i)
			}
			var next atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := next.Add(1) * 7919
				for pb.Next() {
					i++
					if _, err := m.Allow(context.Background(), keys[i%uint64(keyCount)], p); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
