package loadtest

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestSchedulerRunsStepsInTimeOrder(t *testing.T) {
	s := newScheduler(1, func(time.Duration) {})
	defer s.stop()
	var mu sync.Mutex
	var order []int
	for _, n := range []int{3, 1, 2} {
		s.after(time.Duration(n)*20*time.Millisecond, func() {
			mu.Lock()
			order = append(order, n)
			mu.Unlock()
		})
	}
	<-s.idle()
	if !slices.Equal(order, []int{1, 2, 3}) {
		t.Fatalf("steps ran in the order %v, want 1, 2, 3", order)
	}
}

// Steps due at once run at most workers at a time; the rest wait, and the
// scheduler reports how long.
func TestSchedulerBoundsConcurrencyAndReportsTheQueue(t *testing.T) {
	// In a bubble: each step's 20 ms of work, and the waits measured, are
	// the bubble's clock, whatever else the machine runs.
	synctest.Test(t, func(t *testing.T) {
		var waitMu sync.Mutex
		var waits []time.Duration
		s := newScheduler(2, func(d time.Duration) {
			waitMu.Lock()
			waits = append(waits, d)
			waitMu.Unlock()
		})
		defer s.stop()
		var running, most atomic.Int64
		for range 10 {
			s.after(0, func() {
				raise(&most, running.Add(1))
				time.Sleep(20 * time.Millisecond) // the step's work
				running.Add(-1)
			})
		}
		<-s.idle()
		if most.Load() != 2 {
			t.Errorf("%d steps ran at once, want the 2 workers' worth", most.Load())
		}
		// Ten 20 ms steps on two workers: the last pair waited about 80 ms.
		if len(waits) != 10 || slices.Max(waits) < 70*time.Millisecond {
			t.Errorf("queue waits %v: want 10, the longest about 80 ms", waits)
		}
	})
}

func TestSchedulerStopDropsWaitingSteps(t *testing.T) {
	s := newScheduler(1, func(time.Duration) {})
	var ran atomic.Bool
	s.after(time.Hour, func() { ran.Store(true) })
	started, release := make(chan struct{}), make(chan struct{})
	s.after(0, func() {
		close(started)
		<-release // running until stop has been called
	})
	s.after(0, func() { ran.Store(true) }) // queued behind the running step
	<-started
	s.stop()
	close(release)
	select {
	case <-s.idle():
	case <-time.After(5 * time.Second):
		t.Fatal("stop left steps pending")
	}
	s.after(0, func() { ran.Store(true) })
	if ran.Load() {
		t.Error("a step ran after stop, or a waiting one was not dropped")
	}
}

func TestStepHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h stepHeap
	for range 5000 {
		h.push(step{at: time.Duration(rng.IntN(1000))})
	}
	var popped []time.Duration
	for len(h) > 0 {
		popped = append(popped, h.pop().at)
	}
	if len(popped) != 5000 || !slices.IsSorted(popped) {
		t.Fatalf("%d steps out of 5000, sorted %v", len(popped), slices.IsSorted(popped))
	}
}
