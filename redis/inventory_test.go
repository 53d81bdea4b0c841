package redis_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/inventorytest"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
)

// inventories returns the suite's factory: each inventory under a prefix of
// its own below prefix, so that Expiring sees only its scenario's items.
func inventories(client rueidis.Client, prefix string) func(*testing.T) flashsale.Inventory {
	var next atomic.Int64
	return func(*testing.T) flashsale.Inventory {
		return redis.NewInventory(client, redis.Options{KeyPrefix: prefix + "-" + strconv.FormatInt(next.Add(1), 10)})
	}
}

func TestInventory(t *testing.T) {
	client := redistest.Connect(t, redistest.URL(t))
	inventorytest.Run(t, inventories(client, redistest.Prefix(t, client)))
}

// A prefix with a brace would move every item's hash tag.
func TestNewInventoryRefusesBraces(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewInventory accepted a prefix with a brace")
		}
	}()
	redis.NewInventory(nil, redis.Options{KeyPrefix: "fs{x}"})
}

// newInventory returns an empty inventory on the test server.
func newInventory(t *testing.T) *redis.Inventory {
	t.Helper()
	client := redistest.Connect(t, redistest.URL(t))
	return redis.NewInventory(client, redis.Options{KeyPrefix: redistest.Prefix(t, client)})
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

// Redis keeps times in whole microseconds: a reservation comes back with
// its times rounded down to the microsecond, the same from every method.
func TestTimesKeepMicroseconds(t *testing.T) {
	ctx := t.Context()
	inv := newInventory(t)
	if err := inv.Load(ctx, snapshot("phone", 5)); err != nil {
		t.Fatal(err)
	}
	req := request("phone", "alice", "order-1")
	req.Now = now.Add(123456789 * time.Nanosecond)
	req.TTL = 10*time.Minute + 999*time.Nanosecond
	made, err := inv.Reserve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	wantReserved := now.Add(123456 * time.Microsecond)
	wantExpires := now.Add(10*time.Minute + 123457*time.Microsecond)
	if !made.ReservedAt.Equal(wantReserved) || !made.ExpiresAt.Equal(wantExpires) {
		t.Fatalf("Reserve: reserved at %s, expires at %s; want %s and %s",
			made.ReservedAt.Format(time.RFC3339Nano), made.ExpiresAt.Format(time.RFC3339Nano),
			wantReserved.Format(time.RFC3339Nano), wantExpires.Format(time.RFC3339Nano))
	}
	again, err := inv.Reserve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	due, err := inv.Expiring(ctx, wantExpires, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 {
		t.Fatalf("Expiring at the deadline returned %d reservations, want 1", len(due))
	}
	made.Existing, again.Existing = true, true
	due[0].Existing = true
	if again != made || due[0] != made {
		t.Fatalf("the reservation changed on its way back:\nmade     %+v\nretried  %+v\nexpiring %+v", made, again, due[0])
	}
}

// The record of a reservation keeps the user id last, so an id with the
// record's separator in it survives every path.
func TestUserIDWithColon(t *testing.T) {
	ctx := t.Context()
	inv := newInventory(t)
	if err := inv.Load(ctx, snapshot("phone", 5)); err != nil {
		t.Fatal(err)
	}
	const user = "tenant:42:alice"
	made, err := inv.Reserve(ctx, request("phone", user, "order-1"))
	if err != nil {
		t.Fatal(err)
	}
	clicked, err := inv.Reserve(ctx, request("phone", user, "order-2"))
	if err != nil || !clicked.Existing || clicked.UserID != user || clicked.OrderID != made.OrderID {
		t.Fatalf("double click = %+v, %v; want the reservation of %s", clicked, err, user)
	}
	if _, err := inv.Reserve(ctx, request("phone", "tenant:42", "order-1")); flashsale.ErrorCode(err) != flashsale.EInternal {
		t.Fatalf("another user retrying %s: %v, want a plain error", made.OrderID, err)
	}
	due, err := inv.Expiring(ctx, now.Add(time.Hour), 10)
	if err != nil || len(due) != 1 || due[0].UserID != user {
		t.Fatalf("Expiring = %+v, %v; want the reservation of %s", due, err, user)
	}
	if err := inv.Release(ctx, "phone", made.OrderID); err != nil {
		t.Fatal(err)
	}
	if stock, err := inv.Stock(ctx, "phone"); err != nil || stock != (flashsale.Stock{Total: 5, Available: 5}) {
		t.Fatalf("Stock after Release = %+v, %v", stock, err)
	}
	if _, err := inv.Reserve(ctx, request("phone", user, "order-3")); err != nil {
		t.Fatalf("Reserve after Release: %v", err)
	}
}
