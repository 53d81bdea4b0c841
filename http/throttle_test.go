package http_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/ratelimit"
)

func TestRateMeterAveragesTheLastCompleteSeconds(t *testing.T) {
	clock := testclock.New(time.Date(2026, 6, 1, 12, 0, 0, 500_000_000, time.UTC))
	m := http.NewRateMeter(3*time.Second, clock.Now)
	add := func(n int) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range n / 4 {
					m.Add()
				}
			})
		}
		wg.Wait()
	}
	want := func(rate float64) {
		t.Helper()
		if got := m.Rate(); got != rate {
			t.Fatalf("rate %v, want %v", got, rate)
		}
	}
	add(3000)
	want(0) // the second in progress is not counted yet
	clock.Advance(time.Second)
	want(1000)
	add(6000)
	clock.Advance(time.Second)
	want(3000)
	clock.Advance(2 * time.Second) // the first second leaves the window
	want(2000)
	clock.Advance(time.Second)
	want(0)
	add(1200) // a bucket reused by a later second starts from zero
	clock.Advance(time.Second)
	want(400)
}

func TestThrottleTightensThePerUserLimitAsTrafficRises(t *testing.T) {
	perUser, err := ratelimit.ParsePolicy("4/h")
	if err != nil {
		t.Fatal(err)
	}
	throttle, err := http.ParseThrottle("10:0.5,20:0.25")
	if err != nil {
		t.Fatal(err)
	}
	// The meter runs on a clock of its own, moved by hand; the limiter on
	// the real one, where the test stays well within the hour.
	clock := testclock.New(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	meter := http.NewRateMeter(3*time.Second, clock.Now)
	h := newHarness(t, harnessOptions{limits: &http.Limits{Limiter: ratelimit.NewMemory(),
		OrderUser: perUser, Throttle: throttle, Traffic: meter}})
	items := make([]itemSpec, 12)
	for i := range items {
		items[i] = itemSpec{stock: 100, limit: 1}
	}
	s := h.createSale(saleSpec{items: items})
	// press places an order of the user's next item: each press is a new
	// reservation, never a double click, which would spend nothing.
	next := map[string]int{}
	press := func(user string) *response {
		t.Helper()
		r := h.placeOrder(s.ID, s.Items[next[user]], user, 1)
		if r.Status != 429 {
			next[user]++
		}
		return r
	}
	// attempts places orders until the first 429 and returns how many were
	// admitted.
	attempts := func(user string) (admitted int, refusal *response) {
		t.Helper()
		for range 10 {
			r := press(user)
			if r.Status == 429 {
				return admitted, r
			}
			if r.Status != 201 {
				t.Fatalf("%s: status %d: %s", user, r.Status, r.Body)
			}
			admitted++
		}
		t.Fatalf("%s was never limited", user)
		return 0, nil
	}
	// traffic sends n requests in the current second, then ends it.
	traffic := func(n int) {
		t.Helper()
		for range n {
			expect(t, h.do("GET", "/healthz", "", nil), 200, "")
		}
		clock.Advance(time.Second)
	}
	wantLevel := func(level float64) {
		t.Helper()
		if got := metricValue(t, h.do("GET", "/metrics", "", nil).Body, "flashsale_throttle_level"); got != level {
			t.Fatalf("throttle level %v, want %v", got, level)
		}
	}

	wantLevel(0)
	for range 3 { // three orders: each spends a unit of her limit
		if r := press("alice"); r.Status != 201 {
			t.Fatalf("alice at level 0: status %d: %s", r.Status, r.Body)
		}
	}

	traffic(40) // about 15 requests/s over three seconds: above 10
	wantLevel(1)
	if n, r := attempts("bob"); n != 2 || !strings.Contains(r.Header.Get("RateLimit-Policy"), `"order-throttle1-3600s";q=2`) {
		t.Fatalf("bob at level 1: %d admitted, policy %q; want 2 under order-throttle1", n, r.Header.Get("RateLimit-Policy"))
	}
	// alice used 3 of her 4 before the level rose: the new level must not
	// give her 2 more on top.
	if n, _ := attempts("alice"); n != 1 {
		t.Fatalf("alice across the level change: %d more admitted, want 1 (4 in all)", n)
	}

	traffic(100) // about 50 requests/s: above 20
	wantLevel(2)
	if n, _ := attempts("carol"); n != 1 {
		t.Fatalf("carol at level 2: %d admitted, want 1 (4 x 0.25)", n)
	}

	clock.Advance(3 * time.Second) // a quiet window
	wantLevel(0)
	if n, _ := attempts("dave"); n != 4 {
		t.Fatalf("dave after the traffic fell: %d admitted, want 4", n)
	}
}
