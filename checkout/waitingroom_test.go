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
	cfg, clock := lineConfig(t)
	svc, err := checkout.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sale, err := svc.CreateSale(context.Background(), newLineSale(room, nil))
	if err != nil {
		t.Fatal(err)
	}
	return svc, sale, clock
}

// lineStart is when newLineSale's sales start.
var lineStart = time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)

// lineConfig is a service's configuration over the embedded adapters with
// a hand-moved clock a minute before lineStart.
func lineConfig(t testing.TB) (checkout.Config, *testclock.Clock) {
	t.Helper()
	clock := testclock.New(lineStart.Add(-time.Minute))
	store, err := sqlite.Open(context.Background(), t.TempDir()+"/db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return checkout.Config{Inventory: memory.NewInventory(), Store: store, Payments: paysim.New(paysim.Options{}),
		Now: clock.Now, WaitingRoom: memory.NewWaitingRoom(), Admissions: auth.NewAdmissionSigner([]byte("secret"))}, clock
}

// newLineSale is a sale of 100 units from lineStart, for an hour, behind
// a waiting room of the given settings, with the given purchase limits.
func newLineSale(room flashsale.WaitingRoomConfig, limits *flashsale.PurchaseLimits) *flashsale.Sale {
	return &flashsale.Sale{Name: "s", StartTime: lineStart, EndTime: lineStart.Add(time.Hour), WaitingRoom: &room, Limits: limits,
		Items: []flashsale.Item{{ProductID: "p", Name: "n", OriginalPrice: 200, SalePrice: 100, Currency: "USD", TotalQuantity: 100, PerUserLimit: 1}}}
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

// failingLedger is a OnceLedger that cannot be reached.
type failingLedger struct{ flashsale.OnceLedger }

func (failingLedger) Claim(context.Context, string, string, time.Duration) (string, error) {
	return "", &flashsale.Error{Code: flashsale.EUnavailable, Message: "the ledger cannot be reached"}
}

// A line that counts cards gives a card one place: the join names its
// card, the first account to join with it holds the place, another
// account of the card is refused for it and gets no place, and the holder
// joins again. A deployment without a ledger takes no such sale; a ledger
// that does not answer lets nobody in.
func TestLineCountsTheCard(t *testing.T) {
	ctx := context.Background()
	cfg, _ := lineConfig(t)
	ledger := flashsale.OnceLedger(memory.NewOnceLedger())
	payments := paysim.New(paysim.Options{})
	cfg.Payments = payments
	room := flashsale.DefaultWaitingRoom()
	room.AdmitPerMinute = 600
	newSale := func() *flashsale.Sale { return newLineSale(room, &flashsale.PurchaseLimits{PerCard: 1}) }

	without, err := checkout.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := without.CreateSale(ctx, newSale()); !flashsale.IsCode(err, flashsale.EInvalidRequest) || err.(*flashsale.Error).Field != "limits.per_card" {
		t.Fatalf("a line counting cards without a ledger: %v, want invalid_request at limits.per_card", err)
	}

	cfg.Once = ledger
	svc, err := checkout.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sale, err := svc.CreateSale(ctx, newSale())
	if err != nil {
		t.Fatal(err)
	}
	join := func(user, card string) (checkout.QueueTicket, bool, error) {
		return svc.JoinQueue(ctx, checkout.QueueJoin{SaleID: sale.ID, UserID: user, PaymentToken: card})
	}
	for _, card := range []string{"", "tok_nothing"} {
		if _, _, err := join("alice", card); !flashsale.IsCode(err, flashsale.EInvalidRequest) || err.(*flashsale.Error).Field != "payment_token" {
			t.Fatalf("a join with payment_token %q: %v, want invalid_request at payment_token", card, err)
		}
	}
	first, created, err := join("alice", "tok_visa_farm")
	if err != nil || !created {
		t.Fatalf("alice's join: %v, created %v", err, created)
	}
	_, _, err = join("bob", "tok_visa_farm")
	want := flashsale.CardClaimed(1)
	if e, ok := err.(*flashsale.Error); !ok || e.Code != want.Code || e.Reason != want.Reason || e.Message != want.Message {
		t.Fatalf("bob with alice's card: %v, want %v", err, want)
	}
	if _, err := svc.QueueTicket(ctx, sale.ID, "bob"); !flashsale.IsCode(err, flashsale.ETicketNotFound) {
		t.Fatalf("bob's ticket after the refusal: %v, want ticket_not_found", err)
	}
	for _, card := range []string{"tok_visa_farm", "tok_visa_other"} {
		again, created, err := join("alice", card)
		if err != nil || created || again.ID != first.ID {
			t.Fatalf("alice again with %s: %+v, created %v, %v; want ticket %s", card, again, created, err, first.ID)
		}
	}
	if _, created, err := join("bob", "tok_visa_bob"); err != nil || !created {
		t.Fatalf("bob with his own card: %v, created %v", err, created)
	}
	if charges := payments.Charges(); charges != 0 {
		t.Errorf("%d charges at join, want none", charges)
	}

	cfg.Once = failingLedger{ledger}
	down, err := checkout.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := down.JoinQueue(ctx, checkout.QueueJoin{SaleID: sale.ID, UserID: "carol", PaymentToken: "tok_visa_carol"}); !flashsale.IsCode(err, flashsale.EUnavailable) {
		t.Fatalf("a join while the ledger is down: %v, want unavailable", err)
	}
	if _, err := svc.QueueTicket(ctx, sale.ID, "carol"); !flashsale.IsCode(err, flashsale.ETicketNotFound) {
		t.Fatalf("carol's ticket after the ledger failed: %v, want ticket_not_found", err)
	}
}
