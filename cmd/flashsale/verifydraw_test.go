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
