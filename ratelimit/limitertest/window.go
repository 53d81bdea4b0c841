package limitertest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/flashsale/flashsale/ratelimit"
)

// The contract's example: "10/m allows 10 requests in any minute (a burst
// of 10), not one every 6 s".
func testBurstThenWindow(h *harness) {
	p := h.policy("10/m")
	for i := range 10 {
		d := h.allow("user", p, 0)
		if !d.Allowed {
			h.t.Fatalf("request %d of the burst was rejected", i+1)
		}
		if want := int64(9 - i); d.Limits[0].Remaining != want || d.Limits[0].ResetAfter != time.Minute {
			h.t.Fatalf("after request %d: %+v, want Remaining %d and ResetAfter 1m", i+1, d.Limits[0], want)
		}
	}
	d := h.allow("user", p, 0)
	if d.Allowed || d.RetryAfter != time.Minute {
		h.t.Fatalf("11th request: Allowed %v RetryAfter %v, want rejected for 60s", d.Allowed, d.RetryAfter)
	}
	// Not one every 6 s: nothing until the burst is a minute old.
	for at := 6 * time.Second; at < time.Minute; at += 6 * time.Second {
		if d := h.allow("user", p, at); d.Allowed || d.RetryAfter != time.Minute-at {
			h.t.Fatalf("at %v: Allowed %v RetryAfter %v, want rejected for %v", at, d.Allowed, d.RetryAfter, time.Minute-at)
		}
	}
	if d := h.allow("user", p, time.Minute-time.Nanosecond); d.Allowed {
		h.t.Fatal("admitted before RetryAfter elapsed")
	}
	// Then the whole burst again, since all of the first left the window.
	for i := range 10 {
		if d := h.allow("user", p, time.Minute); !d.Allowed {
			h.t.Fatalf("request %d of the second burst was rejected", i+1)
		}
	}
	if d := h.allow("user", p, time.Minute); d.Allowed || d.RetryAfter != time.Minute {
		h.t.Fatalf("11th request of the second burst: Allowed %v RetryAfter %v", d.Allowed, d.RetryAfter)
	}
}

// RetryAfter waits for the oldest of the last Count admissions, not for the
// whole burst.
func testSpreadRequestsFreeOneAtATime(h *harness) {
	p := h.policy("10/m")
	for i := range 10 {
		h.allow("user", p, time.Duration(i)*time.Second)
	}
	d := h.allow("user", p, 10*time.Second)
	if d.Allowed || d.RetryAfter != 50*time.Second || d.Limits[0].ResetAfter != 50*time.Second {
		h.t.Fatalf("at 10s: %+v, want rejected until the request at 0 is a minute old", d)
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
		if d := h.allow("user", p, at); !d.Allowed || d.Limits[0].Remaining != 0 || d.Limits[0].ResetAfter != wait {
			h.t.Fatalf("at %v: %+v, want admitted with none left for %v", at, d, wait)
		}
		if d := h.allow("user", p, at); d.Allowed || d.RetryAfter != wait {
			h.t.Fatalf("second request at %v: Allowed %v RetryAfter %v, want rejected for %v", at, d.Allowed, d.RetryAfter, wait)
		}
	}
}

func testOnePerSecond(h *harness) {
	p := h.policy("1/s")
	var admitted []time.Duration
	for at := time.Duration(0); at < 10*time.Second; at += 100 * time.Millisecond {
		d := h.allow("user", p, at)
		if d.Allowed {
			admitted = append(admitted, at)
			continue
		}
		if want := at.Truncate(time.Second) + time.Second - at; d.RetryAfter != want {
			h.t.Fatalf("at %v RetryAfter %v, want %v", at, d.RetryAfter, want)
		}
	}
	for i, at := range admitted {
		if at != time.Duration(i)*time.Second {
			h.t.Fatalf("admitted at %v, want one per second on the second", admitted)
		}
	}
	if len(admitted) != 10 {
		h.t.Fatalf("%d admitted in 10s, want 10", len(admitted))
	}
}

