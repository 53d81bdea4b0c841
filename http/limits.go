package http

import (
	"cmp"
	"net/http"
	"net/netip"
	"strings"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/ratelimit"
)

// Limits are the rate limits the API enforces. A disabled policy (off)
// admits everything.
type Limits struct {
	// Limiter is ratelimit.Memory for one process; a shared one serves a fleet.
	Limiter ratelimit.Limiter
	// IPLimiter, when set, keeps the per-IP limits instead of Limiter. They
	// apply to every request, cached reads included, so a fleet whose
	// Limiter is shared (a Redis call per check) may keep them per process:
	// a client then gets IP's allowance from each instance it reaches.
	IPLimiter ratelimit.Limiter
	// IP applies per client IP to every API route.
	IP ratelimit.Policy
	// OrderUser applies per user to place-order.
	OrderUser ratelimit.Policy
	// Throttle tightens OrderUser step by step as the process's total
	// request rate rises; empty: off.
	Throttle Throttle
	// Traffic is the meter Throttle reads; the server counts every request
	// in it. When nil and Throttle is set, the server makes one on the real
	// clock averaging over three seconds.
	Traffic *RateMeter
}

// perIP limits every client IP, before any other work.
func (s *server) perIP(next http.Handler) http.Handler {
	if s.Limits == nil || !s.Limits.IP.Enabled() {
		return next
	}
	policy := s.Limits.IP.Named("ip")
	limiter := cmp.Or[ratelimit.Limiter](s.Limits.IPLimiter, s.Limits.Limiter)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.limited(w, r, limiter, ipKey(s.clientIP(r)), policy) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

// orderLimit returns the charge of a place-order attempt to its user's
// limits, for checkout.PlaceOrder.Spend: it sets the rate-limit headers
// on w and returns rate_limited when the user is over a limit. Place-order
// calls it only for a press that could take a unit. While the throttle is
// above a step, the step's tightened policy is checked first and the
// configured one after it: a level's own log starts empty when the level
// is entered, and the configured policy, whose log holds every admission,
// keeps that from handing out a fresh quota. In this order the common
// refusal under throttling (the tightened policy) records nothing; a
// request that the tightened policy admits and the configured one refuses
// stays counted in the tightened log, which only errs on the strict side.
func (s *server) orderLimit() func(w http.ResponseWriter, r *http.Request) error {
	if s.Limits == nil || !s.Limits.OrderUser.Enabled() {
		return nil
	}
	policy := s.Limits.OrderUser.Named("order")
	throttled := s.Limits.Throttle.policies(policy)
	return func(w http.ResponseWriter, r *http.Request) error {
		key := "order:" + identityOf(r).UserID
		if level := s.throttleLevel(); level > 0 {
			if err := s.spend(w, r, s.Limits.Limiter, key, throttled[level-1]); err != nil {
				return err
			}
		}
		return s.spend(w, r, s.Limits.Limiter, key, policy)
	}
}

// limited applies a policy, writes its headers, and answers 429 when the
// key is over it.
func (s *server) limited(w http.ResponseWriter, r *http.Request, limiter ratelimit.Limiter, key string, p ratelimit.Policy) bool {
	if err := s.spend(w, r, limiter, key, p); err != nil {
		s.error(w, r, err)
		return true
	}
	return false
}

// spend applies a policy and writes its headers; it returns rate_limited
// when the key is over it.
func (s *server) spend(w http.ResponseWriter, r *http.Request, limiter ratelimit.Limiter, key string, p ratelimit.Policy) error {
	d, err := limiter.Allow(r.Context(), key, p)
	if err != nil {
		// A limiter that cannot answer must not take the shop down with it:
		// admit, and say so in the log.
		s.Logger.Warn("rate limiter unavailable; admitting", "key", key, "err", err)
		return nil
	}
	d.SetHeaders(w.Header())
	if d.Allowed {
		return nil
	}
	return &flashsale.Error{Code: flashsale.ERateLimited, RetryAfter: d.RetryAfter,
		Message: "too many requests; retry after the time in Retry-After"}
}

// ipKey is the per-IP limits' key of a client address: the address
// itself for IPv4, its /64 for IPv6. A /64 is the smallest network an ISP
// hands out (RFC 6177), and SLAAC privacy addresses let a single host use
// any address of it: keyed per /128, one client had 2^64 quotas.
func ipKey(ip netip.Addr) string {
	var buf [64]byte
	b := append(buf[:0], "ip:"...)
	switch {
	case ip.Is6(): // clientIP unmapped IPv4-mapped addresses: this is IPv6
		prefix, _ := ip.Prefix(64) // drops a zone
		b = prefix.AppendTo(b)
	case ip.Is4():
		b = ip.AppendTo(b)
	default:
		b = append(b, "unknown"...)
	}
	return string(b)
}

// clientIP is the socket's peer, unless that peer is a trusted proxy: then
// the nearest address in X-Forwarded-For that is not itself a trusted
// proxy. Addresses a client wrote further left are never believed, so a
// spoofed header cannot pick its own rate-limit key.
func (s *server) clientIP(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := peer.Addr().Unmap()
	if !s.trusted(ip) {
		return ip
	}
	// Right to left over every X-Forwarded-For line and its comma-separated
	// hops, without building the joined list: every request of a fleet
	// behind its proxies comes this way, place-orders included.
	values := r.Header.Values("X-Forwarded-For")
	for v := len(values) - 1; v >= 0; v-- {
		rest := values[v]
		for {
			comma := strings.LastIndexByte(rest, ',')
			hop, err := netip.ParseAddr(strings.TrimSpace(rest[comma+1:]))
			if err != nil {
				return ip
			}
			hop = hop.Unmap()
			if !s.trusted(hop) {
				return hop
			}
			ip = hop
			if comma < 0 {
				break
			}
			rest = rest[:comma]
		}
	}
	return ip
}

func (s *server) trusted(ip netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
