package http

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestIPKey(t *testing.T) {
	for addr, want := range map[netip.Addr]string{
		netip.MustParseAddr("198.51.100.7"):                "ip:198.51.100.7",
		netip.MustParseAddr("2001:db8:a:b:c:d:e:f"):        "ip:2001:db8:a:b::/64",
		netip.MustParseAddr("fe80::1%eth0"):                "ip:fe80::/64",
		netip.MustParseAddr("::ffff:198.51.100.7").Unmap(): "ip:198.51.100.7",
		{}: "ip:unknown",
	} {
		if got := ipKey(addr); got != want {
			t.Errorf("ipKey(%v) = %q, want %q", addr, got, want)
		}
	}
}

// plainClientIP is clientIP's plain reading: join the X-Forwarded-For
// lines, split on commas, walk back over trusted hops.
func plainClientIP(s *server, r *http.Request) netip.Addr {
	peerPort, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	peer := peerPort.Addr().Unmap()
	if !s.trusted(peer) {
		return peer
	}
	ip := peer
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip
		}
		if hop = hop.Unmap(); !s.trusted(hop) {
			return hop
		}
		ip = hop
	}
	return ip
}

// clientIP walks X-Forwarded-For right to left without joining its lines;
// it must pick what the plain reading (join the lines, split on commas,
// walk back over trusted hops) picks.
func TestClientIPWalksForwardedForLikeThePlainReading(t *testing.T) {
	s := &server{Deps: Deps{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}}
	plain := func(r *http.Request) netip.Addr { return plainClientIP(s, r) }
	for _, c := range []struct {
		peer  string
		lines []string
	}{
		{"203.0.113.9:1", []string{"198.51.100.1"}},
		{"10.0.0.1:1", nil},
		{"10.0.0.1:1", []string{"198.51.100.1"}},
		{"10.0.0.1:1", []string{"198.51.100.1, 10.0.0.2"}},
		{"10.0.0.1:1", []string{"1.1.1.1,198.51.100.1", "10.0.0.3 , 10.0.0.2"}},
		{"10.0.0.1:1", []string{"10.0.0.4", "10.0.0.2"}},
		{"10.0.0.1:1", []string{"garbage, 10.0.0.2"}},
		{"10.0.0.1:1", []string{"198.51.100.1,,10.0.0.2"}},
		{"10.0.0.1:1", []string{""}},
		{"[fd00::1]:1", []string{"2001:db8::7, fd00::2"}},
		{"10.0.0.1:1", []string{"::ffff:198.51.100.8"}},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		for _, line := range c.lines {
			r.Header.Add("X-Forwarded-For", line)
		}
		if got, want := s.clientIP(r), plain(r); got != want {
			t.Errorf("peer %s, X-Forwarded-For %q: %v, want %v", c.peer, c.lines, got, want)
		}
	}
}