// One request a second for ten minutes at "1/s,10/m": the first minute
// admits exactly 10, and no span of a minute ever holds more than 10.
func testSteadyClientGetsExactlyCountPerWindow(h *harness) {
	p := h.policy("1/s,10/m")
	var admitted []time.Duration
	for at := time.Duration(0); at < 10*time.Minute; at += time.Second {
		if h.allow("user", p, at).Allowed {
			admitted = append(admitted, at)
		}
	}
	if n := countIn(admitted, 0, time.Minute); n != 10 {
		h.t.Fatalf("%d admitted in the first 60s, want 10", n)
	}
	h.assertAtMost(admitted, 10, time.Minute)
	h.assertAtMost(admitted, 1, time.Second)
	// Each minute is a burst of ten seconds, then fifty seconds of waiting.
	if len(admitted) != 100 {
		h.t.Fatalf("%d admitted in ten minutes, want 100", len(admitted))
	}
	for i, at := range admitted {
		if want := time.Duration(i/10)*time.Minute + time.Duration(i%10)*time.Second; at != want {
			h.t.Fatalf("admission %d at %v, want %v", i, at, want)
		}
	}
}

// A request every 100 ms for ten minutes: no second holds two admissions,
// no minute eleven.
func testHammeringClientNeverExceedsTheLimits(h *harness) {
	p := h.policy("1/s,10/m")
	var admitted []time.Duration
	for at := time.Duration(0); at < 10*time.Minute; at += 100 * time.Millisecond {
		if h.allow("user", p, at).Allowed {
			admitted = append(admitted, at)
		}
	}
	h.assertAtMost(admitted, 10, time.Minute)
	h.assertAtMost(admitted, 1, time.Second)
	if len(admitted) != 100 {
		h.t.Fatalf("%d admitted in ten minutes, want 10 a minute", len(admitted))
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
func (h *harness) assertAtMost(times []time.Duration, count int, window time.Duration) {
	h.t.Helper()
	for i, from := range times {
		if n := countIn(times[i:], from, from+window); n > count {
			h.t.Fatalf("%d admissions in the %v from %v, want at most %d", n, window, from, count)
		}
	}
}

// An irregular stream of requests, with bursts and pauses, against a
// brute-force reading of the contract: admit when every limit has fewer
// than Count admissions within (t-Window, t], and report every field of
// the decision as that reading gives it.
func testMatchesTheDefinition(h *harness) {
	p := h.policy("3/s,7/10s,20/m")
	rng := rand.New(rand.NewPCG(1, 2))
	var admitted []time.Duration
	at := time.Duration(0)
	for i := range 20_000 {
		switch r := rng.IntN(10); {
		case r < 4: // same instant: a burst
		case r < 9:
			at += time.Duration(rng.Int64N(int64(2*time.Second/time.Microsecond))) * time.Microsecond
		default:
			at += time.Duration(rng.Int64N(int64(2*time.Minute/time.Microsecond))) * time.Microsecond
		}
		want := ratelimit.Decision{Allowed: true, Policy: p.Name, Limits: make([]ratelimit.LimitStatus, len(p.Limits))}
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
			want.Limits[j] = ratelimit.LimitStatus{Limit: l, Remaining: l.Count - int64(len(inWindow)), ResetAfter: l.Window}
			if len(inWindow) > 0 {
				want.Limits[j].ResetAfter = inWindow[0] + l.Window - at
			}
		}
		if got := h.allow("user", p, at); fmt.Sprint(got) != fmt.Sprint(want) {
			h.t.Fatalf("request %d at %v: got %+v, want %+v", i, at, got, want)
		}
	}
	for _, l := range p.Limits {
		h.assertAtMost(admitted, int(l.Count), l.Window)
	}
	if len(admitted) < 1000 {
		h.t.Fatalf("only %d admissions: the stream hardly tests anything", len(admitted))
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
