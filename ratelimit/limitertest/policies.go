package limitertest

import (
	"time"

	"github.com/flashsale/flashsale/ratelimit"
)

func testKeysAreIndependent(h *harness) {
	p := h.policy("1/m")
	if !h.allow("alice", p, 0).Allowed || !h.allow("bob", p, 0).Allowed {
		h.t.Fatal("one key's use limited another")
	}
	if h.allow("alice", p, 0).Allowed {
		h.t.Fatal("alice's second request was admitted")
	}
}

func testPoliciesWithTheSameKeyAreIndependent(h *harness) {
	ip, order := h.policy("1/m").Named("ip"), h.policy("1/m").Named("order")
	if !h.allow("alice", ip, 0).Allowed || !h.allow("alice", order, 0).Allowed {
		h.t.Fatal("one policy's use limited another under the same key")
	}
	if h.allow("alice", ip, 0).Allowed || h.allow("alice", order, 0).Allowed {
		h.t.Fatal("a policy admitted a second request under the same key")
	}
}

func testMultipleLimits(h *harness) {
	p := h.policy("1/s,10/m")
	d := h.allow("user", p, 0)
	if !d.Allowed || d.Limits[0].Remaining != 0 || d.Limits[1].Remaining != 9 {
		h.t.Fatalf("first request: %+v", d)
	}
	d = h.allow("user", p, 500*time.Millisecond)
	if d.Allowed || d.RetryAfter != 500*time.Millisecond {
		h.t.Fatalf("second request within the second: Allowed %v RetryAfter %v, want rejected for 500ms", d.Allowed, d.RetryAfter)
	}
	for i := 1; i < 10; i++ {
		if d := h.allow("user", p, time.Duration(i)*time.Second); !d.Allowed {
			h.t.Fatalf("request at %ds rejected", i)
		}
	}
	// The 1/s limit would admit now; the 10/m limit waits for the request
	// at 0 to be a minute old.
	d = h.allow("user", p, 10*time.Second)
	if d.Allowed || d.RetryAfter != 50*time.Second || d.Limits[0].Remaining != 1 || d.Limits[1].Remaining != 0 {
		h.t.Fatalf("at 10s: %+v, want rejected by 10/m alone for 50s", d)
	}
}

func testRejectedRequestsConsumeNothing(h *harness) {
	p := h.policy("10/m")
	for range 10 {
		h.allow("user", p, 0)
	}
	for at := time.Duration(0); at < time.Minute; at += 10 * time.Millisecond {
		if d := h.allow("user", p, at); d.Allowed || d.RetryAfter != time.Minute-at {
			h.t.Fatalf("at %v during the wait: Allowed %v RetryAfter %v", at, d.Allowed, d.RetryAfter)
		}
	}
	// Six thousand rejections later, the whole burst is back on time.
	for i := range 10 {
		if !h.allow("user", p, time.Minute).Allowed {
			h.t.Fatalf("request %d at 60s rejected: hammering while limited cost quota", i+1)
		}
	}
}

func testRejectionByOneLimitConsumesFromNone(h *harness) {
	p := h.policy("1/s,10/m")
	h.allow("user", p, 0)
	for range 50 {
		d := h.allow("user", p, 500*time.Millisecond)
		if d.Allowed {
			h.t.Fatal("the 1/s limit admitted a second request")
		}
		if d.Limits[1].Remaining != 9 {
			h.t.Fatalf("the 10/m limit has %d left after rejections, want 9", d.Limits[1].Remaining)
		}
	}
	if d := h.allow("user", p, time.Second); !d.Allowed || d.Limits[1].Remaining != 8 {
		h.t.Fatalf("at 1s: Allowed %v, 10/m Remaining %d; want admitted with 8", d.Allowed, d.Limits[1].Remaining)
	}

	// The other way round: while 2/m rejects, 1/s must not log either, or
	// the first request after the wait would find 1/s spent.
	p = h.policy("1/s,2/m")
	h.allow("other", p, 0)
	h.allow("other", p, time.Second)
	for at := 2 * time.Second; at < time.Minute; at += 100 * time.Millisecond {
		if d := h.allow("other", p, at); d.Allowed || d.Limits[0].Remaining != 1 {
			h.t.Fatalf("at %v: %+v, want rejected by 2/m with 1/s untouched", at, d)
		}
	}
	if !h.allow("other", p, time.Minute).Allowed {
		h.t.Fatal("rejections by 2/m consumed the 1/s limit")
	}
}

