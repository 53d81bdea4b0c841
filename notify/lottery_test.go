package notify_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/notify"
)

// lotteryNotification is a lottery event of alice's entry of Phone X.
func lotteryNotification(event flashsale.NotificationEvent) flashsale.Notification {
	n := flashsale.Notification{
		ID: "0190aaaa-0000-7000-8000-0000000000a1", Event: event, UserID: "alice@example.com", EntryID: "entry-1",
		SaleID: "sale-1", ItemID: "item-1", ItemName: "Phone X", OccurredAt: start,
	}
	switch event {
	case flashsale.EventLotteryWon:
		n.OrderID, n.Quantity, n.Amount, n.Currency, n.Status = "order-1", 1, 49_900, "USD", flashsale.OrderReserved
		n.ExpiresAt = start.Add(10 * time.Minute)
	case flashsale.EventLotteryWaitlisted:
		n.Rank = 3
	}
	return n
}

// A lottery event carries its entry, with the waitlist place of a
// waitlisted one and the order of a won one; only lottery.won carries an
// order, as order events do, and none a request.
func TestLotteryEvents(t *testing.T) {
	for event, want := range map[flashsale.NotificationEvent]string{
		flashsale.EventLotteryWon: `{"id":"0190aaaa-0000-7000-8000-0000000000a1","type":"lottery.won","created_at":"2026-06-01T12:00:00Z",` +
			`"order":{"order_id":"order-1","user_id":"alice@example.com","sale_id":"sale-1","item_id":"item-1","item_name":"Phone X",` +
			`"quantity":1,"status":"reserved","total_amount":"499.00","currency":"USD","reservation_expires_at":"2026-06-01T12:10:00Z"},` +
			`"entry":{"entry_id":"entry-1","sale_id":"sale-1","item_id":"item-1","item_name":"Phone X","status":"won","order_id":"order-1"}}`,
		flashsale.EventLotteryWaitlisted: `{"id":"0190aaaa-0000-7000-8000-0000000000a1","type":"lottery.waitlisted","created_at":"2026-06-01T12:00:00Z",` +
			`"entry":{"entry_id":"entry-1","sale_id":"sale-1","item_id":"item-1","item_name":"Phone X","status":"waitlisted","rank":3}}`,
		flashsale.EventLotteryLost: `{"id":"0190aaaa-0000-7000-8000-0000000000a1","type":"lottery.lost","created_at":"2026-06-01T12:00:00Z",` +
			`"entry":{"entry_id":"entry-1","sale_id":"sale-1","item_id":"item-1","item_name":"Phone X","status":"lost"}}`,
	} {
		got, err := notify.MarshalEvent(lotteryNotification(event))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s:\n got %s\nwant %s", event, got, want)
		}
	}
}

// Each lottery event has a message that says what became of the entry and
// what to do next, by email and in the log, which names the entry.
func TestLotteryMessages(t *testing.T) {
	server := startMailServer(t, false)
	email, err := notify.NewEmail(notify.EmailConfig{URL: "smtp://shop:secret@" + server.addr + "?from=shop@example.com&tls=none"})
	if err != nil {
		t.Fatal(err)
	}
	for event, want := range map[flashsale.NotificationEvent]struct {
		subject string
		phrases []string
	}{
		flashsale.EventLotteryWon: {"You won Phone X: pay by 2026-06-01 12:10 UTC",
			[]string{"has won", "Order:   order-1", "Amount:  499.00 USD", "What to do next: pay for the order before 2026-06-01 12:10 UTC"}},
		flashsale.EventLotteryWaitlisted: {"On the waitlist for Phone X: number 3",
			[]string{"not among the\nwinners", "number 3 on the waitlist", "What to do next: nothing for now"}},
		flashsale.EventLotteryLost: {"Not this time: Phone X",
			[]string{"still on the\nwaitlist", "Nothing was reserved and nothing was charged"}},
	} {
		n := lotteryNotification(event)
		if err := email.Deliver(t.Context(), n); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		mails := server.mails()
		msg, err := mail.ReadMessage(bytes.NewReader(mails[len(mails)-1].data))
		if err != nil {
			t.Fatal(err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatal(err)
		}
		body := strings.ReplaceAll(string(raw), "\r\n", "\n")
		if subject != want.subject {
			t.Errorf("%s: subject %q, want %q", event, subject, want.subject)
		}
		for _, phrase := range append(want.phrases, "Entry:", "entry-1", n.ID) {
			if !strings.Contains(body, phrase) {
				t.Errorf("%s: the message lacks %q:\n%s", event, phrase, body)
			}
		}
		if strings.Contains(body, "<no value>") || strings.Contains(body, "0001-01-01") {
			t.Errorf("%s: the message shows a field the event has not:\n%s", event, body)
		}

		var out bytes.Buffer
		if err := notify.NewLog(slog.New(slog.NewTextHandler(&out, nil))).Deliver(t.Context(), n); err != nil {
			t.Fatal(err)
		}
		line := out.String()
		if !strings.Contains(line, want.subject) || !strings.Contains(line, "entry_id=entry-1") ||
			strings.Contains(line, "request_id") || strings.Contains(line, "order_id") != (n.OrderID != "") {
			t.Errorf("%s: log line %q", event, line)
		}
	}
}

// A draw's waitlist reads back from the store as events with each entry's
// place, and the winners hear nothing until their reservation.
func TestDrawEventsFromTheStore(t *testing.T) {
	shop := newShop(t)
	item := &shop.sale.Items[0]
	var order []string
	for _, user := range []string{"ann", "ben", "cat"} {
		e, _, err := shop.store.Enter(t.Context(), &flashsale.Entry{ID: uuid.NewString(), SaleID: shop.sale.ID, ItemID: item.ID,
			UserID: user, EnteredAt: start, Status: flashsale.EntryEntered})
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, e.ID)
	}
	d := flashsale.ItemDraw{SaleID: shop.sale.ID, ItemID: item.ID, EntriesDigest: "digest", EntryCount: 3, DrawnAt: start}
	if _, err := shop.store.RecordDraw(t.Context(), d, order, 1); err != nil {
		t.Fatal(err)
	}
	if n := shop.notifications("ann"); len(n) != 0 {
		t.Fatalf("the winner heard of the draw: %+v", n)
	}
	for place, user := range []string{"ben", "cat"} {
		n := shop.notifications(user)
		if len(n) != 1 {
			t.Fatalf("%s has %d notifications, want one", user, len(n))
		}
		var event map[string]any
		if err := json.Unmarshal(must(notify.MarshalEvent(n[0])), &event); err != nil {
			t.Fatal(err)
		}
		entry, _ := event["entry"].(map[string]any)
		if event["type"] != "lottery.waitlisted" || entry["entry_id"] != order[place+1] || entry["rank"] != float64(place+1) ||
			entry["item_name"] != "Phone X" || entry["status"] != "waitlisted" || event["order"] != nil {
			t.Errorf("%s's event %v", user, event)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
