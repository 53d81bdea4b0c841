package limitertest

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale/ratelimit"
)

func testConcurrentRequestsAdmitExactlyTheBurst(h *harness) {
	const goroutines, requestsEach = 32, 100
	// requestAll fires every request at one instant and counts admissions
	// per key.
	requestAll := func(p ratelimit.Policy, keys int, at time.Duration) []int64 {
		admitted := make([]atomic.Int64, keys)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range requestsEach {
					key := (g + i) % keys
					if h.allow(strconv.Itoa(key), p, at).Allowed {
						admitted[key].Add(1)
					}
				}
			})
		}
		wg.Wait()
		counts := make([]int64, keys)
		for i := range admitted {
			counts[i] = admitted[i].Load()
		}
		return counts
	}

	burst := h.policy("100/m").Named("burst")
	if got := requestAll(burst, 1, 0); got[0] != 100 {
		h.t.Fatalf("%d of %d concurrent requests admitted, want the burst of 100", got[0], goroutines*requestsEach)
	}
	multi := h.policy("1/s,50/m").Named("multi")
	for _, at := range []time.Duration{0, time.Second} {
		for key, n := range requestAll(multi, 4, at) {
			if n != 1 {
				h.t.Errorf("at %v key %d: %d admitted, want 1", at, key, n)
			}
		}
	}
}

// Requests raced on the real clock, read before the limiter takes its
// turn, so some arrive dated before the admission ahead of them: still
// exactly the burst is admitted.
func testConcurrentRequestsOnTheClock(h *harness) {
	p := h.policy("100/h,1000/2h")
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 200 {
				if h.allowOn("user", p, time.Now()).Allowed {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 100 {
		h.t.Fatalf("%d of 6400 requests admitted, want the burst of 100", n)
	}
}
