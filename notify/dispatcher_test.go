package notify_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/notify"
)

// Every notification reaches every channel once, and is marked delivered.
func TestDispatcherDeliversOnEveryChannel(t *testing.T) {
	a, b := &recorder{name: "a"}, &recorder{name: "b"}
	shop := newShop(t, a.name, b.name)
	clock := newClock()
	run(t, notify.Config{Outbox: shop.store, Channels: []notify.Channel{a, b}, Now: clock.Now, PollInterval: time.Hour})

	// The store's commit signal wakes the dispatcher: with an hour-long
	// poll, nothing else could.
	var want []flashsale.Notification
	for i := range 20 {
		user := fmt.Sprintf("user-%d", i)
		shop.reserve(user)
		want = append(want, shop.notifications(user)...)
	}
	for _, ch := range []*recorder{a, b} {
		testenv.Eventually(t, 10*time.Second, "channel "+ch.name+" got every notification", func() bool { return len(ch.ids()) == len(want) })
		if !slices.Equal(ch.ids(), idsOf(want)) {
			t.Fatalf("channel %s got %v, want %v", ch.name, ch.ids(), idsOf(want))
		}
		for _, n := range want {
			testenv.Eventually(t, 10*time.Second, "delivery marked", func() bool { return !shop.delivery(n.ID, ch.name).DeliveredAt.IsZero() })
			if got := ch.attempts(n.ID); got != 1 {
				t.Fatalf("channel %s got %s %d times, want once", ch.name, n.ID, got)
			}
			d := shop.delivery(n.ID, ch.name)
			if d.Attempts != 1 || d.Pending() || !d.DeliveredAt.Equal(start) {
				t.Fatalf("delivery of %s on %s: %+v, want delivered at %v on the first attempt", n.ID, ch.name, d, start)
			}
		}
	}
}

// A failed delivery is retried after the backoff, with jitter, until it
// succeeds; the receiver sees the same notification each time.
func TestDispatcherRetriesWithBackoff(t *testing.T) {
	flaky := &recorder{name: "flaky", fail: func(_ context.Context, _ flashsale.Notification, seen int) error {
		if seen <= 2 {
			return errReceiverDown
		}
		return nil
	}}
	shop := newShop(t, flaky.name)
	clock := newClock()
	backoff := notify.Backoff{Initial: 4 * time.Second, Max: time.Minute, Attempts: 5}
	store := &countingStore{Store: shop.store}
	run(t, notify.Config{
		Outbox: store, Channels: []notify.Channel{flaky}, Now: clock.Now, PollInterval: time.Millisecond, Retry: backoff,
	})
	shop.reserve("alice")
	id := shop.notifications("alice")[0].ID

	for attempt := 1; attempt <= 2; attempt++ {
		testenv.Eventually(t, 10*time.Second, fmt.Sprintf("failed attempt %d recorded", attempt), func() bool {
			// Claimed, the delivery is due at the lease's end (2 min);
			// failed, within the backoff's maximum.
			d := shop.delivery(id, flaky.name)
			return d.Attempts == attempt && d.NextAttemptAt.Sub(clock.Now()) <= backoff.Max
		})
		d := shop.delivery(id, flaky.name)
		wait := d.NextAttemptAt.Sub(clock.Now())
		if full := backoff.Delay(attempt); wait < full/2 || wait > full {
			t.Fatalf("attempt %d: retry in %v, want between %v and %v", attempt, wait, full/2, full)
		}
		clock.Advance(wait - time.Millisecond)
		store.afterPolls(t, 5) // polls that must find nothing due
		if got := flaky.attempts(id); got != attempt {
			t.Fatalf("retried before the backoff ended: %d attempts, want %d", got, attempt)
		}
		clock.Advance(time.Millisecond)
	}
	testenv.Eventually(t, 10*time.Second, "delivered on the third attempt", func() bool { return !shop.delivery(id, flaky.name).DeliveredAt.IsZero() })
	if d := shop.delivery(id, flaky.name); d.Attempts != 3 || d.Pending() {
		t.Fatalf("delivery %+v, want delivered on attempt 3", d)
	}
	if got := flaky.attempts(id); got != 3 {
		t.Fatalf("the receiver saw %d attempts, want 3", got)
	}
}

