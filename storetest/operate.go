package storetest

import (
	"time"

	"github.com/flashsale/flashsale"
)

// An operator's change of a sale: pause, end and restock come back in the
// sale and the claims, all or nothing; an ended sale does not change.
func testUpdateSale(tt *tester) {
	sale := tt.createSale()
	paused, later := true, stored(now.Add(3*time.Hour))
	got, err := tt.store.UpdateSale(tt.Context(), flashsale.SaleChange{SaleID: sale.ID, Paused: &paused, EndTime: &later,
		Restock: map[string]int64{sale.Items[0].ID: 5}, At: now})
	if err != nil {
		tt.Fatalf("update sale: %v", err)
	}
	want := *sale
	want.Items = append([]flashsale.Item(nil), sale.Items...)
	want.Paused, want.EndTime = true, later
	want.Items[0].TotalQuantity += 5
	tt.wantSale(got, &want)
	read, err := tt.store.Sale(tt.Context(), sale.ID)
	if err != nil {
		tt.Fatal(err)
	}
	tt.wantSale(read, &want)
	claims, err := tt.store.Claims(tt.Context(), sale.Items[0].ID)
	if err != nil || claims.Total != want.Items[0].TotalQuantity || !claims.EndTime.Equal(later) {
		tt.Fatalf("claims after the change: %+v, %v", claims, err)
	}

	// All or nothing: an item of another sale changes nothing.
	resume := false
	_, err = tt.store.UpdateSale(tt.Context(), flashsale.SaleChange{SaleID: sale.ID, Paused: &resume,
		Restock: map[string]int64{sale.Items[1].ID: 1, newID(): 1}, At: now})
	tt.wantCode("restock of an unknown item", err, flashsale.EItemNotFound)
	if read, _ = tt.store.Sale(tt.Context(), sale.ID); !read.Paused || read.Items[1].TotalQuantity != sale.Items[1].TotalQuantity {
		tt.Fatalf("a refused change changed the sale: %+v", read)
	}

	_, err = tt.store.UpdateSale(tt.Context(), flashsale.SaleChange{SaleID: sale.ID, Paused: &resume, At: later})
	tt.wantCode("change of an ended sale", err, flashsale.ESaleEnded)
	_, err = tt.store.UpdateSale(tt.Context(), flashsale.SaleChange{SaleID: newID(), Paused: &resume, At: now})
	tt.wantCode("change of an unknown sale", err, flashsale.ESaleNotFound)
}
