package inventorytest

import (
	"time"

	"github.com/flashsale/flashsale"
)

// Adjust restocks an item whose units are all taken, keeping every
// reservation and sale, and sells the new units; a repeat of the same
// adjustment changes nothing; the new end closes the window there; a total
// below the claims is refused and changes nothing; an unknown item is
// item_not_found.
func testAdjust(h *harness) {
	item := h.newItem(2, 1)
	first := h.reserve(request(item, "alice", 1))
	h.reserve(request(item, "bob", 1))
	h.confirm(item, first.OrderID)
	h.refuse(request(item, "carol", 1), flashsale.SoldOut(0))

	later := saleEnd.Add(time.Hour)
	for range 2 {
		if err := h.inv.Adjust(h.t.Context(), item.ItemID, flashsale.ItemWindow{Total: 5, EndTime: later}); err != nil {
			h.t.Fatalf("Adjust: %v", err)
		}
	}
	h.wantStock(item, flashsale.Stock{Total: 5, Available: 3, Reserved: 1, Sold: 1})
	// The holders keep their place under the per-user limit.
	h.refuse(request(item, "alice", 1), flashsale.AlreadyPurchased(1, 1))
	h.reserve(request(item, "carol", 1))
	extended := request(item, "dave", 1)
	extended.Now = saleEnd.Add(time.Minute)
	h.reserve(extended)
	h.wantStock(item, flashsale.Stock{Total: 5, Available: 1, Reserved: 3, Sold: 1})

	// Ending it now closes the window to the next press.
	if err := h.inv.Adjust(h.t.Context(), item.ItemID, flashsale.ItemWindow{Total: 5, EndTime: now}); err != nil {
		h.t.Fatalf("Adjust to end now: %v", err)
	}
	h.refuse(request(item, "erin", 1), flashsale.SaleHasEnded())

	err := h.inv.Adjust(h.t.Context(), item.ItemID, flashsale.ItemWindow{Total: 3, EndTime: later})
	if !flashsale.IsCode(err, flashsale.EInvalidQuantity) {
		h.t.Fatalf("Adjust below the claims: %v, want invalid_quantity", err)
	}
	h.wantStock(item, flashsale.Stock{Total: 5, Available: 1, Reserved: 3, Sold: 1})
	err = h.inv.Adjust(h.t.Context(), "item-unknown", flashsale.ItemWindow{Total: 1, EndTime: later})
	if !flashsale.IsCode(err, flashsale.EItemNotFound) {
		h.t.Fatalf("Adjust of an unknown item: %v, want item_not_found", err)
	}
}
