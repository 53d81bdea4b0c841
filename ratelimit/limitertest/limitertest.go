// Package limitertest is the conformance suite of ratelimit.Limiter. Every
// implementation runs it unchanged, so that the in-process limiter and the
// one a fleet shares give the same answers, to the header.
package limitertest

import (
	"context"
	"testing"
	"time"

	"github.com/flashsale/flashsale/ratelimit"
)

// AllowAt decides a request for key under p as if made at now: a limiter's
// Allow with the clock in the test's hands.
type AllowAt func(ctx context.Context, key string, p ratelimit.Policy, now time.Time) (ratelimit.Decision, error)

// Run runs the suite, each test as a parallel subtest with a limiter of its
// own from newLimiter, holding no key yet.
//
// Requests are dated on whole microseconds from a fixed instant, so that an
// implementation keeping microseconds compares equal, except the instant
// just before a limit frees up, which such an implementation rounds down
// and so still rejects. Between two requests of a key the real clock never
// runs ahead of their dates by anything near a window, so state that
// expires on the real clock (a key's TTL in Redis) is never gone early.
func Run(t *testing.T, newLimiter func(t *testing.T) AllowAt) {
	tests := []struct {
		name string
		run  func(h *harness)
	}{
		{"BurstThenWindow", testBurstThenWindow},
		{"SpreadRequestsFreeOneAtATime", testSpreadRequestsFreeOneAtATime},
		{"OnePerSecond", testOnePerSecond},
		{"SteadyClientGetsExactlyCountPerWindow", testSteadyClientGetsExactlyCountPerWindow},
		{"HammeringClientNeverExceedsTheLimits", testHammeringClientNeverExceedsTheLimits},
		{"MatchesTheDefinition", testMatchesTheDefinition},
		{"KeysAreIndependent", testKeysAreIndependent},
		{"PoliciesWithTheSameKeyAreIndependent", testPoliciesWithTheSameKeyAreIndependent},
		{"MultipleLimits", testMultipleLimits},
		{"RejectedRequestsConsumeNothing", testRejectedRequestsConsumeNothing},
		{"RejectionByOneLimitConsumesFromNone", testRejectionByOneLimitConsumesFromNone},
		{"RetryAfterIsTheLongestWait", testRetryAfterIsTheLongestWait},
		{"RequestDatedInThePast", testRequestDatedInThePast},
		{"DisabledPolicyAdmitsEverything", testDisabledPolicyAdmitsEverything},
		{"UnusablePolicyIsAnError", testUnusablePolicyIsAnError},
		{"ConcurrentRequestsAdmitExactlyTheBurst", testConcurrentRequestsAdmitExactlyTheBurst},
		{"ConcurrentRequestsOnTheClock", testConcurrentRequestsOnTheClock},
		{"Headers", testHeaders},
		{"HeadersRetryAfterRoundsUp", testHeadersRetryAfterRoundsUp},
		{"HeadersCombinePolicies", testHeadersCombinePolicies},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(&harness{t: t, allowAt: newLimiter(t)})
		})
	}
}

// start is an arbitrary fixed instant the tests count from.
var start = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// harness is one test's limiter with the helpers the tests share.
type harness struct {
	t       *testing.T
	allowAt AllowAt
}

// allow decides a request made at start plus at.
func (h *harness) allow(key string, p ratelimit.Policy, at time.Duration) ratelimit.Decision {
	h.t.Helper()
	return h.allowOn(key, p, start.Add(at))
}

func (h *harness) allowOn(key string, p ratelimit.Policy, now time.Time) ratelimit.Decision {
	h.t.Helper()
	d, err := h.allowAt(h.t.Context(), key, p, now)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

func (h *harness) policy(text string) ratelimit.Policy {
	h.t.Helper()
	p, err := ratelimit.ParsePolicy(text)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}
