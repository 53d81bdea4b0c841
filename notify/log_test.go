package notify_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/notify"
)

// Every event has a message naming the order, the item and the amount,
// and saying what to do next; the log channel writes its subject on one
// line with the ids.
func TestEveryEventHasAMessage(t *testing.T) {
	for _, event := range []flashsale.NotificationEvent{
		flashsale.EventOrderReserved, flashsale.EventPaymentDeclined, flashsale.EventOrderConfirmed,
		flashsale.EventPaymentFailed, flashsale.EventOrderExpired, flashsale.EventOrderCancelled,
		flashsale.EventOrderRefunded,
	} {
		n := flashsale.Notification{
			ID: "0190aaaa-0000-7000-8000-000000000001", Event: event, UserID: "alice", OrderID: "order-1",
			ItemName: "Phone X", Quantity: 2, Amount: 99_800, Currency: "USD", Reason: "card_declined",
			ExpiresAt: time.Date(2026, 6, 1, 12, 10, 0, 0, time.UTC), OccurredAt: start,
		}
		var out bytes.Buffer
		logChannel := notify.NewLog(slog.New(slog.NewTextHandler(&out, nil)))
		if err := logChannel.Deliver(t.Context(), n); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		line := out.String()
		if strings.Count(line, "\n") != 1 || !strings.Contains(line, "Phone X") ||
			!strings.Contains(line, "event="+string(event)) || !strings.Contains(line, "order_id=order-1") {
			t.Errorf("%s: log line %q", event, line)
		}
	}
}

// A refused queued request has a message of its own, saying why in words,
// and travels as a request, not an order, in webhooks and event streams.
func TestRefusedRequestMessageAndEvent(t *testing.T) {
	n := flashsale.Notification{
		ID: "0190aaaa-0000-7000-8000-000000000002", Event: flashsale.EventRequestRefused, UserID: "alice",
		RequestID: "request-1", SaleID: "sale-1", ItemID: "item-1", ItemName: "Phone X", Quantity: 1,
		Reason: flashsale.ESoldOut, OccurredAt: start,
	}
	var out bytes.Buffer
	if err := notify.NewLog(slog.New(slog.NewTextHandler(&out, nil))).Deliver(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	if line := out.String(); !strings.Contains(line, "No order this time: Phone X") || !strings.Contains(line, "request_id=request-1") {
		t.Errorf("log line %q", line)
	}
	event := notify.NewEvent(n)
	if event.Order != nil || event.Request == nil || event.Request.RequestID != "request-1" || event.Request.Reason != "sold_out" ||
		event.Type != "order_request.refused" {
		t.Errorf("event %+v", event)
	}
}
