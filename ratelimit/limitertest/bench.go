package limitertest

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/flashsale/flashsale/ratelimit"
)

// benchParallelism is goroutines per GOMAXPROCS: many requests in flight at
// once, as on a busy server, so that a limiter behind a network is measured
// with its round trips overlapping rather than one after another.
const benchParallelism = 16

// Benchmark measures Allow from many goroutines on the real clock, with a
// limiter of its own from newLimiter for each case.
func Benchmark(b *testing.B, newLimiter func(b *testing.B) ratelimit.Limiter) {
	for _, bc := range []struct {
		policy string
		keys   int
	}{
		// One client hammering: nearly every request is rejected.
		{"1/s,10/m", 1},
		// Many clients at once.
		{"1/s,10/m", 100_000},
		// The largest log: every request searches 100000 timestamps.
		{"100000/h", 1},
	} {
		b.Run(fmt.Sprintf("policy=%s/keys=%d", bc.policy, bc.keys), func(b *testing.B) {
			p, err := ratelimit.ParsePolicy(bc.policy)
			if err != nil {
				b.Fatal(err)
			}
			p = p.Named("order")
			l := newLimiter(b)
			keys := make([]string, bc.keys)
			for i := range keys {
				keys[i] = "user-" + strconv.Itoa(i)
			}
			var next atomic.Uint64
			b.ReportAllocs()
			b.SetParallelism(benchParallelism)
			b.RunParallel(func(pb *testing.PB) {
				i := next.Add(1) * 7919
				for pb.Next() {
					i++
					if _, err := l.Allow(context.Background(), keys[i%uint64(bc.keys)], p); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
