package storetest

import (
	"cmp"
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
)

// outboxScenarios test flashsale.Outbox. They run only for a Harness with
// OpenWithChannels whose stores implement it; each opens its store with
// two channels of its own, so that stores sharing a database never claim
// each other's deliveries.
var outboxScenarios = []scenario{
	{"OutboxWrittenWithEachChange", testOutboxWrittenWithEachChange},
	{"OutboxNothingForRefusedWrites", testOutboxNothingForRefusedWrites},
	{"OutboxClaimAndLease", testOutboxClaimAndLease},
	{"OutboxFailedAttempts", testOutboxFailedAttempts},
	{"OutboxConcurrentClaims", testOutboxConcurrentClaims},
	{"OutboxResume", testOutboxResume},
	{"OutboxSurvivesReopen", testOutboxSurvivesReopen},
	{"OutboxRequestNotifications", testOutboxRequestNotifications},
	{"OutboxLotteryWaitlisted", testOutboxLotteryWaitlisted},
	{"OutboxLotteryWon", testOutboxLotteryWon},
	{"OutboxLotteryLost", testOutboxLotteryLost},
}

// runOutbox runs the outbox scenarios, or skips them with the reason.
func runOutbox(t *testing.T, h Harness) {
	for _, s := range outboxScenarios {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			if h.OpenWithChannels == nil {
				t.Skip("storetest: the Harness has no OpenWithChannels; the store's outbox is not tested")
			}
			tt := &tester{T: t, harness: h, channels: []string{"email-" + newID(), "webhook-" + newID()}}
			tt.store = tt.openWithChannels(tt.channels)
			outbox, ok := tt.store.(flashsale.Outbox)
			if !ok {
				t.Skipf("storetest: %T does not implement flashsale.Outbox", tt.store)
			}
			tt.outbox = outbox
			s.run(tt)
		})
	}
}

// openWithChannels returns a store from the harness that owes its
// notifications to channels; the test closes it at its end.
func (tt *tester) openWithChannels(channels []string) flashsale.OrderStore {
	s := tt.harness.OpenWithChannels(tt.T, channels)
	tt.Cleanup(func() {
		if err := s.Close(); err != nil {
			tt.Errorf("close: %v", err)
		}
	})
	return s
}

// Every change a user hears about writes one notification with the order
// as the change left it, owed to every channel and due at once; moving
// into paying writes none.
func testOutboxWrittenWithEachChange(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]
	alice := user(1)
	var want []flashsale.Notification
	expect := func(event flashsale.NotificationEvent, o *flashsale.Order, at time.Time) {
		n := flashsale.NewNotification(event, o, at)
		n.ItemName = item.Name
		want = append(want, n)
	}

	// Declined with attempts left, then paid.
	o := tt.createOrder(item, alice, now)
	expect(flashsale.EventOrderReserved, o, now)
	o = tt.pay(o, now.Add(time.Minute))
	o = tt.transition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderPaying, To: flashsale.OrderReserved, At: now.Add(2 * time.Minute),
		PaymentError: "card_declined",
		Payment:      payment(o, 1, flashsale.PaymentDeclined, "card_declined", now.Add(2*time.Minute)),
	})
	expect(flashsale.EventPaymentDeclined, o, now.Add(2*time.Minute))
	o = tt.confirm(o)
	expect(flashsale.EventOrderConfirmed, o, o.ConfirmedAt)

	// Out of attempts.
	o = tt.pay(tt.createOrder(item, alice, now.Add(time.Second)), now.Add(time.Minute))
	expect(flashsale.EventOrderReserved, with(o, func(w *flashsale.Order) {
		w.Status, w.PaymentAttempts, w.UpdatedAt = flashsale.OrderReserved, 0, now.Add(time.Second)
	}), now.Add(time.Second))
	o = tt.transition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderPaying, To: flashsale.OrderPaymentFailed, At: now.Add(3 * time.Minute),
		PaymentError: "insufficient_funds",
	})
	expect(flashsale.EventPaymentFailed, o, now.Add(3*time.Minute))

	// Cancelled, and expired.
	o = tt.createOrder(item, alice, now.Add(2*time.Second))
	expect(flashsale.EventOrderReserved, o, now.Add(2*time.Second))
	o = tt.transition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderCancelled, At: now.Add(4 * time.Minute),
	})
	expect(flashsale.EventOrderCancelled, o, now.Add(4*time.Minute))
	o = tt.createOrder(item, alice, now.Add(3*time.Second))
	expect(flashsale.EventOrderReserved, o, now.Add(3*time.Second))
	o = tt.transition(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderExpired, At: o.ExpiresAt,
		Deadline: flashsale.AfterDeadline,
	})
	expect(flashsale.EventOrderExpired, o, o.ExpiresAt)

	got := tt.wantNotifications(alice, want...)
	for _, n := range got {
		var states []flashsale.DeliveryState
		for _, channel := range tt.channels {
			states = append(states, flashsale.DeliveryState{Channel: channel, NextAttemptAt: stored(n.OccurredAt)})
		}
		tt.wantDeliveries(n.ID, states...)
	}
}

