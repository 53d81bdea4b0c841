package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test naming what it
// waited for once limit has passed: the one way tests wait for a
// condition another goroutine or process brings about. The limit only
// turns a hang into a failure, unless the test states it as a promise of
// the system's (the stock follows the store within 10 s of Redis's
// return); it is never a measure of speed.
func Eventually(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(wait)
	}
}
