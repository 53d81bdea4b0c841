package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/draw"
	"github.com/flashsale/flashsale/internal/testenv"
)

// The real server's pre-queue draw, checked from its public documents.
func TestVerifyDrawOfARealPreQueue(t *testing.T) {
	url, _ := startInProcess(t, t.TempDir(), "--expiry-tick", "50ms")
	c := client{t, url}
	start := time.Now().UTC().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	status, sale := c.call("POST", "/admin/flash-sales", mint(t, "admin", true), map[string]any{
		"name": "Drop", "start_time": start.Format(time.RFC3339), "end_time": start.Add(time.Hour).Format(time.RFC3339),
		"items": []map[string]any{{"product_id": "p", "name": "Phone", "original_price": "10.00", "sale_price": "5.00",
			"currency": "USD", "total_quantity": 3}},
		"waiting_room": map[string]any{"admit_per_minute": 60},
	})
	if status != 201 {
		t.Fatalf("create sale: %d %v", status, sale)
	}
	saleID := sale["sale_id"].(string)
	joined := map[string]bool{}
	for _, user := range []string{"ann", "ben", "cat", "dan", "eve"} {
		status, ticket := c.call("POST", "/flash-sales/"+saleID+"/queue", mint(t, user, false), nil)
		if status != 201 || ticket["status"] != "pre_queue" {
			t.Fatalf("%s joins before the start: %d %v", user, status, ticket)
		}
		joined[ticket["ticket_id"].(string)] = true
	}
	var out, errOut bytes.Buffer
	args := []string{"flashsale", "verify-draw", "--url", url, "--sale", saleID, "--queue"}
	if err := run(t.Context(), args, testEnv(""), &out, &errOut); err == nil || !strings.Contains(err.Error(), "not drawn yet") {
		t.Fatalf("verify-draw before the start: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "the pre-queue's draw at the start", func() bool {
		_, document := c.call("GET", "/flash-sales/"+saleID+"/queue/draw", "", nil)
		return document["status"] == "drawn"
	})
	out.Reset()
	if err := run(t.Context(), args, testEnv(""), &out, &errOut); err != nil {
		t.Fatalf("verify-draw after the start: %v\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.Contains(lines[0], "matches") || len(lines) != 2+len(joined) {
		t.Fatalf("verify-draw printed:\n%s", out.String())
	}
	for _, line := range lines[2:] {
		if id := strings.Fields(line)[1]; !joined[id] {
			t.Errorf("the order lists %s, which no one was given", id)
		}
	}
}

// A document altered after the fact does not verify: an entry swapped, or
// a seed other than the one committed to.
func TestVerifyDrawRefusesAlteredDocuments(t *testing.T) {
	seed, err := draw.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	entries := []string{"0193a0b1-0000-7000-8000-000000000001", "0193a0b1-0000-7000-8000-000000000002", "0193a0b1-0000-7000-8000-000000000003"}
	other, _ := draw.NewSeed()
	for name, c := range map[string]struct {
		seed    draw.Seed
		listed  []string
		matches bool
	}{
		"as published":          {seed, entries, true},
		"an entry swapped":      {seed, []string{entries[0], entries[1], "0193a0b1-0000-7000-8000-000000000009"}, false},
		"an entry left out":     {seed, entries[:2], false},
		"another seed revealed": {other, entries, false},
	} {
		t.Run(name, func(t *testing.T) {
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/flash-sales/s1/queue/draw":
					json.NewEncoder(w).Encode(map[string]any{
						"algorithm": "flashsale-draw-v1", "status": "drawn",
						"commitment": seed.Commitment(), "seed": c.seed.String(),
						"entries_digest": draw.Digest(entries), "entry_count": len(entries),
						"entries_url": "/flash-sales/s1/queue/draw/entries",
					})
				case "/flash-sales/s1/queue/draw/entries":
					w.Write([]byte(strings.Join(c.listed, "\n") + "\n"))
				default:
					http.NotFound(w, r)
				}
			}))
			defer server.Close()
			var out, errOut bytes.Buffer
			err := run(t.Context(), []string{"flashsale", "verify-draw", "--url", server.URL, "--sale", "s1", "--queue"}, testEnv(""), &out, &errOut)
			if matches := err == nil; matches != c.matches {
				t.Fatalf("verify-draw: %v, want matching %v\n%s", err, c.matches, out.String())
			}
		})
	}
}

