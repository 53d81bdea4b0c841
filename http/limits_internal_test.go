package http

import (
	"net/netip"
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
