package ratelimit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// failingLimiter answers errors while down is set, else admits everyone.
type failingLimiter struct{ down atomic.Bool }

func (f *failingLimiter) Allow(_ context.Context, _ string, p Policy) (Decision, error) {
	if f.down.Load() {
		return Decision{}, errors.New("redis is away")
	}
	return Decision{Allowed: true, Policy: p.Name}, nil
}

// While the shared limiter is away the limit still holds, in this
// process; once it is back it decides again.
func TestFallbackLimitsLocallyWhileTheSharedLimiterFails(t *testing.T) {
	shared := &failingLimiter{}
	f := WithFallback(shared, NewMemory())
	p := policy(t, "2/m")
	ctx := context.Background()

	shared.down.Store(true)
	for i, want := range []bool{true, true, false} {
		d, err := f.Allow(ctx, "alice", p)
		if err != nil || d.Allowed != want {
			t.Fatalf("request %d while the shared limiter fails: %+v, %v; want allowed %v", i+1, d, err, want)
		}
	}
	if f.FellBack() != 3 {
		t.Fatalf("%d decisions counted as local, want 3", f.FellBack())
	}

	shared.down.Store(false)
	if d, err := f.Allow(ctx, "alice", p); err != nil || !d.Allowed {
		t.Fatalf("once the shared limiter is back: %+v, %v; want its answer", d, err)
	}
	if f.FellBack() != 3 {
		t.Fatalf("%d decisions counted as local, want still 3", f.FellBack())
	}
}