// A lottery's document altered after the fact does not verify either: an
// entry swapped, the seed changed, or the digest of another list.
func TestVerifyLotteryDrawRefusesAlteredDocuments(t *testing.T) {
	seed := must(draw.NewSeed())
	other := must(draw.NewSeed())
	entries := []string{"0193a0b1-0000-7000-8000-000000000001", "0193a0b1-0000-7000-8000-000000000002", "0193a0b1-0000-7000-8000-000000000003"}
	for name, c := range map[string]struct {
		seed    draw.Seed
		listed  []string
		digest  string
		matches bool
	}{
		"as published":          {seed, entries, draw.Digest(entries), true},
		"an entry swapped":      {seed, []string{entries[0], entries[1], "0193a0b1-0000-7000-8000-000000000009"}, draw.Digest(entries), false},
		"another seed revealed": {other, entries, draw.Digest(entries), false},
		"another digest":        {seed, entries, draw.Digest(entries[:2]), false},
	} {
		t.Run(name, func(t *testing.T) {
			server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/flash-sales/s1":
					json.NewEncoder(w).Encode(map[string]any{"items": []map[string]any{
						{"item_id": "i1", "total_quantity": 2, "per_user_limit": 1}}})
				case "/flash-sales/s1/draw":
					json.NewEncoder(w).Encode(map[string]any{
						"algorithm": "flashsale-draw-v1", "status": "drawn",
						"commitment": seed.Commitment(), "seed": c.seed.String(),
						"items": []map[string]any{{"item_id": "i1", "entries_digest": c.digest,
							"entry_count": len(entries), "entries_url": "/flash-sales/s1/draw/i1/entries"}},
					})
				case "/flash-sales/s1/draw/i1/entries":
					w.Write([]byte(strings.Join(c.listed, "\n") + "\n"))
				default:
					http.NotFound(w, r)
				}
			}))
			defer server.Close()
			var out, errOut bytes.Buffer
			err := run(t.Context(), []string{"flashsale", "verify-draw", "--url", server.URL, "--sale", "s1"}, testEnv(""), &out, &errOut)
			if matches := err == nil; matches != c.matches {
				t.Fatalf("verify-draw: %v, want matching %v\n%s", err, c.matches, out.String())
			}
			if c.matches {
				order := draw.Order(seed, entries)
				if want := "  1 " + order[0] + "\n  2 " + order[1] + "\n"; !strings.Contains(out.String(), "item i1: OK") || !strings.HasSuffix(out.String(), want) {
					t.Fatalf("verify-draw printed\n%s\nwant the winners\n%s", out.String(), want)
				}
			}
		})
	}
}

// The real server's lottery, checked from its public documents once its
// entries have closed.
func TestVerifyDrawOfARealLottery(t *testing.T) {
	url, _ := startInProcess(t, t.TempDir(), "--expiry-tick", "50ms")
	c := client{t, url}
	now := time.Now().UTC()
	closes := now.Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	status, sale := c.call("POST", "/admin/flash-sales", mint(t, "admin", true), map[string]any{
		"name": "Draw", "start_time": now.Add(-time.Minute).Format(time.RFC3339), "end_time": closes.Add(time.Hour).Format(time.RFC3339),
		"mode": "lottery", "lottery": map[string]any{"entries_open": now.Add(-time.Minute).Format(time.RFC3339), "entries_close": closes.Format(time.RFC3339)},
		"items": []map[string]any{{"product_id": "p", "name": "Phone", "original_price": "10.00", "sale_price": "5.00",
			"currency": "USD", "total_quantity": 2}},
	})
	if status != 201 {
		t.Fatalf("create sale: %d %v", status, sale)
	}
	saleID := sale["sale_id"].(string)
	itemID := sale["items"].([]any)[0].(map[string]any)["item_id"].(string)
	entered := map[string]string{} // entry id -> user
	for _, user := range []string{"ann", "ben", "cat", "dan", "eve"} {
		status, entry := c.call("POST", "/flash-sales/"+saleID+"/entries", mint(t, user, false), map[string]any{"item_id": itemID})
		if status != 201 {
			t.Fatalf("%s enters: %d %v", user, status, entry)
		}
		entered[entry["entry_id"].(string)] = user
	}
	args := []string{"flashsale", "verify-draw", "--url", url, "--sale", saleID}
	var out, errOut bytes.Buffer
	if err := run(t.Context(), args, testEnv(""), &out, &errOut); err == nil || !strings.Contains(err.Error(), "not drawn yet") {
		t.Fatalf("verify-draw before the close: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "the lottery's draw at the close", func() bool {
		_, document := c.call("GET", "/flash-sales/"+saleID+"/draw", "", nil)
		return document["status"] == "drawn"
	})
	out.Reset()
	if err := run(t.Context(), args, testEnv(""), &out, &errOut); err != nil {
		t.Fatalf("verify-draw after the close: %v\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], "OK, 5 entries") {
		t.Fatalf("verify-draw printed:\n%s", out.String())
	}
	// The winners it names are the ones the service made winners, each
	// with a reservation.
	for _, line := range lines[2:] {
		user, ok := entered[strings.Fields(line)[1]]
		if !ok {
			t.Fatalf("the winners list %s, which no one was given", line)
		}
		testenv.Eventually(t, 10*time.Second, user+"'s reservation", func() bool {
			_, body := c.call("GET", "/flash-sales/"+saleID+"/entries", mint(t, user, false), nil)
			entries, _ := body["entries"].([]any)
			return len(entries) == 1 && entries[0].(map[string]any)["status"] == "won" && entries[0].(map[string]any)["order_id"] != nil
		})
	}
}
