// Package ratelimit decides whether a request may proceed under a rate-limit
// policy such as "1/s,10/m", and renders the decision as HTTP headers.
//
// A limit "N/W" allows N requests in any span of W, all N at once if the
// client likes: so 10/m admits a burst of 10, then nothing until the first
// of them is a minute old, and never more than 10 in any minute. Memory
// enforces this exactly with a sliding-window log: the times of the last N
// admissions per key and limit. A request is admitted only if every limit
// of its policy admits it, and a rejected request is recorded nowhere.
package ratelimit

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limit allows at most Count requests in any span of Window, as many of
// them at once as the client likes.
type Limit struct {
	Count  int64
	Window time.Duration
}

// String renders the limit in the notation ParsePolicy reads, e.g. "10/m".
func (l Limit) String() string {
	for _, unit := range []struct {
		suffix string
		size   time.Duration
	}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if l.Window%unit.size != 0 {
			continue
		}
		multiplier := ""
		if n := l.Window / unit.size; n != 1 {
			multiplier = strconv.FormatInt(int64(n), 10)
		}
		return strconv.FormatInt(l.Count, 10) + "/" + multiplier + unit.suffix
	}
	return fmt.Sprintf("%d/%v", l.Count, l.Window)
}

// Policy is a set of limits that apply together: a request is admitted only
// when every limit admits it. A policy without limits is disabled.
type Policy struct {
	// Name identifies the policy in the RateLimit headers and keeps its
	// counters apart from another policy's under the same key. Name it
	// (see Named) when one limiter serves several policies.
	Name string
	// Limits are sorted by window, shortest first, with distinct windows.
	Limits []Limit
}

// Named returns a copy of p called name.
func (p Policy) Named(name string) Policy {
	p.Name = name
	return p
}

// Enabled reports whether p limits anything.
func (p Policy) Enabled() bool { return len(p.Limits) > 0 }

// String renders p in the notation ParsePolicy reads.
func (p Policy) String() string {
	if !p.Enabled() {
		return "off"
	}
	parts := make([]string, len(p.Limits))
	for i, l := range p.Limits {
		parts[i] = l.String()
	}
	return strings.Join(parts, ",")
}

// Validate reports a limit a limiter cannot serve, for policies built by
// hand rather than by ParsePolicy: counts and windows out of bounds, or two
// limits sharing a window (which would log each admission twice). Every
// Limiter refuses such a policy with this error.
func (p Policy) Validate() error {
	for i, l := range p.Limits {
		if l.Count < 1 || l.Count > maxCount || l.Window < 1 || l.Window > maxWindow {
			return fmt.Errorf("ratelimit: policy %q has an unusable limit %s", p.Name, l)
		}
		for _, other := range p.Limits[:i] {
			if other.Window == l.Window {
				return fmt.Errorf("ratelimit: policy %q has two limits in one window: %s and %s", p.Name, other, l)
			}
		}
	}
	return nil
}

// Bounds on a limit. maxCount bounds memory: the limiter logs the time of
// each of the last Count admissions (8 bytes apiece) for every key and
// limit, so a limit of 100000 can cost 800 KB per busy key; larger counts
// belong to a counter, not a log. maxWindow catches typing slips such as
// "10/1000000h" and keeps times plus windows far from int64 overflow.
const (
	maxCount  = 100_000
	maxWindow = 7 * 24 * time.Hour
)

// ParsePolicy reads a comma-separated list of limits "count/window", where
// window is a unit s, m or h with an optional positive multiplier: "10/s",
// "1/s,10/m", "100/h", "5/10s". "off" disables limiting. Spaces around the
// items are ignored; an empty string is an error, so that an empty setting
// never switches limiting off by accident.
func ParsePolicy(s string) (Policy, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Policy{}, errors.New(`empty rate limit policy: write limits such as "1/s,10/m", or "off"`)
	case strings.EqualFold(s, "off"):
		return Policy{}, nil
	}
	var p Policy
	for item := range strings.SplitSeq(s, ",") {
		l, err := parseLimit(strings.TrimSpace(item))
		if err != nil {
			return Policy{}, fmt.Errorf("rate limit policy %q: %w", s, err)
		}
		p.Limits = append(p.Limits, l)
	}
	slices.SortFunc(p.Limits, func(a, b Limit) int { return cmp.Compare(a.Window, b.Window) })
	for i := 1; i < len(p.Limits); i++ {
		if p.Limits[i].Window == p.Limits[i-1].Window {
			return Policy{}, fmt.Errorf("rate limit policy %q: %s and %s share a window; keep the stricter one",
				s, p.Limits[i-1], p.Limits[i])
		}
	}
	return p, nil
}

func parseLimit(item string) (Limit, error) {
	countText, windowText, found := strings.Cut(item, "/")
	if !found {
		return Limit{}, fmt.Errorf("%q is not count/window, such as 10/s", item)
	}
	count, err := strconv.ParseInt(countText, 10, 64)
	if err != nil || count < 1 || !isDigits(countText) {
		return Limit{}, fmt.Errorf("count %q in %q is not a whole number from 1 to %d", countText, item, maxCount)
	}
	if count > maxCount {
		return Limit{}, fmt.Errorf("count %q in %q is above %d: the limiter keeps one timestamp per request in the window for each client",
			countText, item, maxCount)
	}
	window, err := parseWindow(windowText)
	if err != nil {
		return Limit{}, fmt.Errorf("window %q in %q: %w", windowText, item, err)
	}
	return Limit{Count: count, Window: window}, nil
}

// parseWindow reads "s", "m", "h" with an optional multiplier: "10s", "2h".
func parseWindow(text string) (time.Duration, error) {
	if text == "" {
		return 0, errors.New("missing; use s, m or h, optionally with a multiplier such as 10s")
	}
	var unit time.Duration
	switch text[len(text)-1] {
	case 's':
		unit = time.Second
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	default:
		return 0, errors.New("unit must be s, m or h")
	}
	multiplierText := text[:len(text)-1]
	if multiplierText == "" {
		return unit, nil
	}
	multiplier, err := strconv.ParseInt(multiplierText, 10, 64)
	if err != nil || multiplier < 1 || !isDigits(multiplierText) || multiplier > int64(maxWindow/unit) {
		return 0, fmt.Errorf("multiplier must be a whole number from 1 to %d for unit %s", int64(maxWindow/unit), text[len(text)-1:])
	}
	return time.Duration(multiplier) * unit, nil
}

// isDigits reports whether s is plain digits: strconv accepts signs and
// underscores, which the notation does not.
func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
