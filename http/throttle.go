package http

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale/ratelimit"
)

// ThrottleStep tightens the per-user place-order limit while the process
// serves more than Above requests per second: every count of the policy is
// multiplied by Factor, rounded down, and never below 1.
type ThrottleStep struct {
	Above  float64
	Factor float64
}

// Throttle is progressive throttling: steps by ascending rate, each tighter
// than the one before. Empty: off.
type Throttle []ThrottleStep

// ParseThrottle reads comma-separated steps "rate:factor", such as
// "5000:0.5,20000:0.2" (above 5000 requests/s halve the per-user counts,
// above 20000 keep a fifth), or "off". Rates are requests per second of
// this process; factors lie between 0 and 1 and fall as the rates rise. An
// empty string is an error, so an empty setting never turns it off by
// accident.
func ParseThrottle(s string) (Throttle, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, errors.New(`empty throttle: write steps such as "5000:0.5,20000:0.2", or "off"`)
	case strings.EqualFold(s, "off"):
		return nil, nil
	}
	var t Throttle
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		rateText, factorText, found := strings.Cut(item, ":")
		if !found {
			return nil, fmt.Errorf("throttle %q: %q is not rate:factor, such as 5000:0.5", s, item)
		}
		rate, err := strconv.ParseFloat(strings.TrimSpace(rateText), 64)
		if err != nil || !(rate > 0) || math.IsInf(rate, 0) {
			return nil, fmt.Errorf("throttle %q: rate %q is not a positive number of requests per second", s, rateText)
		}
		factor, err := strconv.ParseFloat(strings.TrimSpace(factorText), 64)
		if err != nil || !(factor > 0 && factor < 1) {
			return nil, fmt.Errorf("throttle %q: factor %q is not a number between 0 and 1 (exclusive)", s, factorText)
		}
		t = append(t, ThrottleStep{Above: rate, Factor: factor})
	}
	slices.SortFunc(t, func(a, b ThrottleStep) int { return cmp.Compare(a.Above, b.Above) })
	for i := 1; i < len(t); i++ {
		if t[i].Above == t[i-1].Above || t[i].Factor >= t[i-1].Factor {
			return nil, fmt.Errorf("throttle %q: each step must be above the previous rate with a smaller factor", s)
		}
	}
	return t, nil
}

// level returns how many steps the rate is above: 0 is no throttling.
func (t Throttle) level(rate float64) int {
	for k := len(t); k > 0; k-- {
		if rate > t[k-1].Above {
			return k
		}
	}
	return 0
}

// policies returns base tightened by each step, computed once so the hot
// path only picks one. Each is named apart from base ("order-throttle1"):
// the RateLimit headers then tell a client which quota applies, and the
// limiter keeps each level's admissions in their own log (ratelimit.Memory
// keys a log by policy name and limit, and a scaled limit is a different
// limit, so one shared log is not on offer). Separate logs alone would hand
// out a fresh quota at every level change; orderLimit therefore checks
// base as well, so throttling never loosens a limit.
func (t Throttle) policies(base ratelimit.Policy) []ratelimit.Policy {
	out := make([]ratelimit.Policy, len(t))
	for i, step := range t {
		p := ratelimit.Policy{Name: fmt.Sprintf("%s-throttle%d", base.Name, i+1), Limits: make([]ratelimit.Limit, len(base.Limits))}
		for j, l := range base.Limits {
			// The epsilon keeps 10 x 0.3 at 3 in floating point.
			scaled := int64(math.Floor(float64(l.Count)*step.Factor + 1e-9))
			p.Limits[j] = ratelimit.Limit{Count: max(1, scaled), Window: l.Window}
		}
		out[i] = p
	}
	return out
}

// defaultRateWindow is how many complete seconds the server's own meter
// averages: long enough that one bursty second does not flip the level,
// short enough that a rush is throttled within a few seconds.
const defaultRateWindow = 3 * time.Second

// RateMeter measures a request rate: it counts requests per second of its
// clock, and Rate is the mean over the last complete seconds of its window.
// The second in progress is left out, since its count is still growing;
// so a rise shows within a second. Counting is one compare-and-swap.
type RateMeter struct {
	now    func() time.Time
	epoch  time.Time
	window uint64 // complete seconds averaged
	// buckets is a ring of window+1 seconds (the window and the second in
	// progress), each packing the second it counts (since epoch) in the
	// high 32 bits and its count in the low 32: one word, so a bucket
	// moves on to a new second and counts in one atomic step.
	buckets []atomic.Uint64
}

const countMask = 1<<32 - 1

// NewRateMeter returns a meter that averages over window (whole seconds, at
// least one) on the clock now (time.Now when nil).
func NewRateMeter(window time.Duration, now func() time.Time) *RateMeter {
	if now == nil {
		now = time.Now
	}
	seconds := max(1, uint64(window/time.Second))
	return &RateMeter{now: now, epoch: now(), window: seconds, buckets: make([]atomic.Uint64, seconds+1)}
}

// second is the current second since the epoch. Measured with the
// monotonic clock when now is time.Now, so a wall clock step cannot skew it.
func (m *RateMeter) second() uint64 {
	return uint64(max(0, m.now().Sub(m.epoch)/time.Second))
}

// Add counts one request in the current second.
func (m *RateMeter) Add() {
	sec := m.second()
	b := &m.buckets[sec%uint64(len(m.buckets))]
	for {
		old := b.Load()
		next := sec<<32 | 1 // the bucket still counts an older second: start this one
		switch stamp := old >> 32; {
		case stamp == sec:
			next = old + 1
		case stamp > sec:
			return // this goroutine stalled past the whole ring: too late to count
		}
		if b.CompareAndSwap(old, next) {
			return
		}
	}
}

// Rate returns the mean requests per second over the last complete seconds
// of the window.
func (m *RateMeter) Rate() float64 {
	sec := m.second()
	var n uint64
	for i := range m.buckets {
		v := m.buckets[i].Load()
		if stamp := v >> 32; stamp < sec && stamp+m.window >= sec {
			n += v & countMask
		}
	}
	return float64(n) / float64(m.window)
}

// countTraffic counts every request in the meter that throttling reads.
func countTraffic(meter *RateMeter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		meter.Add()
		next.ServeHTTP(w, r)
	})
}

// throttleLevel is the current step of the throttle: 0 when off or below
// its first rate.
func (s *server) throttleLevel() int {
	if s.Limits == nil || s.Limits.Traffic == nil {
		return 0
	}
	return s.Limits.Throttle.level(s.Limits.Traffic.Rate())
}
