package loadtest

import (
	"math"
	"sync"
	"time"
)

// scheduler runs the steps of simulated users (presses, retries, polls,
// payments) on a fixed pool of workers, each step once its time has come.
//
// A step waiting for its time is an entry in a heap, not a goroutine or a
// runtime timer, so a herd of a million waiting users costs a few dozen
// bytes each. A step whose time has come stays in the heap until a worker
// is free; the workers take the earliest first, so no more steps run at
// once than there are workers, however many users are due: that is the
// closed loop's concurrency, each worker with at most one request in
// flight. How long a due step waited for a worker is the generator's own
// queueing (more users pressing than it has workers); onQueued receives it,
// and request latency, which counts from the send, leaves it out.
//
// Like open-loop arrivals, a step goes to a worker up to a timer's
// granularity early rather than that much late. stop drops every step that
// has not started; pending counts the steps still to finish.
type scheduler struct {
	origin   time.Time
	onQueued func(time.Duration)

	mu      sync.Mutex
	ready   sync.Cond // a step is due, or the scheduler stopped
	stopped bool
	steps   stepHeap
	// wake (capacity 1) makes the clock look again: a step earlier than
	// the one it waits for arrived, or the scheduler stopped.
	wake    chan struct{}
	pending sync.WaitGroup
}

// step is a function to run at a time, counted from the scheduler's origin.
type step struct {
	at  time.Duration
	run func()
}

// newScheduler starts workers workers and the clock that wakes them as steps
// fall due. stop ends them.
func newScheduler(workers int, onQueued func(time.Duration)) *scheduler {
	s := &scheduler{origin: time.Now(), onQueued: onQueued, wake: make(chan struct{}, 1)}
	s.ready.L = &s.mu
	go s.clock()
	for range workers {
		go s.work()
	}
	return s
}

func (s *scheduler) now() time.Duration { return time.Since(s.origin) }

// isDue reports whether the earliest step may run. The caller holds mu.
func (s *scheduler) isDue(now time.Duration) bool {
	return len(s.steps) > 0 && s.steps[0].at-timerGranularity <= now
}

// after runs step on a worker once d has passed, unless stop comes first.
func (s *scheduler) after(d time.Duration, run func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.pending.Add(1)
	now := s.now()
	st := step{at: now + max(d, 0), run: run}
	s.steps.push(st)
	switch {
	case st.at-timerGranularity <= now:
		s.ready.Signal()
	case s.steps[0].at == st.at:
		s.nudge()
	}
}

func (s *scheduler) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// clock wakes the idle workers when the earliest step falls due. While
// due steps wait for busy workers, it looks again every timerGranularity
// (the workers take those steps as they finish; the clock is for the steps
// whose time comes while workers are idle).
func (s *scheduler) clock() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		now := s.now()
		switch {
		case s.isDue(now):
			s.ready.Broadcast()
			timer.Reset(timerGranularity)
		case len(s.steps) > 0:
			timer.Reset(s.steps[0].at - timerGranularity - now)
		default:
			timer.Stop()
		}
		s.mu.Unlock()
		select {
		case <-timer.C:
		case <-s.wake:
		}
	}
}

// work runs due steps one at a time, the earliest first, until stop.
func (s *scheduler) work() {
	s.mu.Lock()
	for {
		if s.stopped {
			s.mu.Unlock()
			return
		}
		now := s.now()
		if !s.isDue(now) {
			s.ready.Wait()
			continue
		}
		st := s.steps.pop()
		s.mu.Unlock()
		s.onQueued(max(now-st.at, 0))
		st.run()
		s.pending.Done()
		s.mu.Lock()
	}
}

// spawn runs step in a goroutine of its own now, unless stopped: for the
// loops that pace a run (the open-loop clock and its senders), which must
// not wait behind users' steps nor hold a worker for the whole run.
func (s *scheduler) spawn(step func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		step()
	}()
}

// stop drops every step that has not started and ends the workers once
// their current steps finish.
func (s *scheduler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	for range s.steps {
		s.pending.Done()
	}
	s.steps = nil
	s.ready.Broadcast()
	s.nudge()
}

// idle returns a channel closed once no step is pending. Call it after the
// first steps are scheduled: until then there is nothing to wait for.
func (s *scheduler) idle() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		s.pending.Wait()
		close(done)
	}()
	return done
}

// stepHeap is a binary min-heap of steps by time, written out rather than
// through container/heap, whose interface would allocate for every push.
type stepHeap []step

func (h *stepHeap) push(st step) {
	*h = append(*h, st)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if s[parent].at <= s[i].at {
			break
		}
		s[parent], s[i] = s[i], s[parent]
		i = parent
	}
}

func (h *stepHeap) pop() step {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = step{} // let the closure go
	s = s[:last]
	for i := 0; ; {
		smallest, left, right := i, 2*i+1, 2*i+2
		if left < len(s) && s[left].at < s[smallest].at {
			smallest = left
		}
		if right < len(s) && s[right].at < s[smallest].at {
			smallest = right
		}
		if smallest == i {
			break
		}
		s[i], s[smallest] = s[smallest], s[i]
		i = smallest
	}
	*h = s
	return top
}

// arrivalOffset returns when the k-th arrival (from 0) of an open-loop
// schedule falls, counted from its start: the rate rises linearly from 0 to
// rate over ramp, then holds. During the ramp n(t) = rate*t²/(2*ramp)
// arrivals have happened by t, so the k-th is at sqrt(2*k*ramp/rate).
func arrivalOffset(k int64, rate float64, ramp time.Duration) time.Duration {
	rampSeconds := ramp.Seconds()
	rampArrivals := rate * rampSeconds / 2
	var seconds float64
	if float64(k) < rampArrivals {
		seconds = math.Sqrt(2 * float64(k) * rampSeconds / rate)
	} else {
		seconds = rampSeconds + (float64(k)-rampArrivals)/rate
	}
	return time.Duration(seconds * float64(time.Second))
}
