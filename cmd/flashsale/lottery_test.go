package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/flashsale/flashsale/draw"
	"github.com/flashsale/flashsale/internal/testenv"
)

// The instance drawing a lottery is killed (SIGKILL) in the middle of the
// draw, some of its steps recorded: the other instance takes the timeout
// lease and carries the draw on, and the outcome is the one the published
// seed and entries make, recorded once: each entry ranked where the
// published order puts it, exactly the winners won, each waitlisted entry
// told once.
func TestLotteryDrawSurvivesTheDrawingInstanceKilled(t *testing.T) {
	d := newFleet(t)
	urls, kills := d.startFleet(t, 2)
	c := client{t, urls[0]}
	const entries, stock = 150_000, 1000
	now := time.Now().UTC()
	// The entries are written after the sale and must all be in before
	// the close: a draw that seals and lists them while the insert is
	// still running draws none and is complete at once. The insert takes
	// 1-3 s here and took over 4 s in a loaded CI run.
	closes := now.Add(20 * time.Second)
	status, sale := c.call("POST", "/admin/flash-sales", mint(t, "admin", true), map[string]any{
		"name": "Draw", "start_time": now.Add(-time.Minute).Format(time.RFC3339Nano), "end_time": closes.Add(time.Hour).Format(time.RFC3339Nano),
		"mode": "lottery", "lottery": map[string]any{"entries_open": now.Add(-time.Minute).Format(time.RFC3339Nano), "entries_close": closes.Format(time.RFC3339Nano)},
		"items": []map[string]any{{"product_id": "p", "name": "Phone", "original_price": "10.00", "sale_price": "5.00",
			"currency": "USD", "total_quantity": stock}},
	})
	if status != 201 {
		t.Fatalf("create sale: %d %v", status, sale)
	}
	saleID := sale["sale_id"].(string)
	itemID := sale["items"].([]any)[0].(map[string]any)["item_id"].(string)

	// Entries enough for a draw that takes seconds, written straight into
	// the store: the HTTP path of an entry is tested elsewhere.
	db, err := pgxpool.New(t.Context(), d.postgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(t.Context(), `INSERT INTO lottery_entries (entry_id, sale_id, item_id, user_id, entered_at, status)
		SELECT '019aa0c2-' || lpad(to_hex(g), 8, '0'), $1, $2, 'user-' || g, now(), 'entered'
		FROM generate_series(1, $3::int) AS g`, saleID, itemID, entries); err != nil {
		t.Fatal(err)
	}
	if written := time.Now(); !written.Before(closes) {
		t.Fatalf("the entries were written %v after the close: the draw may have missed them", written.Sub(closes))
	}

	var drawing int
	testenv.Eventually(t, 3*time.Minute, "a draw in progress", func() bool {
		var underWay bool
		err := db.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM lottery_draws
			WHERE item_id = $1 AND ranked_through > 0 AND NOT complete)`, itemID).Scan(&underWay)
		if err != nil {
			t.Fatal(err)
		}
		if !underWay {
			return false
		}
		for i, url := range urls {
			if leads(t, url) {
				drawing = i
				return true
			}
		}
		return false
	})
	kills[drawing]()
	var rankedAtKill int64
	var complete bool
	if err := db.QueryRow(t.Context(), `SELECT ranked_through, complete FROM lottery_draws WHERE item_id = $1`, itemID).Scan(&rankedAtKill, &complete); err != nil {
		t.Fatal(err)
	}
	if complete {
		t.Skip("the draw's last step was committed before the kill landed: nothing to carry on")
	}
	t.Logf("killed with %d of %d places ranked", rankedAtKill, entries)

	survivor := client{t, urls[1-drawing]}
	var document map[string]any
	testenv.Eventually(t, 120*time.Second, "the survivor's draw", func() bool {
		_, document = survivor.call("GET", "/flash-sales/"+saleID+"/draw", "", nil)
		return document["status"] == "drawn"
	})
	seed, err := draw.ParseSeed(document["seed"].(string))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(survivor.base + "/flash-sales/" + saleID + "/draw/" + itemID + "/entries")
	if err != nil {
		t.Fatal(err)
	}
	listed, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the published entries: %v %s", err, resp.Status)
	}
	ids := strings.Fields(string(listed))
	if len(ids) != entries {
		t.Fatalf("%d entries published, %d entered", len(ids), entries)
	}
	order := draw.Order(seed, ids)

	var draws, won, misplaced int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FROM lottery_draws WHERE item_id = $1`, itemID).Scan(&draws); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE status = 'won'),
			count(*) FILTER (WHERE e.rank <> o.position)
		FROM lottery_entries e JOIN unnest($1::text[]) WITH ORDINALITY AS o (entry_id, position) USING (entry_id)`,
		order).Scan(&won, &misplaced); err != nil {
		t.Fatal(err)
	}
	if draws != 1 || won != stock || misplaced != 0 {
		t.Fatalf("after the kill: %d draws recorded, %d entries won (want %d), %d ranked other than the published order", draws, won, stock, misplaced)
	}
	var told, toldTwice int
	if err := db.QueryRow(t.Context(), `SELECT count(DISTINCT entry_id), count(*) - count(DISTINCT entry_id) FROM notifications
		WHERE item_id = $1 AND event = 'lottery.waitlisted'`, itemID).Scan(&told, &toldTwice); err != nil {
		t.Fatal(err)
	}
	if told != entries-stock || toldTwice != 0 {
		t.Fatalf("after the kill: %d waitlisted entries told, %d told twice; want %d, none", told, toldTwice, entries-stock)
	}
}