func TestBackoffDelay(t *testing.T) {
	b := notify.Backoff{Initial: time.Second, Max: 30 * time.Second}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 6: 30 * time.Second, 60: 30 * time.Second} {
		if got := b.Delay(attempt); got != want {
			t.Errorf("Delay(%d) = %v, want %v", attempt, got, want)
		}
	}
}

// A permanent failure is given up at once; a delivery that keeps failing
// is given up after the last attempt. Neither is tried again.
func TestDispatcherGivesUp(t *testing.T) {
	rejected := &recorder{name: "rejected", fail: func(context.Context, flashsale.Notification, int) error {
		return notify.Permanent(errors.New("550 no such user"))
	}}
	down := &recorder{name: "down", fail: func(context.Context, flashsale.Notification, int) error { return errReceiverDown }}
	shop := newShop(t, rejected.name, down.name)
	clock := newClock()
	store := &countingStore{Store: shop.store}
	run(t, notify.Config{
		Outbox: store, Channels: []notify.Channel{rejected, down}, Now: clock.Now, PollInterval: time.Millisecond,
		Retry: notify.Backoff{Initial: time.Second, Max: time.Second, Attempts: 3},
	})
	shop.reserve("alice")
	id := shop.notifications("alice")[0].ID

	for _, c := range []struct {
		ch       *recorder
		attempts int
		err      string
	}{{rejected, 1, "550 no such user"}, {down, 3, errReceiverDown.Error()}} {
		testenv.Eventually(t, 10*time.Second, c.ch.name+" given up", func() bool {
			clock.Advance(time.Second)
			return !shop.delivery(id, c.ch.name).Pending()
		})
		if d := shop.delivery(id, c.ch.name); d.Attempts != c.attempts || !d.DeliveredAt.IsZero() || d.LastError != c.err {
			t.Fatalf("%s: delivery %+v, want given up after %d attempts with %q", c.ch.name, d, c.attempts, c.err)
		}
	}
	clock.Advance(time.Hour)
	store.afterPolls(t, 5)
	if rejected.attempts(id) != 1 || down.attempts(id) != 3 {
		t.Fatalf("tried again after giving up: %d and %d attempts", rejected.attempts(id), down.attempts(id))
	}
}

// A receiver that hangs holds up its own channel only: the others deliver
// meanwhile, and so do the orders, which only write the outbox.
func TestHangingChannelDelaysOnlyItself(t *testing.T) {
	release := make(chan struct{})
	hanging := &recorder{name: "hanging", fail: func(context.Context, flashsale.Notification, int) error {
		<-release
		return nil
	}}
	fine := &recorder{name: "fine"}
	shop := newShop(t, hanging.name, fine.name)
	run(t, notify.Config{
		Outbox: shop.store, Channels: []notify.Channel{hanging, fine}, PollInterval: time.Millisecond,
		DeliveryTimeout: time.Minute, Lease: time.Hour,
	})
	defer close(release)
	var want []flashsale.Notification
	for i := range 50 {
		user := fmt.Sprintf("user-%d", i)
		shop.reserve(user)
		want = append(want, shop.notifications(user)...)
	}
	testenv.Eventually(t, 10*time.Second, "the healthy channel delivered everything", func() bool { return len(fine.ids()) == len(want) })
	if got := len(hanging.ids()); got > 8 {
		t.Fatalf("the hanging channel got %d deliveries, want at most its concurrency (8)", got)
	}
}

