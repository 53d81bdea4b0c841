package loadtest

import (
	"strings"
	"testing"
	"time"
)

// stockHistory builds the history of a stock bar over 1,000 units from
// the units reserved at each whole second since traffic start.
func stockHistory(reserved ...int64) progressHistory {
	var h progressHistory
	for i, units := range reserved {
		h = h.add(progressSnapshot{sinceStart: time.Duration(i) * time.Second, duration: time.Minute, reserved: units, totalUnits: 1000, stockBar: true})
	}
	return h
}

func TestProgressETA(t *testing.T) {
	for _, c := range []struct {
		name string
		h    progressHistory
		want string
	}{
		// 200 units in 2 s: 800 left at 100/s.
		{"stock, shorter than the window", stockHistory(0, 100, 200), "ETA 8.0s"},
		// From second 2, the window's start: 300 units in 3 s; the
		// quiet first seconds are out of it.
		{"stock, over the window", stockHistory(0, 0, 0, 100, 200, 300), "ETA 7.0s"},
		{"stock, slow", stockHistory(0, 1, 2, 3), "ETA 16m37s"},
		{"stock, none reserved lately", stockHistory(0, 500, 500, 500, 500), "ETA -"},
		{"stock, one snapshot", stockHistory(0), "ETA -"},
		{"stock, sold out", stockHistory(0, 600, 1000), ""},
		{"stock, more 201s than units", stockHistory(0, 600, 1003), ""},
		{"countdown", progressHistory{{sinceStart: -2 * time.Second, duration: time.Minute, totalUnits: 1000, stockBar: true}}, ""},
		{"time", progressHistory{{sinceStart: 12500 * time.Millisecond, duration: 30 * time.Second}}, "ETA 17.5s"},
		{"time, over a minute", progressHistory{{sinceStart: 4 * time.Second, duration: 2 * time.Minute}}, "ETA 1m56s"},
		{"time, up", progressHistory{{sinceStart: 30 * time.Second, duration: 30 * time.Second}}, ""},
		// A herd-like scenario whose stock is unknown fills its bar by
		// time, and so does its ETA.
		{"stock bar without a stock", progressHistory{{sinceStart: 10 * time.Second, duration: 30 * time.Second, stockBar: true}}, "ETA 20.0s"},
	} {
		if got := c.h.eta(); got != c.want {
			t.Errorf("%s: eta() = %q, want %q", c.name, got, c.want)
		}
	}
}

// The request rate is taken over the last second, from the newest
// snapshot at least that old.
func TestProgressRequestRate(t *testing.T) {
	var h progressHistory
	for i, requests := range []int64{0, 100, 300, 600, 1000, 1500} {
		h = h.add(progressSnapshot{sinceStart: time.Duration(i) * 500 * time.Millisecond, duration: time.Minute, requests: requests})
	}
	if got := h.requestRate(); got != 900 {
		t.Errorf("requestRate() = %v, want 900 (1500 - 600 requests in 1 s)", got)
	}
	if got := (progressHistory{{requests: 42}}).requestRate(); got != 0 {
		t.Errorf("requestRate() of one snapshot = %v, want 0", got)
	}
}

// The history keeps the snapshots the longest window needs and no more,
// however long the run.
func TestProgressHistoryIsBounded(t *testing.T) {
	var h progressHistory
	for i := range 1000 {
		h = h.add(progressSnapshot{sinceStart: time.Duration(i) * terminalRefresh})
	}
	if want := int(etaWindow/terminalRefresh) + 1; len(h) != want {
		t.Errorf("history holds %d snapshots, want %d", len(h), want)
	}
	if span := h.latest().sinceStart - h[0].sinceStart; span != etaWindow {
		t.Errorf("history spans %v, want %v", span, etaWindow)
	}
}

func TestTerminalLineShowsTheETA(t *testing.T) {
	h := stockHistory(0, 100, 200)
	line := terminalLine(h)
	if want := "[####--------------------] ETA 8.0s | 200/1000 reserved |"; !strings.Contains(line, want) {
		t.Errorf("terminal line %q lacks %q", line, want)
	}
	line = terminalLine(stockHistory(0, 1000))
	if want := "[########################] 1000/1000 reserved |"; !strings.Contains(line, want) || strings.Contains(line, "ETA") {
		t.Errorf("sold-out terminal line %q: want %q and no ETA", line, want)
	}
}
