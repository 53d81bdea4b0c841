package http_test

import (
	"testing"
	"time"
)

// The lottery's outcome reaches each entrant's event stream: a winner
// hears of the reservation (order.reserved) and then lottery.won, with
// the entry and the order to pay; the others their place on the waitlist
// (lottery.waitlisted) at the draw, and lottery.lost once the sale ends
// with them still waiting.
func TestLotteryEventsStream(t *testing.T) {
	h := newHarness(t, harnessOptions{events: true})
	s := h.lotterySale(1)
	users := []string{"ann", "ben", "cat"}
	entries := map[string]string{} // user -> entry id
	streams := map[string]*stream{}
	for _, user := range users {
		r := h.enter(s, user)
		expect(t, r, 201, "")
		entries[user] = r.JSON(t)["entry_id"].(string)
		streams[user] = h.openStream(user, h.bearer(user)...)
	}

	h.clock.Advance(time.Hour)
	h.tickLotteries()
	waiting := map[string]float64{} // user -> place on the waitlist
	for _, user := range users {
		e := h.entriesOf(s, user)[s.Items[0]]
		switch e["status"] {
		case "won":
			orderID := e["order_id"].(string)
			streams[user].want("order.reserved", orderID)
			won := streams[user].want("lottery.won", orderID)
			entry, _ := won.Data["entry"].(map[string]any)
			order := won.Data["order"].(map[string]any)
			if entry["entry_id"] != entries[user] || entry["status"] != "won" || entry["order_id"] != orderID ||
				entry["sale_id"] != s.ID || entry["item_id"] != s.Items[0] || entry["item_name"] != "Phone 0" || entry["rank"] != nil ||
				order["status"] != "reserved" || order["total_amount"] != "499.00" || order["reservation_expires_at"] == nil {
				t.Fatalf("%s's lottery.won %+v", user, won.Data)
			}
		case "waitlisted":
			waiting[user] = e["rank"].(float64)
			e := streams[user].next()
			entry, _ := e.Data["entry"].(map[string]any)
			if e.Type != "lottery.waitlisted" || entry["entry_id"] != entries[user] || entry["status"] != "waitlisted" ||
				entry["rank"] != waiting[user] || e.Data["order"] != nil {
				t.Fatalf("%s, waitlisted at %v: event %+v", user, waiting[user], e)
			}
		default:
			t.Fatalf("%s's entry after the draw: %v", user, e)
		}
		streams[user].wantQuiet()
	}
	if len(waiting) != 2 {
		t.Fatalf("%d entries waitlisted, want 2", len(waiting))
	}

	// A second tick tells nobody anything again.
	h.tickLotteries()
	for _, user := range users {
		streams[user].wantQuiet()
	}

	h.clock.Advance(3 * time.Hour)
	h.tickLotteries()
	for user := range waiting {
		e := streams[user].next()
		entry, _ := e.Data["entry"].(map[string]any)
		if e.Type != "lottery.lost" || entry["entry_id"] != entries[user] || entry["status"] != "lost" || entry["rank"] != nil {
			t.Fatalf("%s, still waiting when the sale ended: event %+v", user, e)
		}
		streams[user].wantQuiet()
	}
}