// A dispatcher that dies mid-batch, after delivering part of it and
// before recording anything, loses nothing: once the lease ends, the next
// dispatcher delivers the whole batch again, same ids, and records it.
func TestDispatcherCrashMidBatch(t *testing.T) {
	const orders, deliveredBeforeCrash = 10, 4
	shop := newShop(t, "email")
	clock := newClock()
	var want []flashsale.Notification
	for i := range orders {
		user := fmt.Sprintf("user-%d", i)
		shop.reserve(user)
		want = append(want, shop.notifications(user)...)
	}
	lease := time.Minute

	// The first dispatcher claims the batch, delivers four, then hangs;
	// after its claim, the dying process writes nothing more.
	var delivered atomic.Int32
	dying := &recorder{name: "email", fail: func(ctx context.Context, _ flashsale.Notification, _ int) error {
		if delivered.Add(1) > deliveredBeforeCrash {
			<-ctx.Done() // hangs until the delivery times out
			return ctx.Err()
		}
		return nil
	}}
	crashed := &crashingOutbox{Outbox: shop.store}
	stop := run(t, notify.Config{
		Outbox: crashed, Channels: []notify.Channel{dying}, Now: clock.Now, PollInterval: time.Millisecond,
		BatchSize: orders, Concurrency: 1, DeliveryTimeout: 50 * time.Millisecond, Lease: lease,
	})
	testenv.Eventually(t, 10*time.Second, "the first dispatcher delivered part of its batch", func() bool { return delivered.Load() > deliveredBeforeCrash })
	stop()
	for _, n := range want {
		if d := shop.delivery(n.ID, "email"); d.Attempts != 1 || !d.DeliveredAt.IsZero() || !d.NextAttemptAt.Equal(start.Add(lease)) {
			t.Fatalf("after the crash, %s is %+v; want claimed once, not delivered, due at the lease's end", n.ID, d)
		}
	}

	next := &recorder{name: "email"}
	store := &countingStore{Store: shop.store}
	run(t, notify.Config{
		Outbox: store, Channels: []notify.Channel{next}, Now: clock.Now, PollInterval: time.Millisecond,
		DeliveryTimeout: time.Second, Lease: lease,
	})
	clock.Advance(lease - time.Second)
	store.afterPolls(t, 5)
	if got := len(next.ids()); got != 0 {
		t.Fatalf("the next dispatcher delivered %d before the lease ended", got)
	}
	clock.Advance(time.Second)
	testenv.Eventually(t, 10*time.Second, "the next dispatcher delivered the whole batch", func() bool { return len(next.ids()) == orders })
	if !slices.Equal(next.ids(), idsOf(want)) {
		t.Fatalf("redelivered %v, want %v", next.ids(), idsOf(want))
	}
	for _, n := range want {
		testenv.Eventually(t, 10*time.Second, "redelivery recorded", func() bool { return !shop.delivery(n.ID, "email").DeliveredAt.IsZero() })
		if d := shop.delivery(n.ID, "email"); d.Attempts != 2 {
			t.Fatalf("%s: %d attempts, want 2", n.ID, d.Attempts)
		}
	}
	// What the first dispatcher delivered, the receiver saw twice, under
	// the same id: at least once, deduplicated by the receiver.
	for _, n := range dying.got[:deliveredBeforeCrash] {
		if next.attempts(n.ID) != 1 {
			t.Fatalf("%s was not redelivered", n.ID)
		}
	}
}

// crashingOutbox is the outbox as a process that dies right after a claim
// sees it: the claim commits, nothing afterwards does.
type crashingOutbox struct {
	flashsale.Outbox
	claimed atomic.Bool
}

var errCrashed = errors.New("the process is gone")

func (c *crashingOutbox) ClaimDeliveries(ctx context.Context, channel string, now time.Time, lease time.Duration, limit int) ([]flashsale.Delivery, error) {
	if c.claimed.Load() {
		return nil, errCrashed
	}
	d, err := c.Outbox.ClaimDeliveries(ctx, channel, now, lease, limit)
	if len(d) > 0 {
		c.claimed.Store(true)
	}
	return d, err
}

func (c *crashingOutbox) MarkDelivered(context.Context, string, time.Time, ...string) error {
	return errCrashed
}

func (c *crashingOutbox) RecordFailedDelivery(context.Context, flashsale.FailedDelivery) error {
	return errCrashed
}

func TestNewDispatcherChecksConfig(t *testing.T) {
	shop := newShop(t)
	for _, c := range []struct {
		name string
		cfg  notify.Config
		want string
	}{
		{"no outbox", notify.Config{}, "Outbox"},
		{"twice the same channel", notify.Config{Outbox: shop.store, Channels: []notify.Channel{&recorder{name: "a"}, &recorder{name: "a"}}}, "twice"},
		{"a lease shorter than a batch", notify.Config{Outbox: shop.store, BatchSize: 8, Concurrency: 2, DeliveryTimeout: 10 * time.Second, Lease: 49 * time.Second}, "at least 50s"},
	} {
		if _, err := notify.NewDispatcher(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one saying %q", c.name, err, c.want)
		}
	}
}
