package loadtest

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress refresh: a terminal line redraws often enough to look live; a log
// (file, pipe, CI) gets one line a second so it stays readable.
const (
	terminalRefresh = 200 * time.Millisecond
	logRefresh      = time.Second
	barWidth        = 24
)

// progressSnapshot is what the progress line shows.
type progressSnapshot struct {
	// sinceStart is the time since traffic started; negative during the
	// countdown.
	sinceStart time.Duration
	duration   time.Duration
	requests   int64
	reserved   int64
	totalUnits int64
	soldOut    int64
	rejected   int64
	errors     int64
	inFlight   int64
	dropped    int64
	orderP99   time.Duration
	// stockBar fills the bar by units reserved (herd) rather than by time.
	stockBar bool
}

func (r *run) progressSnapshot() progressSnapshot {
	return progressSnapshot{
		sinceStart: time.Since(r.trafficStart),
		duration:   r.cfg.Duration,
		requests:   r.rec.requests.Load(),
		reserved:   r.rec.reservations.Load(),
		totalUnits: r.sale.totalUnits(),
		soldOut:    r.rec.soldOut.Load(),
		rejected:   r.rec.rejected.Load(),
		errors:     r.rec.errors.Load(),
		inFlight:   r.client.inFlight.Load(),
		dropped:    r.dropped.Load(),
		orderP99:   r.rec.endpointQuantile(endpointPlaceOrder, 0.99),
		stockBar:   r.cfg.Scenario == ScenarioHerd || r.cfg.Scenario == ScenarioBots || r.cfg.Scenario == ScenarioQueue || r.cfg.Scenario == ScenarioFarm,
	}
}

// isTerminal reports whether w is a character device, where a line can be
// redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// console is where a run reports while it runs (the command's stderr):
// the progress line and warnings, which come from different goroutines,
// each written whole.
type console struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
}

// newConsole returns a console on w; nil, which reports nothing, when w is
// nil.
func newConsole(w io.Writer) *console {
	if w == nil {
		return nil
	}
	return &console{w: w, terminal: isTerminal(w)}
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, format, args...)
}

// warn writes text on lines of its own: on a terminal it first clears the
// progress line, which the next refresh draws again below the warning.
func (c *console) warn(text string) {
	if c == nil {
		return
	}
	if c.terminal {
		c.printf("\r\x1b[K%s\n", text)
	} else {
		c.printf("%s\n", text)
	}
}

// startProgress reports snapshots to c until the returned stop is called,
// which prints the final state. A nil c reports nothing.
func startProgress(c *console, snapshot func() progressSnapshot) (stop func()) {
	if c == nil {
		return func() {}
	}
	every := logRefresh
	if c.terminal {
		every = terminalRefresh
	}
	done := make(chan struct{})
	var finished sync.WaitGroup
	finished.Go(func() {
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		// The rate is taken over the last second whatever the refresh, so
		// that the terminal's figure does not flicker.
		window := make([]int64, int(time.Second/every)+1)
		var rate float64
		for tick := 0; ; tick++ {
			select {
			case <-done:
				s := snapshot()
				if c.terminal {
					c.printf("\r%s\x1b[K\n", terminalLine(s, rate))
				} else {
					c.printf("%s\n", logLine(s, rate))
				}
				return
			case <-ticker.C:
			}
			s := snapshot()
			slot := tick % len(window)
			oldest := window[(tick+1)%len(window)]
			window[slot] = s.requests
			rate = float64(s.requests-oldest) / (time.Duration(min(tick+1, len(window)-1)) * every).Seconds()
			if c.terminal {
				c.printf("\r%s\x1b[K", terminalLine(s, rate))
			} else {
				c.printf("%s\n", logLine(s, rate))
			}
		}
	})
	return func() {
		close(done)
		finished.Wait()
	}
}

func clockText(s progressSnapshot) string {
	if s.sinceStart < 0 {
		return fmt.Sprintf("starts in %.1fs", (-s.sinceStart).Seconds())
	}
	return fmt.Sprintf("%5.1fs/%s", s.sinceStart.Seconds(), s.duration)
}

func terminalLine(s progressSnapshot, rate float64) string {
	fraction := s.sinceStart.Seconds() / s.duration.Seconds()
	if s.stockBar && s.totalUnits > 0 {
		fraction = float64(s.reserved) / float64(s.totalUnits)
	}
	filled := int(min(max(fraction, 0), 1) * barWidth)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", barWidth-filled)
	line := fmt.Sprintf("%s [%s] %d/%d reserved | %d req %.0f/s | sold_out %d  429/503 %d  err %d | in flight %d | p99 order %s",
		clockText(s), bar, s.reserved, s.totalUnits, s.requests, rate, s.soldOut, s.rejected, s.errors, s.inFlight, s.orderP99.Round(10*time.Microsecond))
	if s.dropped > 0 {
		line += fmt.Sprintf(" | dropped %d", s.dropped)
	}
	return line
}

func logLine(s progressSnapshot, rate float64) string {
	return fmt.Sprintf("t=%.1fs requests=%d rate=%.0f/s reserved=%d/%d sold_out=%d rejected=%d errors=%d in_flight=%d dropped=%d p99_order=%s",
		s.sinceStart.Seconds(), s.requests, rate, s.reserved, s.totalUnits, s.soldOut, s.rejected, s.errors, s.inFlight, s.dropped, s.orderP99.Round(10*time.Microsecond))
}
