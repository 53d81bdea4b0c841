package storetest

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
)

// entryNotification is the notification of event about entry e of d's
// item at at, without an order.
func (d *drawnItem) entryNotification(event flashsale.NotificationEvent, e *flashsale.Entry, at time.Time) flashsale.Notification {
	return flashsale.Notification{Event: event, UserID: e.UserID, EntryID: e.ID, SaleID: d.sale.ID, ItemID: d.item.ID,
		ItemName: d.item.Name, OccurredAt: at}
}

// wonNotification is the lottery.won of entry e, awarded o at at.
func (d *drawnItem) wonNotification(e *flashsale.Entry, o *flashsale.Order, at time.Time) flashsale.Notification {
	n := flashsale.NewNotification(flashsale.EventLotteryWon, o, at)
	n.EntryID, n.ItemName = e.ID, d.item.Name
	return n
}

// reservedNotification is the order.reserved of o, a reservation of d's
// item.
func (d *drawnItem) reservedNotification(o *flashsale.Order) flashsale.Notification {
	n := flashsale.NewNotification(flashsale.EventOrderReserved, o, o.ReservedAt)
	n.ItemName = d.item.Name
	return n
}

// award reserves a unit of d's item for entry e and awards it at at.
func (tt *tester) award(es flashsale.EntryStore, d *drawnItem, e *flashsale.Entry, at time.Time) *flashsale.Order {
	tt.Helper()
	o := tt.createOrder(d.item, e.UserID, at.Add(-time.Second))
	if err := es.Award(tt.Context(), e.ID, o.ID, at); err != nil {
		tt.Fatalf("award entry %s: %v", e.ID, err)
	}
	return o
}

// wantOwed checks that the notification is owed to every channel of the
// scenario, due at at, not attempted yet.
func (tt *tester) wantOwed(n flashsale.Notification, at time.Time) {
	tt.Helper()
	var states []flashsale.DeliveryState
	for _, channel := range tt.channels {
		states = append(states, flashsale.DeliveryState{Channel: channel, NextAttemptAt: stored(at)})
	}
	tt.wantDeliveries(n.ID, states...)
}

// The draw writes a lottery.waitlisted of each waitlisted entry, its place
// on the waitlist from 1, owed to every channel at the draw's time, and
// none for the winners; a second draw of the item writes nothing.
func testOutboxLotteryWaitlisted(tt *tester) {
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 7, 3)
	late := tt.enter(es, d.item, user(100), now) // not in the order: undrawn, told nothing
	tt.record(es, d, d.orderIDs())

	var waitlisted []string
	for i, e := range d.order {
		if i < d.winners {
			tt.wantNotifications(e.UserID)
			continue
		}
		want := d.entryNotification(flashsale.EventLotteryWaitlisted, e, d.draw.DrawnAt)
		want.Rank = int64(i + 1 - d.winners)
		n := tt.wantNotifications(e.UserID, want)[0]
		tt.wantOwed(n, d.draw.DrawnAt)
		waitlisted = append(waitlisted, n.ID)
	}
	tt.wantNotifications(late.UserID)
	// Each owed once on every channel; in waitlist order within a step
	// only (see RecordDraw), so compared as sets.
	slices.Sort(waitlisted)
	for _, channel := range tt.channels {
		claimed := tt.claim(channel, now.Add(2*time.Hour), time.Minute, 100)
		slices.SortFunc(claimed, func(a, b flashsale.Delivery) int { return strings.Compare(a.Notification.ID, b.Notification.ID) })
		tt.wantClaimed("on "+channel, claimed, channel, 1, waitlisted...)
	}

	again := *d
	again.draw.DrawnAt, again.winners = now.Add(2*time.Hour), 1
	reversed := d.orderIDs()
	slices.Reverse(reversed)
	tt.record(es, &again, reversed)
	for i, e := range d.order {
		if got := tt.notificationsOf(e.UserID); len(got) != min(i/d.winners, 1) {
			tt.Fatalf("after a second draw, the entry drawn %d has %d notifications: %+v", i+1, len(got), got)
		}
	}
}

