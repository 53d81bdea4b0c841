package limitertest

import (
	"fmt"
	"net/http"
	"time"
)

// The decisions carry what the RateLimit headers and Retry-After need.
func testHeaders(h *harness) {
	p := h.policy("1/s,10/m").Named("order")

	header := http.Header{}
	h.allow("user", p, 0).SetHeaders(header)
	want := http.Header{
		"Ratelimit-Policy": {`"order-1s";q=1;w=1, "order-60s";q=10;w=60`},
		"Ratelimit":        {`"order-1s";r=0;t=1, "order-60s";r=9;t=60`},
	}
	h.assertHeaders(header, want)

	header = http.Header{}
	h.allow("user", p, 200*time.Millisecond).SetHeaders(header)
	want["Ratelimit"] = []string{`"order-1s";r=0;t=1, "order-60s";r=9;t=60`}
	want["Retry-After"] = []string{"1"}
	h.assertHeaders(header, want)
}

func testHeadersRetryAfterRoundsUp(h *harness) {
	p := h.policy("10/m")
	for range 10 {
		h.allow("user", p, 0)
	}
	for _, tt := range []struct {
		at   time.Duration
		want string
	}{
		{0, "60"},
		{100 * time.Millisecond, "60"}, // 59.9 s
		{59999 * time.Millisecond, "1"},
	} {
		header := http.Header{}
		h.allow("user", p, tt.at).SetHeaders(header)
		if got := header.Get("Retry-After"); got != tt.want {
			h.t.Errorf("at %v Retry-After = %q, want %q", tt.at, got, tt.want)
		}
		if got := header.Get("RateLimit"); got != `"default-60s";r=0;t=`+tt.want {
			h.t.Errorf("at %v RateLimit = %q, want its t to match Retry-After", tt.at, got)
		}
	}
}

func testHeadersCombinePolicies(h *harness) {
	header := http.Header{}
	h.allow("1.2.3.4", h.policy("10/s").Named("ip"), 0).SetHeaders(header)
	h.allow("user", h.policy("10/m").Named("order"), 0).SetHeaders(header)
	h.assertHeaders(header, http.Header{
		"Ratelimit-Policy": {`"ip-1s";q=10;w=1`, `"order-60s";q=10;w=60`},
		"Ratelimit":        {`"ip-1s";r=9;t=1`, `"order-60s";r=9;t=60`},
	})
}

func (h *harness) assertHeaders(got, want http.Header) {
	h.t.Helper()
	if len(got) != len(want) {
		h.t.Errorf("headers %v, want %v", got, want)
	}
	for name, values := range want {
		if fmt.Sprint(got[name]) != fmt.Sprint(values) {
			h.t.Errorf("%s: %q, want %q", name, got[name], values)
		}
	}
}
