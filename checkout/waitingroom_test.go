package checkout_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/auth"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/sqlite"
)

// lineSale is a service over the embedded adapters with a hand-moved clock
// a minute before the start of its one sale: 100 units behind a waiting
// room of the given settings.
func lineSale(t testing.TB, room flashsale.WaitingRoomConfig) (*checkout.Service, *flashsale.Sale, *testclock.Clock) {
	t.Helper()
	ctx := context.Background()
	start := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := testclock.New(start.Add(-time.Minute))
	store, err := sqlite.Open(ctx, t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc, err := checkout.New(checkout.Config{Inventory: memory.NewInventory(), Store: store, Payments: paysim.New(paysim.Options{}),
		Now: clock.Now, WaitingRoom: memory.NewWaitingRoom(), Admissions: auth.NewAdmissionSigner([]byte("secret"))})
	if err != nil {
		t.Fatal(err)
	}
	sale, err := svc.CreateSale(ctx, &flashsale.Sale{Name: "s", StartTime: start, EndTime: start.Add(time.Hour), WaitingRoom: &room,
		Items: []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: 100, PerUserLimit: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	return svc, sale, clock
}

// A waiting shopper's wait is estimated from the admissions the line
// measures, not only from its set rate: a line whose cap holds admissions
// back says so.
func TestEstimatedWaitFollowsTheMeasuredAdmissions(t *testing.T) {
	ctx := context.Background()
	room := flashsale.DefaultWaitingRoom()
	room.AdmitPerMinute, room.MaxActive = 600, 2
	svc, sale, clock := lineSale(t, room)
	for i := range 12 {
		if _, _, err := svc.JoinQueue(ctx, checkout.QueueJoin{SaleID: sale.ID, UserID: fmt.Sprintf("user-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	// The last of the pre-queue's draw stays waiting throughout.
	var last string
	for i := range 12 {
		ticket, err := svc.QueueTicket(ctx, sale.ID, fmt.Sprintf("user-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if ticket.Position == 12 {
			last = ticket.UserID
		}
	}
	wait := func() time.Duration {
		ticket, err := svc.QueueTicket(ctx, sale.ID, last)
		if err != nil {
			t.Fatal(err)
		}
		if ticket.Status != flashsale.TicketWaiting {
			t.Fatalf("%s's ticket: %+v, want waiting", last, ticket)
		}
		return ticket.EstimatedWait
	}
	atSetRate := wait()
	// Ten seconds in which the cap of two lets nobody else in: everyone
	// stays and polls, no one reserves.
	for range 10 {
		clock.Advance(time.Second)
		if err := svc.TickWaitingRooms(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range 12 {
			if _, err := svc.QueueTicket(ctx, sale.ID, fmt.Sprintf("user-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if held := wait(); held <= 2*atSetRate {
		t.Fatalf("estimated wait %s while the cap holds admissions back, %s at the set rate: want it to grow", held, atSetRate)
	}
}

// In random order a shopper's position says nothing of the wait: every
// waiting shopper is told the same, half the line at the rate; and an
// admitted shopper is told to come back well inside the abandonment time.
func TestRandomOrderEstimatesHalfTheLine(t *testing.T) {
	ctx := context.Background()
	room := flashsale.DefaultWaitingRoom()
	room.AdmitPerMinute, room.Order, room.PreQueue, room.Abandon = 60, flashsale.QueueRandom, 0, flashsale.MinAbandon
	svc, sale, clock := lineSale(t, room)
	clock.Advance(time.Minute)
	for i := range 21 {
		if _, _, err := svc.JoinQueue(ctx, checkout.QueueJoin{SaleID: sale.ID, UserID: fmt.Sprintf("user-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Second) // the line's figures are read again
	for _, user := range []string{"user-0", "user-20"} {
		ticket, err := svc.QueueTicket(ctx, sale.ID, user)
		if err != nil {
			t.Fatal(err)
		}
		if ticket.EstimatedWait != 11*time.Second {
			t.Errorf("%s at position %d: estimated %s, want 11s (half of 21 waiting, at one a second)", user, ticket.Position, ticket.EstimatedWait)
		}
	}
	if err := svc.TickWaitingRooms(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 21 {
		ticket, err := svc.QueueTicket(ctx, sale.ID, fmt.Sprintf("user-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if ticket.Status == flashsale.TicketAdmitted && ticket.PollAfter >= room.Abandon/2 {
			t.Fatalf("an admitted shopper is told to poll after %s, with places dropped after %s unseen", ticket.PollAfter, room.Abandon)
		}
	}
}
