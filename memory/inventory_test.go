package memory_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/inventorytest"
	"github.com/flashsale/flashsale/memory"
)

func TestInventory(t *testing.T) {
	inventorytest.Run(t, func(*testing.T) flashsale.Inventory { return memory.NewInventory() })
}

var (
	saleStart = time.Date(2030, time.March, 1, 9, 0, 0, 0, time.UTC)
	now       = saleStart.Add(time.Minute)
)

func snapshot(itemID string, total int64) flashsale.ItemSnapshot {
	return flashsale.ItemSnapshot{
		SaleID:       "sale",
		ItemID:       itemID,
		Total:        total,
		PerUserLimit: 1,
		StartTime:    saleStart,
		EndTime:      saleStart.Add(time.Hour),
	}
}

func request(itemID, userID, orderID string) flashsale.ReserveRequest {
	return flashsale.ReserveRequest{
		SaleID:   "sale",
		ItemID:   itemID,
		UserID:   userID,
		Quantity: 1,
		OrderID:  orderID,
		Now:      now,
		TTL:      10 * time.Minute,
	}
}

func TestSoldOut(t *testing.T) {
	ctx := t.Context()
	inv := memory.NewInventory()
	if inv.SoldOut("phone") {
		t.Fatal("SoldOut(unknown item) = true")
	}
	if err := inv.Load(ctx, snapshot("phone", 1)); err != nil {
		t.Fatal(err)
	}
	if inv.SoldOut("phone") {
		t.Fatal("SoldOut before any reservation = true")
	}
	r, err := inv.Reserve(ctx, request("phone", "alice", "order-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !inv.SoldOut("phone") {
		t.Fatal("SoldOut with the only unit reserved = false")
	}
	if err := inv.Release(ctx, "phone", r.OrderID); err != nil {
		t.Fatal(err)
	}
	if inv.SoldOut("phone") {
		t.Fatal("SoldOut after the unit was released = true")
	}
}

// BenchmarkReserve measures reservations that succeed: distinct users on
// one item with stock for all of them, so every one takes the item's lock.
func BenchmarkReserve(b *testing.B) {
	ctx := context.Background()
	inv := memory.NewInventory()
	if err := inv.Load(ctx, snapshot("phone", int64(b.N))); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			// One id serves as user and order: both must be new each time.
			id := strconv.FormatInt(next.Add(1), 10)
			if _, err := inv.Reserve(ctx, request("phone", id, id)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reservations/s")
}

// BenchmarkReserveSoldOut measures the answer most requests of a rush get:
// sold_out, to users who hold nothing of the item.
func BenchmarkReserveSoldOut(b *testing.B) {
	ctx := context.Background()
	inv := memory.NewInventory()
	if err := inv.Load(ctx, snapshot("phone", 1)); err != nil {
		b.Fatal(err)
	}
	if _, err := inv.Reserve(ctx, request("phone", "winner", "winning-order")); err != nil {
		b.Fatal(err)
	}
	users := make([]string, 1024)
	for i := range users {
		users[i] = "user-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			user := users[i%len(users)]
			if _, err := inv.Reserve(ctx, request("phone", user, user)); !flashsale.IsCode(err, flashsale.ESoldOut) {
				b.Errorf("Reserve on a sold-out item: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}
