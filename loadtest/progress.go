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
		// The first snapshot starts the rates' windows: the first line's
		// rates are then taken over one refresh.
		history := progressHistory{snapshot()}
		for {
			select {
			case <-done:
				history = history.add(snapshot())
				if c.terminal {
					c.printf("\r%s\x1b[K\n", terminalLine(history))
				} else {
					c.printf("%s\n", logLine(history))
				}
				return
			case <-ticker.C:
			}
			history = history.add(snapshot())
			if c.terminal {
				c.printf("\r%s\x1b[K", terminalLine(history))
			} else {
				c.printf("%s\n", logLine(history))
			}
		}
	})
	return func() {
		close(done)
		finished.Wait()
	}
}

// The line's rates are taken over the last snapshots rather than since the
// start: requests over the last second, so that the terminal's figure does
// not flicker; reservations, behind the ETA, over a few seconds, since a
// herd's 201s come in bursts between its users' retries.
const (
	rateWindow = time.Second
	etaWindow  = 3 * time.Second
)

// progressHistory holds the snapshots of the last etaWindow, oldest first,
// and the one before, so that every window has a snapshot at its start. It
// is never empty.
type progressHistory []progressSnapshot

// add appends s and drops the snapshots no window reaches any more.
func (h progressHistory) add(s progressSnapshot) progressHistory {
	h = append(h, s)
	for len(h) > 1 && s.sinceStart-h[1].sinceStart >= etaWindow {
		h = h[1:]
	}
	return h
}

func (h progressHistory) latest() progressSnapshot { return h[len(h)-1] }

// perSecond returns how fast count grew over the last window: from the
// newest snapshot at least window older than the latest, or the oldest
// there is, to the latest. It is 0 over no time.
func (h progressHistory) perSecond(window time.Duration, count func(progressSnapshot) int64) float64 {
	latest, from := h.latest(), h[0]
	for i := len(h) - 2; i >= 0; i-- {
		if latest.sinceStart-h[i].sinceStart >= window {
			from = h[i]
			break
		}
	}
	elapsed := latest.sinceStart - from.sinceStart
	if elapsed <= 0 {
		return 0
	}
	return float64(count(latest)-count(from)) / elapsed.Seconds()
}

func (h progressHistory) requestRate() float64 {
	return h.perSecond(rateWindow, func(s progressSnapshot) int64 { return s.requests })
}

// fillsByStock reports whether the bar fills by units reserved rather than
// by time: a stock bar that knows the stock.
func (s progressSnapshot) fillsByStock() bool { return s.stockBar && s.totalUnits > 0 }

// eta tells when the bar will be full: for a stock bar, when the units left
// are reserved at the recent reservation rate ("ETA -" when none was
// reserved lately, nothing once none is left); for a time bar, when the
// duration is up. It says nothing during the countdown, which the clock
// counts.
func (h progressHistory) eta() string {
	s := h.latest()
	if s.sinceStart < 0 {
		return ""
	}
	if !s.fillsByStock() {
		if left := s.duration - s.sinceStart; left > 0 {
			return "ETA " + etaText(left)
		}
		return ""
	}
	left := s.totalUnits - s.reserved
	if left <= 0 {
		return ""
	}
	rate := h.perSecond(etaWindow, func(s progressSnapshot) int64 { return s.reserved })
	if rate <= 0 {
		return "ETA -"
	}
	return "ETA " + etaText(time.Duration(float64(left)/rate*float64(time.Second)))
}

// etaText writes tenths of a second under a minute, where they still
// change what one waits for, and whole seconds above.
func etaText(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func clockText(s progressSnapshot) string {
	if s.sinceStart < 0 {
		return fmt.Sprintf("starts in %.1fs", (-s.sinceStart).Seconds())
	}
	return fmt.Sprintf("%5.1fs/%s", s.sinceStart.Seconds(), s.duration)
}

func terminalLine(h progressHistory) string {
	s := h.latest()
	fraction := s.sinceStart.Seconds() / s.duration.Seconds()
	if s.fillsByStock() {
		fraction = float64(s.reserved) / float64(s.totalUnits)
	}
	filled := int(min(max(fraction, 0), 1) * barWidth)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", barWidth-filled)
	eta := h.eta()
	if eta != "" {
		eta = " " + eta + " |"
	}
	line := fmt.Sprintf("%s [%s]%s %d/%d reserved | %d req %.0f/s | sold_out %d  429/503 %d  err %d | in flight %d | p99 order %s",
		clockText(s), bar, eta, s.reserved, s.totalUnits, s.requests, h.requestRate(), s.soldOut, s.rejected, s.errors, s.inFlight, s.orderP99.Round(10*time.Microsecond))
	if s.dropped > 0 {
		line += fmt.Sprintf(" | dropped %d", s.dropped)
	}
	return line
}

func logLine(h progressHistory) string {
	s := h.latest()
	return fmt.Sprintf("t=%.1fs requests=%d rate=%.0f/s reserved=%d/%d sold_out=%d rejected=%d errors=%d in_flight=%d dropped=%d p99_order=%s",
		s.sinceStart.Seconds(), s.requests, h.requestRate(), s.reserved, s.totalUnits, s.soldOut, s.rejected, s.errors, s.inFlight, s.dropped, s.orderP99.Round(10*time.Microsecond))
}
