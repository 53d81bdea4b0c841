package flashsale_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
)

// A paced challenge waits the reference device's mean time to solve it:
// half its range at the pace. Unpaced, it waits nothing.
func TestChallengeWait(t *testing.T) {
	for _, tc := range []struct {
		maxNumber, pace int64
		want            time.Duration
	}{
		{100_000, 50_000, time.Second},
		{2000, 10_000, 100 * time.Millisecond},
		{10_000_000, 10_000_000_000, 500 * time.Microsecond},
		{100_000, 0, 0},
	} {
		if got := flashsale.ChallengeWait(tc.maxNumber, tc.pace); got != tc.want {
			t.Errorf("ChallengeWait(%d, %d) = %v, want %v", tc.maxNumber, tc.pace, got, tc.want)
		}
	}
}

// An early solution is told to come back in whole milliseconds, rounded
// up, so that retry_after_ms never sends it back a fraction too soon.
func TestChallengeEarlyRoundsTheWaitUp(t *testing.T) {
	for wait, want := range map[time.Duration]time.Duration{
		400 * time.Microsecond:  time.Millisecond,
		time.Millisecond:        time.Millisecond,
		1001 * time.Microsecond: 2 * time.Millisecond,
		250 * time.Millisecond:  250 * time.Millisecond,
	} {
		e := flashsale.ChallengeEarly(wait)
		if e.Code != flashsale.ERateLimited || e.Reason != flashsale.ReasonChallengeEarly || e.RetryAfter != want {
			t.Errorf("ChallengeEarly(%v) = %+v, want rate_limited, challenge_early, retry after %v", wait, e, want)
		}
	}
}

// A pace is optional and bounded, and kept as the API shows it.
func TestChallengePaceValidateAndJSON(t *testing.T) {
	base := flashsale.ChallengeConfig{Policy: flashsale.ChallengeSuspicious, MaxNumber: 100_000}
	for pace, ok := range map[int64]bool{0: true, 999: false, 1000: true, 50_000: true, 10_000_000_000: true, 10_000_000_001: false, -1: false} {
		c := base
		c.Pace = pace
		err := c.Validate()
		var e *flashsale.Error
		if ok != (err == nil) || err != nil && (!errors.As(err, &e) || e.Field != "challenge.pace") {
			t.Errorf("pace %d: %v", pace, err)
		}
	}
	for _, c := range []flashsale.ChallengeConfig{base, {Policy: flashsale.ChallengeAlways, MaxNumber: 2000, Pace: 50_000}} {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back flashsale.ChallengeConfig
		if err := json.Unmarshal(b, &back); err != nil || back != c {
			t.Errorf("%+v as %s reads back as %+v (%v)", c, b, back, err)
		}
	}
	if b, _ := json.Marshal(base); string(b) != `{"policy":"suspicious","max_number":100000}` {
		t.Errorf("an unpaced challenge shows as %s", b)
	}
}