// An award writes the entry's lottery.won, with the order as it is, owed
// to every channel at the award's time, once; a waitlisted entry awarded
// has heard of its place before.
func testOutboxLotteryWon(tt *tester) {
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 4, 1)
	tt.record(es, d, d.orderIDs())
	winner, next := d.order[0], d.order[1]

	at := now.Add(2 * time.Hour)
	o := tt.award(es, d, winner, at)
	got := tt.wantNotifications(winner.UserID, d.reservedNotification(o), d.wonNotification(winner, o, at))
	tt.wantOwed(got[1], at)
	if got[1].OrderID != o.ID || got[1].Status != flashsale.OrderReserved || got[1].Amount != o.TotalAmount() {
		tt.Fatalf("lottery.won %+v does not carry order %+v", got[1], o)
	}
	// A retry, with the same order or another, tells nothing more.
	for _, orderID := range []string{o.ID, tt.createOrder(d.item, winner.UserID, at).ID} {
		if err := es.Award(tt.Context(), winner.ID, orderID, at.Add(time.Minute)); !errors.Is(err, flashsale.ErrAlreadyAwarded) {
			tt.Fatalf("second award: %v, want ErrAlreadyAwarded", err)
		}
	}
	if n := tt.notificationsOf(winner.UserID); len(n) != 3 || n[1].ID != got[1].ID || n[2].Event != flashsale.EventOrderReserved {
		tt.Fatalf("after a second award the winner has %+v; want the first award's lottery.won alone", n)
	}

	// The first on the waitlist, reached when a unit came back.
	later := at.Add(time.Hour)
	promoted := tt.award(es, d, next, later)
	waitlisted := d.entryNotification(flashsale.EventLotteryWaitlisted, next, d.draw.DrawnAt)
	waitlisted.Rank = 1
	got = tt.wantNotifications(next.UserID, waitlisted, d.reservedNotification(promoted), d.wonNotification(next, promoted, later))
	tt.wantOwed(got[2], later)
}

// Losing the waitlist writes a lottery.lost of each entry it changes,
// owed to every channel at its time, and nothing the second time; the
// winners and the waitlisted entry awarded before hear nothing of it.
func testOutboxLotteryLost(tt *tester) {
	es := tt.entryStore()
	d := tt.createDrawnItem(es, 5, 2)
	tt.record(es, d, d.orderIDs())
	awardedAt := now.Add(2 * time.Hour)
	o := tt.award(es, d, d.order[2], awardedAt)

	at := now.Add(3 * time.Hour)
	if n, err := es.LoseWaitlisted(tt.Context(), d.item.ID, at); err != nil || n != 2 {
		tt.Fatalf("lose the waitlist: %d, %v; want 2", n, err)
	}
	if n, err := es.LoseWaitlisted(tt.Context(), d.item.ID, at.Add(time.Minute)); err != nil || n != 0 {
		tt.Fatalf("lose the waitlist again: %d, %v; want 0", n, err)
	}
	tt.wantNotifications(d.order[0].UserID)
	tt.wantNotifications(d.order[1].UserID)
	waitlisted := d.entryNotification(flashsale.EventLotteryWaitlisted, d.order[2], d.draw.DrawnAt)
	waitlisted.Rank = 1
	tt.wantNotifications(d.order[2].UserID, waitlisted, d.reservedNotification(o), d.wonNotification(d.order[2], o, awardedAt))
	for place, e := range d.order[3:] {
		waitlisted := d.entryNotification(flashsale.EventLotteryWaitlisted, e, d.draw.DrawnAt)
		waitlisted.Rank = int64(place + 2)
		got := tt.wantNotifications(e.UserID, waitlisted, d.entryNotification(flashsale.EventLotteryLost, e, at))
		tt.wantOwed(got[1], at)
	}
}