// A write that fails, is refused or is a retry writes no notification.
func testOutboxNothingForRefusedWrites(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]
	alice := user(1)

	o := newOrder(item, alice, now)
	o.IdempotencyKey = "key-" + newID()
	if err := tt.store.CreateOrder(tt.Context(), o); err != nil {
		tt.Fatalf("create order: %v", err)
	}
	if err := tt.store.CreateOrder(tt.Context(), o); err != nil {
		tt.Fatalf("create order again: %v", err)
	}
	reused := newOrder(&sale.Items[1], alice, now)
	reused.IdempotencyKey = o.IdempotencyKey
	tt.wantCode("order with a reused key", tt.store.CreateOrder(tt.Context(), reused), flashsale.EIdempotencyKeyReused)
	unknownItem := newOrder(item, alice, now)
	unknownItem.ItemID = newID()
	tt.wantCode("order of an unknown item", tt.store.CreateOrder(tt.Context(), unknownItem), flashsale.EItemNotFound)
	cancelled, cancel := context.WithCancel(tt.Context())
	cancel()
	if err := tt.store.CreateOrder(cancelled, newOrder(item, alice, now)); err == nil {
		tt.Fatalf("create order with a cancelled context succeeded")
	}
	tt.wantRefused(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderPaying, To: flashsale.OrderConfirmed, At: now.Add(time.Minute),
	}, o)
	tt.wantRefused(flashsale.Transition{
		OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderExpired,
		At: now.Add(time.Minute), Deadline: flashsale.AfterDeadline,
	}, o)

	reserved := flashsale.NewNotification(flashsale.EventOrderReserved, o, now)
	reserved.ItemName = item.Name
	tt.wantNotifications(alice, reserved)
}

