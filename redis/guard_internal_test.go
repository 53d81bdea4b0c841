package redis

import (
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale/internal/testclock"
)

func TestBreakerOpensAfterFailuresInARowAndProbesOneAtATime(t *testing.T) {
	clock := testclock.New(time.Unix(1_700_000_000, 0))
	b := &breaker{threshold: 3, probeEvery: 250 * time.Millisecond, now: clock.Now}

	b.record(false)
	b.record(false)
	b.record(true) // an answer between failures: they are not in a row
	b.record(false)
	b.record(false)
	if b.open() || !b.allow() {
		t.Fatal("open after two failures in a row; want closed until three")
	}
	b.record(false)
	if !b.open() {
		t.Fatal("closed after three failures in a row; want open")
	}
	if b.allow() {
		t.Fatal("a call allowed the moment the breaker opened; want the first probe a period later")
	}
	clock.Advance(250 * time.Millisecond)
	if !b.allow() {
		t.Fatal("no probe allowed a period after opening")
	}
	if b.allow() {
		t.Fatal("a second call allowed while the probe is out; want one at a time")
	}
	b.record(false) // the probe failed
	if b.allow() {
		t.Fatal("a call allowed right after a failed probe")
	}
	clock.Advance(250 * time.Millisecond)
	if !b.allow() {
		t.Fatal("no second probe a period after the first")
	}
	b.record(true)
	if b.open() || !b.allow() || !b.allow() {
		t.Fatal("still failing fast after a probe was answered; want closed")
	}
}

func TestANilReplyIsAnAnswer(t *testing.T) {
	if !answered(rueidis.Nil) {
		t.Fatal("a nil reply counted as a failure: every empty read would open the breaker")
	}
}
