package loadtest

import (
	"math"
	"sync"
	"time"
)

// scheduler runs the steps of simulated users: a step scheduled for later
// waits in a runtime timer, not in a goroutine, so a herd of a million
// waiting users costs timers rather than stacks. stop cancels every step not
// yet started and pending counts the ones still to finish.
type scheduler struct {
	mu      sync.Mutex
	stopped bool
	timers  map[*scheduledStep]struct{}
	pending sync.WaitGroup
}

type scheduledStep struct{ timer *time.Timer }

func newScheduler() *scheduler {
	return &scheduler{timers: map[*scheduledStep]struct{}{}}
}

// after runs step once d has passed, unless stop comes first.
func (s *scheduler) after(d time.Duration, step func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	entry := &scheduledStep{}
	s.pending.Add(1)
	entry.timer = time.AfterFunc(d, func() {
		defer s.pending.Done()
		s.mu.Lock()
		delete(s.timers, entry)
		s.mu.Unlock()
		step()
	})
	s.timers[entry] = struct{}{}
}

// spawn runs step in a new goroutine now, unless stopped.
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

// stop drops every step that has not started; running ones finish.
func (s *scheduler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for entry := range s.timers {
		if entry.timer.Stop() {
			s.pending.Done()
		}
		delete(s.timers, entry)
	}
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