// A claim leases the due deliveries of one channel, oldest first, so that
// no other claim gets them; a delivery not marked by the end of its lease
// is claimed again, as the next attempt.
func testOutboxClaimAndLease(tt *tester) {
	sale := tt.createSale()
	email, webhook := tt.channels[0], tt.channels[1]
	var ids []string
	for i := range 3 {
		// Written newest first: claims go by when a delivery came due,
		// not by when it was written.
		u := user(i)
		tt.createOrder(&sale.Items[0], u, now.Add(time.Duration(3-i)*time.Second))
		ids = append(ids, tt.notificationsOf(u)[0].ID)
	}
	slices.Reverse(ids)

	lease := time.Minute
	at := now.Add(time.Hour)
	none := tt.claim(email, now, lease, 10) // nothing is due before it happened
	if len(none) != 0 {
		tt.Fatalf("claimed %d deliveries before they were due", len(none))
	}
	first := tt.claim(email, at, lease, 2)
	tt.wantClaimed("first claim", first, email, 1, ids[0], ids[1])
	rest := tt.claim(email, at, lease, 10)
	tt.wantClaimed("second claim", rest, email, 1, ids[2])
	tt.wantClaimed("claim while leased", tt.claim(email, at.Add(lease-time.Microsecond), lease, 10), email, 1)
	tt.wantClaimed("other channel", tt.claim(webhook, at, lease, 10), webhook, 1, ids...)

	// ids[0] is delivered; ids[1] and ids[2] were claimed by a dispatcher
	// that died.
	tt.markDelivered(email, at.Add(time.Second), ids[0])
	tt.markDelivered(email, at.Add(2*time.Second), ids[0]) // again: no change
	tt.wantDeliveries(ids[0],
		flashsale.DeliveryState{Channel: email, Attempts: 1, DeliveredAt: stored(at.Add(time.Second))},
		flashsale.DeliveryState{Channel: webhook, Attempts: 1, NextAttemptAt: stored(at.Add(lease))})
	again := tt.claim(email, at.Add(lease), lease, 10)
	// Both came due at the lease's end: either may come first.
	slices.SortFunc(again, func(a, b flashsale.Delivery) int { return cmp.Compare(a.Notification.ID, b.Notification.ID) })
	tt.wantClaimed("claim after the lease", again, email, 2, slices.Sorted(slices.Values(ids[1:]))...)
	tt.markDelivered(email, at.Add(lease+time.Second), ids[1], ids[2])
	tt.wantClaimed("claim when all are delivered", tt.claim(email, at.Add(24*time.Hour), lease, 10), email, 0)
}

// A failed attempt is retried at the time given, carrying its error; a
// stale dispatcher's result is ignored; a delivery given up is never
// claimed again.
func testOutboxFailedAttempts(tt *tester) {
	sale := tt.createSale()
	email := tt.channels[0]
	alice := user(1)
	tt.createOrder(&sale.Items[0], alice, now)
	id := tt.notificationsOf(alice)[0].ID
	lease := time.Minute

	d := tt.claim(email, now, lease, 10)
	tt.wantClaimed("first attempt", d, email, 1, id)
	retryAt := now.Add(5 * time.Second)
	tt.recordFailure(flashsale.FailedDelivery{Channel: email, NotificationID: id, Attempt: 1, Error: "connection refused", RetryAt: retryAt})
	tt.wantDeliveries(id,
		flashsale.DeliveryState{Channel: email, Attempts: 1, NextAttemptAt: stored(retryAt), LastError: "connection refused"},
		flashsale.DeliveryState{Channel: tt.channels[1], NextAttemptAt: stored(now)})
	tt.wantClaimed("before the retry", tt.claim(email, retryAt.Add(-time.Microsecond), lease, 10), email, 0)
	d = tt.claim(email, retryAt, lease, 10)
	tt.wantClaimed("retry", d, email, 2, id)
	if d[0].LastError != "connection refused" {
		tt.Fatalf("the retry carries last error %q, want the first attempt's", d[0].LastError)
	}

	// The first attempt's dispatcher reports late: ignored.
	tt.recordFailure(flashsale.FailedDelivery{Channel: email, NotificationID: id, Attempt: 1, Error: "stale", RetryAt: retryAt})
	tt.wantClaimed("claim while the retry is leased", tt.claim(email, retryAt.Add(time.Second), lease, 10), email, 0)

	tt.recordFailure(flashsale.FailedDelivery{Channel: email, NotificationID: id, Attempt: 2, Error: "550 no such user"})
	tt.wantDeliveries(id,
		flashsale.DeliveryState{Channel: email, Attempts: 2, LastError: "550 no such user"},
		flashsale.DeliveryState{Channel: tt.channels[1], NextAttemptAt: stored(now)})
	tt.wantClaimed("claim of a delivery given up", tt.claim(email, now.Add(24*time.Hour), lease, 10), email, 0)

	// A failure reported for a delivery that is done changes nothing.
	tt.markDelivered(tt.channels[1], now, id)
	tt.recordFailure(flashsale.FailedDelivery{Channel: tt.channels[1], NotificationID: id, Attempt: 0, Error: "late", RetryAt: now})
	tt.wantDeliveries(id,
		flashsale.DeliveryState{Channel: email, Attempts: 2, LastError: "550 no such user"},
		flashsale.DeliveryState{Channel: tt.channels[1], DeliveredAt: stored(now)})
}

