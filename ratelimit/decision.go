package ratelimit

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Limiter admits or rejects requests per key under a policy. It checks every
// limit of the policy at once and, when one rejects, consumes from none: a
// client hammering while limited does not push its own wait further out.
//
// The error return leaves room for limiters backed by a shared store; the
// caller chooses whether a failing limiter admits or rejects.
type Limiter interface {
	Allow(ctx context.Context, key string, p Policy) (Decision, error)
}

// Decision is a limiter's answer for one request.
type Decision struct {
	Allowed bool
	// RetryAfter is, when rejected, how long until every limit of the
	// policy admits the request again.
	RetryAfter time.Duration
	// Policy is the policy's name, which identifies it in headers.
	Policy string
	// Limits holds the state of each limit of the policy after the
	// decision, in the policy's order.
	Limits []LimitStatus
}

// LimitStatus is the state of one limit for one key.
type LimitStatus struct {
	Limit Limit
	// Remaining is how many more requests the limit admits right now:
	// Count less the admissions within the last Window.
	Remaining int64
	// ResetAfter is the time within which no more than Remaining requests
	// are admitted: the time until the oldest admission within the window
	// leaves it, freeing one more unit of quota (the whole Window when no
	// admission is within it). It is the draft's "effective window" (the t
	// parameter); for a limit that rejected, it is that limit's time until
	// admission.
	ResetAfter time.Duration
}

// Header names. RateLimit-Policy and RateLimit follow the IETF draft
// "RateLimit header fields for HTTP", draft-ietf-httpapi-ratelimit-headers-11
// (May 2026, https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/11/):
// both are Structured Field lists of string items with parameters,
//
//	RateLimit-Policy: "ip-1s";q=10;w=1
//	RateLimit: "ip-1s";r=7;t=1
//
// where q is the quota, w the window in seconds, r the available quota and
// t the effective window in seconds.
const (
	HeaderRetryAfter      = "Retry-After"
	HeaderRateLimitPolicy = "RateLimit-Policy"
	HeaderRateLimit       = "RateLimit"
)

// SetHeaders writes the decision into h: the RateLimit-Policy and RateLimit
// fields whenever the policy has limits, and Retry-After (whole seconds,
// rounded up, at least 1) when the request was rejected. The RateLimit
// fields are added, not replaced, so the decisions of several policies on
// one request combine into one list, as the draft allows.
func (d Decision) SetHeaders(h http.Header) {
	if len(d.Limits) == 0 {
		return
	}
	policies := make([]string, len(d.Limits))
	states := make([]string, len(d.Limits))
	for i, s := range d.Limits {
		id := itemID(d.Policy, s.Limit)
		policies[i] = id + ";q=" + strconv.FormatInt(s.Limit.Count, 10) +
			";w=" + strconv.FormatInt(ceilSeconds(s.Limit.Window), 10)
		states[i] = id + ";r=" + strconv.FormatInt(s.Remaining, 10) +
			";t=" + strconv.FormatInt(ceilSeconds(s.ResetAfter), 10)
	}
	h.Add(HeaderRateLimitPolicy, strings.Join(policies, ", "))
	h.Add(HeaderRateLimit, strings.Join(states, ", "))
	if !d.Allowed {
		h.Set(HeaderRetryAfter, strconv.FormatInt(max(1, ceilSeconds(d.RetryAfter)), 10))
	}
}

// itemID names a limit in the headers, e.g. "ip-60s": the policy's name and
// the window, which ParsePolicy keeps distinct within a policy.
func itemID(policy string, l Limit) string {
	if policy == "" {
		policy = "default"
	}
	return sfString(policy + "-" + strconv.FormatInt(ceilSeconds(l.Window), 10) + "s")
}

// sfString renders s as a Structured Field string (RFC 9651, section 3.3.3):
// quoted, with backslash and quote escaped. Characters a string cannot hold
// (controls, non-ASCII) become '_', since the name is only an identifier.
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('_')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ceilSeconds rounds d up to whole seconds: a client told to wait less than
// it must would be rejected again.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}