func testRetryAfterIsTheLongestWait(h *harness) {
	p := h.policy("1/s,2/m")
	h.allow("user", p, 0)
	h.allow("user", p, time.Second)
	// The 1/s limit would admit at 2s, the 2/m limit only at 60s.
	if d := h.allow("user", p, 1500*time.Millisecond); d.Allowed || d.RetryAfter != 58500*time.Millisecond {
		h.t.Fatalf("Allowed %v RetryAfter %v, want rejected with 58.5s", d.Allowed, d.RetryAfter)
	}
	if h.allow("user", p, time.Minute-time.Nanosecond).Allowed {
		h.t.Fatal("admitted before RetryAfter elapsed")
	}
	if !h.allow("user", p, time.Minute).Allowed {
		h.t.Fatal("rejected once RetryAfter elapsed")
	}
}

// A request whose time precedes the key's latest admission (it read the
// clock, then waited; or its instance's clock is behind) is judged at that
// admission, so the log stays in order and the limit holds.
func testRequestDatedInThePast(h *harness) {
	p := h.policy("2/s")
	h.allow("user", p, 10*time.Second)
	if d := h.allow("user", p, 9500*time.Millisecond); !d.Allowed || d.Limits[0].ResetAfter != time.Second {
		h.t.Fatalf("late request: %+v, want admitted as of 10s", d)
	}
	if d := h.allow("user", p, 10500*time.Millisecond); d.Allowed || d.RetryAfter != 500*time.Millisecond {
		h.t.Fatalf("at 10.5s: Allowed %v RetryAfter %v, want rejected until 11s", d.Allowed, d.RetryAfter)
	}
	for range 2 {
		if !h.allow("user", p, 11*time.Second).Allowed {
			h.t.Fatal("at 11s both earlier admissions have left the window")
		}
	}
}

func testDisabledPolicyAdmitsEverything(h *harness) {
	off := h.policy("off").Named("off")
	for range 1000 {
		if d := h.allow("user", off, 0); !d.Allowed || d.Policy != "off" || len(d.Limits) != 0 {
			h.t.Fatalf("disabled policy decided %+v", d)
		}
	}
}

// A policy built by hand that no limiter can serve is refused, with
// ratelimit.Policy.Validate's error, and leaves nothing behind.
func testUnusablePolicyIsAnError(h *harness) {
	for _, p := range []ratelimit.Policy{
		{Limits: []ratelimit.Limit{{Count: 0, Window: time.Second}}},
		{Limits: []ratelimit.Limit{{Count: -1, Window: time.Second}}},
		{Limits: []ratelimit.Limit{{Count: 10, Window: 0}}},
		{Limits: []ratelimit.Limit{{Count: 10, Window: -time.Second}}},
		{Limits: []ratelimit.Limit{{Count: 1 << 40, Window: time.Hour}}},
		{Limits: []ratelimit.Limit{{Count: 1, Window: 1 << 62}}},
		{Limits: []ratelimit.Limit{{Count: 1, Window: time.Second}, {Count: 2, Window: time.Second}}},
	} {
		_, err := h.allowAt(h.t.Context(), "user", p, start)
		if err == nil || err.Error() != p.Validate().Error() {
			h.t.Errorf("policy %v: error %v, want %v", p.Limits, err, p.Validate())
		}
	}
	if d := h.allow("user", h.policy("1/s"), 0); !d.Allowed || d.Limits[0].Remaining != 0 {
		h.t.Fatalf("after the refused policies: %+v, want the key untouched", d)
	}
}