// Concurrent claims of one channel never hand out a delivery twice.
func testOutboxConcurrentClaims(tt *tester) {
	const orders, claimers = 60, 6
	sale := tt.createSale()
	email := tt.channels[0]
	for i := range orders {
		tt.createOrder(&sale.Items[i%len(sale.Items)], user(i), now)
	}
	var (
		mu      sync.Mutex
		claimed = make(map[string]int)
		wg      sync.WaitGroup
		failed  = make(chan error, claimers)
	)
	for range claimers {
		wg.Go(func() {
			for {
				batch, err := tt.outbox.ClaimDeliveries(tt.Context(), email, now, time.Hour, 7)
				if err != nil {
					failed <- err
					return
				}
				if len(batch) == 0 {
					return
				}
				mu.Lock()
				for _, d := range batch {
					claimed[d.Notification.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(failed)
	for err := range failed {
		tt.Fatalf("claim: %v", err)
	}
	if len(claimed) != orders {
		tt.Fatalf("claimed %d distinct deliveries, want %d", len(claimed), orders)
	}
	for id, n := range claimed {
		if n != 1 {
			tt.Fatalf("notification %s was claimed %d times under one lease", id, n)
		}
	}
}

// A reader resumes after the last notification it got and gets exactly
// the ones that followed; another user's notifications never appear, and
// another user's notification id is no place to resume from.
func testOutboxResume(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]
	alice, bob := user(1), user(2)
	for i := range 3 {
		at := now.Add(time.Duration(i) * time.Minute)
		tt.createOrder(item, alice, at)
		o := tt.createOrder(item, bob, at)
		tt.transition(flashsale.Transition{OrderID: o.ID, From: flashsale.OrderReserved, To: flashsale.OrderCancelled, At: at})
	}
	all := tt.notificationsOf(alice)
	if len(all) != 3 {
		tt.Fatalf("alice has %d notifications, want 3", len(all))
	}
	page := tt.notificationsAfter(alice, "", 2)
	tt.wantIDs("first page", page, all[0].ID, all[1].ID)
	tt.wantIDs("after the first page", tt.notificationsAfter(alice, page[1].ID, 10), all[2].ID)
	tt.wantIDs("after the last", tt.notificationsAfter(alice, all[2].ID, 10))

	// New events after a reader's last one are what it resumes with.
	tt.createOrder(item, alice, now.Add(time.Hour))
	later := tt.notificationsAfter(alice, all[2].ID, 10)
	if len(later) != 1 || later[0].UserID != alice {
		tt.Fatalf("after the last: got %d notifications, want alice's new one", len(later))
	}

	bobs := tt.notificationsOf(bob)
	if len(bobs) != 6 {
		tt.Fatalf("bob has %d notifications, want 6", len(bobs))
	}
	for _, id := range []string{bobs[0].ID, newID(), "not-an-id"} {
		if _, err := tt.outbox.NotificationsAfter(tt.Context(), alice, id, 10); !errors.Is(err, flashsale.ErrUnknownNotification) {
			tt.Fatalf("alice's notifications after %q: err = %v, want ErrUnknownNotification", id, err)
		}
	}
}

// Notifications and their delivery state are durable: a claim whose
// dispatcher went down with the store is claimed again after a restart,
// once its lease has ended.
func testOutboxSurvivesReopen(tt *tester) {
	sale := tt.createSale()
	alice := user(1)
	tt.createOrder(&sale.Items[0], alice, now)
	id := tt.notificationsOf(alice)[0].ID
	tt.wantClaimed("before the restart", tt.claim(tt.channels[0], now, time.Minute, 10), tt.channels[0], 1, id)
	if err := tt.store.Close(); err != nil {
		tt.Fatalf("close: %v", err)
	}

	reopened := tt.harness.Reopen(tt.T, tt.store)
	tt.Cleanup(func() {
		if err := reopened.Close(); err != nil {
			tt.Errorf("close: %v", err)
		}
	})
	tt.store, tt.outbox = reopened, reopened.(flashsale.Outbox)
	tt.wantIDs("after the restart", tt.notificationsOf(alice), id)
	tt.wantClaimed("within the lease", tt.claim(tt.channels[0], now.Add(time.Second), time.Minute, 10), tt.channels[0], 0)
	tt.wantClaimed("after the lease", tt.claim(tt.channels[0], now.Add(time.Minute), time.Minute, 10), tt.channels[0], 2, id)
}

func (tt *tester) claim(channel string, at time.Time, lease time.Duration, limit int) []flashsale.Delivery {
	tt.Helper()
	d, err := tt.outbox.ClaimDeliveries(tt.Context(), channel, at, lease, limit)
	if err != nil {
		tt.Fatalf("claim deliveries of %s: %v", channel, err)
	}
	return d
}

// wantClaimed checks that a claim got the notifications ids, in that
// order, of channel, each at the attempt given.
func (tt *tester) wantClaimed(what string, got []flashsale.Delivery, channel string, attempt int, ids ...string) {
	tt.Helper()
	gotIDs := make([]string, len(got))
	for i, d := range got {
		gotIDs[i] = d.Notification.ID
		if d.Channel != channel || d.Attempt != attempt {
			tt.Fatalf("%s: delivery of %s on %q at attempt %d, want %q at attempt %d",
				what, d.Notification.ID, d.Channel, d.Attempt, channel, attempt)
		}
	}
	if !slices.Equal(gotIDs, ids) {
		tt.Fatalf("%s: claimed %v, want %v", what, gotIDs, ids)
	}
}

func (tt *tester) markDelivered(channel string, at time.Time, ids ...string) {
	tt.Helper()
	if err := tt.outbox.MarkDelivered(tt.Context(), channel, at, ids...); err != nil {
		tt.Fatalf("mark delivered: %v", err)
	}
}

func (tt *tester) recordFailure(f flashsale.FailedDelivery) {
	tt.Helper()
	if err := tt.outbox.RecordFailedDelivery(tt.Context(), f); err != nil {
		tt.Fatalf("record failed delivery: %v", err)
	}
}

// wantDeliveries checks a notification's delivery state on every channel,
// given in the order of the channels' names.
func (tt *tester) wantDeliveries(id string, want ...flashsale.DeliveryState) {
	tt.Helper()
	got, err := tt.outbox.Deliveries(tt.Context(), id)
	if err != nil {
		tt.Fatalf("deliveries of %s: %v", id, err)
	}
	want = slices.Clone(want)
	slices.SortFunc(want, func(a, b flashsale.DeliveryState) int { return cmp.Compare(a.Channel, b.Channel) })
	for _, d := range got {
		tt.wantUTC("delivery", d.NextAttemptAt, d.DeliveredAt)
	}
	if !reflect.DeepEqual(got, want) {
		tt.Fatalf("deliveries of %s\n got %+v\nwant %+v", id, got, want)
	}
}

func (tt *tester) notificationsAfter(userID, afterID string, limit int) []flashsale.Notification {
	tt.Helper()
	n, err := tt.outbox.NotificationsAfter(tt.Context(), userID, afterID, limit)
	if err != nil {
		tt.Fatalf("notifications of %s after %q: %v", userID, afterID, err)
	}
	return n
}

// notificationsOf returns every notification of a user.
func (tt *tester) notificationsOf(userID string) []flashsale.Notification {
	tt.Helper()
	return tt.notificationsAfter(userID, "", 1000)
}

// wantNotifications checks that the user's notifications are want, in
// order, apart from the ids the store gave them, which must be distinct
// UUIDv7s; it returns them.
func (tt *tester) wantNotifications(userID string, want ...flashsale.Notification) []flashsale.Notification {
	tt.Helper()
	got := tt.notificationsOf(userID)
	if len(got) != len(want) {
		tt.Fatalf("user has %d notifications, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	seen := make(map[string]bool)
	for i, g := range got {
		id, err := uuid.Parse(g.ID)
		if err != nil || id.Version() != 7 || id.Variant() != uuid.RFC4122 || id.String() != g.ID {
			tt.Fatalf("notification id %q is not a UUIDv7 in canonical form", g.ID)
		}
		// A UUIDv7 carries the time it was made, during the scenario.
		if made := time.Unix(id.Time().UnixTime()); time.Since(made) > time.Hour || time.Until(made) > time.Minute {
			tt.Fatalf("notification id %s was made at %s", g.ID, made)
		}
		if seen[g.ID] {
			tt.Fatalf("notification id %s is given twice", g.ID)
		}
		seen[g.ID] = true
		tt.wantUTC("notification", g.ExpiresAt, g.OccurredAt)
		w := want[i]
		w.ID = g.ID
		w.ExpiresAt, w.OccurredAt = stored(w.ExpiresAt), stored(w.OccurredAt)
		if !reflect.DeepEqual(g, w) {
			tt.Fatalf("notification %d\n got %+v\nwant %+v", i, g, w)
		}
	}
	return got
}

func (tt *tester) wantIDs(what string, got []flashsale.Notification, want ...string) {
	tt.Helper()
	ids := make([]string, len(got))
	for i, n := range got {
		ids[i] = n.ID
	}
	if !slices.Equal(ids, want) {
		tt.Fatalf("%s: got notifications %v, want %v", what, ids, want)
	}
}

// A notification no order change carries (a refused queued request) is
// owed to every channel, read in the user's stream in its place, and
// recorded once however often it is added.
func testOutboxRequestNotifications(tt *tester) {
	sale := tt.createSale()
	item := &sale.Items[0]
	alice := user(1)
	tt.createOrder(item, alice, now)
	refused := flashsale.Notification{
		ID: newID(), Event: flashsale.EventRequestRefused, UserID: alice, RequestID: newID(),
		SaleID: sale.ID, ItemID: item.ID, Quantity: 1, Reason: flashsale.ESoldOut, OccurredAt: now.Add(time.Second),
	}
	for range 2 {
		if err := tt.outbox.AddNotification(tt.Context(), refused); err != nil {
			tt.Fatalf("add notification: %v", err)
		}
	}
	// The same request under another notification id is still one.
	again := refused
	again.ID = newID()
	if err := tt.outbox.AddNotification(tt.Context(), again); err != nil {
		tt.Fatalf("add notification again: %v", err)
	}
	all := tt.notificationsOf(alice)
	if len(all) != 2 {
		tt.Fatalf("alice has %d notifications, want her order's and the refusal", len(all))
	}
	got := all[1]
	if got.ID != refused.ID || got.Event != flashsale.EventRequestRefused || got.RequestID != refused.RequestID ||
		got.OrderID != "" || got.Reason != flashsale.ESoldOut || got.ItemName != item.Name || got.Quantity != 1 ||
		!got.OccurredAt.Equal(refused.OccurredAt.Truncate(time.Microsecond)) {
		tt.Fatalf("the refusal reads back as %+v, want %+v with the item's name", got, refused)
	}
	if all[0].RequestID != "" {
		tt.Fatalf("an order's notification has request id %q", all[0].RequestID)
	}
	for _, channel := range tt.channels {
		tt.wantClaimed("on "+channel, tt.claim(channel, now.Add(time.Minute), time.Minute, 10), channel, 1, all[0].ID, refused.ID)
	}
	if err := tt.outbox.AddNotification(tt.Context(), flashsale.Notification{ID: newID(), UserID: alice}); err == nil {
		tt.Fatal("a notification with neither order nor request was added")
	}
}
