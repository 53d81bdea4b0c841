package http

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The hand-off between releases and waiters is lock-free on one side; this
// hammers it (under -race in CI) for two properties: never more in flight
// than the capacity, and no waiter left behind while a slot is free (every
// acquire below succeeds, since nobody waits long enough to give up).
func TestShedderUnderContention(t *testing.T) {
	const capacity = 8
	s := NewShedder(capacity, time.Hour)
	var inFlight atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		class := priority(g % int(neverShed))
		wg.Go(func() {
			for range 300 {
				if !s.acquire(context.Background(), class) {
					t.Error("an acquire gave up within an hour")
					return
				}
				n := inFlight.Add(1)
				if n > s.limits[critical] {
					t.Errorf("%d in flight, capacity %d", n, capacity)
				}
				runtime.Gosched() // hold the slot a moment, so others must wait
				inFlight.Add(-1)
				s.release()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute): // far beyond the milliseconds this takes: a hang is a stranded waiter
		t.Fatalf("stuck: %d in flight, %d waiting", s.InFlight(), s.Waiting())
	}
	if s.InFlight() != 0 || s.Waiting() != 0 {
		t.Fatalf("after the run: %d in flight, %d waiting", s.InFlight(), s.Waiting())
	}
}

func TestShedderShares(t *testing.T) {
	for _, tc := range []struct {
		capacity                   int
		critical, ordering, browse int64
	}{
		{4096, 4096, 3481, 2457},
		{10, 10, 8, 6},
		{1, 1, 1, 1},
	} {
		s := NewShedder(tc.capacity, 0)
		if s.limits != [neverShed]int64{tc.critical, tc.ordering, tc.browse} {
			t.Errorf("capacity %d: limits %v, want %d %d %d", tc.capacity, s.limits, tc.critical, tc.ordering, tc.browse)
		}
	}
}
