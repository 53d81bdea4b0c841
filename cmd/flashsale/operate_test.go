package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
)

// A restock made on one instance during a rush on two sells exactly the
// units it added, on both, and no more; a pause made on one reaches the
// other within its sale memory's freshness, and a resume too.
func TestOperatingASaleAcrossInstances(t *testing.T) {
	first, second, saleID, itemID := twoInstancesOneItem(t, 10)
	urls := []string{first, second}
	sellOut(t, urls, saleID, itemID, 10, 40)

	status, body := client{t, first}.call("PATCH", "/admin/flash-sales/"+saleID, mint(t, "admin", true),
		map[string]any{"items": []map[string]any{{"item_id": itemID, "add_quantity": 5}}})
	if status != http.StatusOK {
		t.Fatalf("restock: %d %v", status, body)
	}
	won := 0
	for i := range 30 {
		status, body := placeOrder(t, urls[i%2], fmt.Sprintf("late-%d", i), saleID, itemID)
		switch status {
		case http.StatusCreated:
			won++
		case http.StatusConflict:
		default:
			t.Fatalf("a press after the restock: %d %v", status, body)
		}
	}
	if won != 5 {
		t.Fatalf("%d reservations after a restock of 5", won)
	}
	for _, url := range urls {
		if it := stock(t, client{t, url}, saleID); it["total"] != 15.0 || it["reserved"] != 15.0 {
			t.Fatalf("after the restock, %s says %v", url, it)
		}
	}

	status, body = client{t, first}.call("PATCH", "/admin/flash-sales/"+saleID, mint(t, "admin", true),
		map[string]any{"paused": true, "items": []map[string]any{{"item_id": itemID, "add_quantity": 5}}})
	if status != http.StatusOK {
		t.Fatalf("pause: %d %v", status, body)
	}
	// The probe asks for more than a shopper may: refused for its quantity while the sale
	// runs, for the pause once the instance knows of it; it takes nothing.
	probe := func() string {
		_, body := client{t, second}.call("POST", "/flash-sales/"+saleID+"/orders", mint(t, "probe", false),
			map[string]any{"item_id": itemID, "quantity": 2})
		e, _ := body["error"].(map[string]any)
		reason, _ := e["reason"].(string)
		return reason
	}
	paused := time.Now()
	testenv.Eventually(t, 10*time.Second, "the pause on the other instance", func() bool { return probe() == "paused" })
	// Measured, not asserted: the bound is the sale memory's freshness (1 s).
	t.Logf("the pause reached the other instance %v after it was made", time.Since(paused))
	if status, body := placeOrder(t, second, "paused-shopper", saleID, itemID); status != http.StatusBadRequest {
		t.Fatalf("a press on the paused sale: %d %v", status, body)
	}
	client{t, first}.call("PATCH", "/admin/flash-sales/"+saleID, mint(t, "admin", true), map[string]any{"paused": false})
	testenv.Eventually(t, 10*time.Second, "the resume on the other instance", func() bool { return probe() != "paused" })
	if status, body := placeOrder(t, second, "resumed-shopper", saleID, itemID); status != http.StatusCreated {
		t.Fatalf("a press on the resumed sale: %d %v", status, body)
	}
	if it := stock(t, client{t, second}, saleID); it["total"] != 20.0 || it["reserved"] != 16.0 {
		t.Fatalf("after the resume, %v", it)
	}
}
