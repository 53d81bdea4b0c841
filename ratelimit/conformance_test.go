package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/flashsale/flashsale/ratelimit"
	"github.com/flashsale/flashsale/ratelimit/limitertest"
)

func TestMemoryConformance(t *testing.T) {
	limitertest.Run(t, func(*testing.T) limitertest.AllowAt {
		m := ratelimit.NewMemory()
		return func(_ context.Context, key string, p ratelimit.Policy, now time.Time) (ratelimit.Decision, error) {
			return m.AllowAt(key, p, now)
		}
	})
}

func BenchmarkMemory(b *testing.B) {
	limitertest.Benchmark(b, func(*testing.B) ratelimit.Limiter { return ratelimit.NewMemory() })
}
