package inventorytest

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
)

// Many more users than units, all at once: exactly the stock is sold, and
// everyone else hears sold_out.
func testConcurrentRush(h *harness) {
	const users, stock = 2000, 50
	item := h.newItem(stock, 1)
	requests := make([]flashsale.ReserveRequest, users)
	got := make([]flashsale.Reservation, users)
	errs := make([]error, users)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range users {
		requests[i] = request(item, "user-"+strconv.Itoa(i), 1)
		wg.Go(func() {
			<-start
			got[i], errs[i] = h.inv.Reserve(h.t.Context(), requests[i])
		})
	}
	close(start)
	wg.Wait()

	reserved := 0
	for i, err := range errs {
		switch {
		case err == nil:
			reserved++
			if got[i].Existing || got[i].OrderID != requests[i].OrderID || got[i].UserID != requests[i].UserID {
				h.t.Fatalf("user-%d got %+v, want a new reservation of its own", i, got[i])
			}
		case !flashsale.IsCode(err, flashsale.ESoldOut):
			h.t.Fatalf("user-%d: %v, want a reservation or sold_out", i, err)
		}
	}
	if reserved != stock {
		h.t.Fatalf("%d users got a unit out of %d", reserved, stock)
	}
	h.wantStock(item, flashsale.Stock{Total: stock, Available: 0, Reserved: stock})
}

// One user's clicks arrive all at once, each as a request of its own: one
// unit is taken, and every click is answered with that reservation.
func testConcurrentDoubleClicks(h *harness) {
	const clicks = 200
	item := h.newItem(10, 1)
	got := make([]flashsale.Reservation, clicks)
	errs := make([]error, clicks)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clicks {
		req := request(item, "alice", 1)
		wg.Go(func() {
			<-start
			got[i], errs[i] = h.inv.Reserve(h.t.Context(), req)
		})
	}
	close(start)
	wg.Wait()

	made := 0
	for i, err := range errs {
		if err != nil {
			h.t.Fatalf("click %d: %v", i, err)
		}
		if got[i].OrderID != got[0].OrderID {
			h.t.Fatalf("clicks got orders %s and %s, want one", got[0].OrderID, got[i].OrderID)
		}
		if !got[i].Existing {
			made++
		}
	}
	if made != 1 {
		h.t.Fatalf("%d clicks made a new reservation, want 1", made)
	}
	h.wantStock(item, flashsale.Stock{Total: 10, Available: 9, Reserved: 1})
}

// Users reserve, confirm and release concurrently, each user from one
// goroutine so that its outcomes can be tallied; meanwhile Stock stays
// consistent, and at the end it adds up to the tally.
func testConcurrentChurn(h *harness) {
	const (
		workers        = 8
		usersPerWorker = 4
		rounds         = 80
		total, limit   = 40, 2
	)
	item := h.newItem(total, limit)
	ctx := h.t.Context()

	watching := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case <-watching:
				return
			case <-time.After(100 * time.Microsecond):
			}
			stock, err := h.inv.Stock(ctx, item.ItemID)
			if err != nil || !stock.Consistent() {
				h.t.Errorf("Stock during churn = %+v, %v", stock, err)
				return
			}
			if _, err := h.inv.Expiring(ctx, now.Add(time.Hour), 10); err != nil {
				h.t.Errorf("Expiring during churn: %v", err)
				return
			}
		}
	})

	type user struct {
		id   string
		held int64
		live *flashsale.Reservation
	}
	sold := make([]int64, workers)
	reserved := make([]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			users := make([]user, usersPerWorker)
			for i := range users {
				users[i].id = "user-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
			}
			for range rounds {
				u := &users[rand.IntN(len(users))]
				if u.live != nil {
					var err error
					if rand.IntN(2) == 0 {
						err = h.inv.Confirm(ctx, item.ItemID, u.live.OrderID)
						sold[w] += u.live.Quantity
					} else {
						err = h.inv.Release(ctx, item.ItemID, u.live.OrderID)
						u.held -= u.live.Quantity
					}
					if err != nil {
						h.t.Errorf("settling %s: %v", u.live.OrderID, err)
						return
					}
					reserved[w] -= u.live.Quantity
					u.live = nil
					continue
				}
				quantity := 1 + rand.Int64N(limit)
				r, err := h.inv.Reserve(ctx, request(item, u.id, quantity))
				switch {
				case err == nil && !r.Existing:
					u.live = &r
					u.held += quantity
					reserved[w] += quantity
				case err == nil:
					h.t.Errorf("%s holds no live reservation but got existing %+v", u.id, r)
					return
				case flashsale.IsCode(err, flashsale.EAlreadyPurchased):
					if u.held+quantity <= limit {
						h.t.Errorf("%s holding %d asked %d and got %v", u.id, u.held, quantity, err)
						return
					}
				case !flashsale.IsCode(err, flashsale.ESoldOut):
					h.t.Errorf("%s: %v", u.id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(watching)
	watcher.Wait()
	if h.t.Failed() {
		return
	}

	var want flashsale.Stock
	want.Total = total
	for w := range workers {
		want.Sold += sold[w]
		want.Reserved += reserved[w]
	}
	want.Available = total - want.Sold - want.Reserved
	h.wantStock(item, want)
}

// While strangers fight over the last unit of an item, its holders keep
// getting their own answers, never sold_out.
func testConcurrentHoldersOfSoldOutItem(h *harness) {
	const churners, rounds = 6, 150
	item := h.newItem(20, 1)
	alice := h.reserve(request(item, "alice", 1))
	bob := h.reserve(request(item, "bob", 1))
	h.confirm(item, bob.OrderID)
	for i := range 17 {
		h.reserve(request(item, "filler-"+strconv.Itoa(i), 1))
	}
	ctx := h.t.Context()

	var wg sync.WaitGroup
	for w := range churners {
		wg.Go(func() {
			for i := range rounds {
				r, err := h.inv.Reserve(ctx, request(item, "stranger-"+strconv.Itoa(w)+"-"+strconv.Itoa(i), 1))
				switch {
				case err == nil:
					if err := h.inv.Release(ctx, item.ItemID, r.OrderID); err != nil {
						h.t.Errorf("Release: %v", err)
						return
					}
				case !flashsale.IsCode(err, flashsale.ESoldOut):
					h.t.Errorf("stranger: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 2 * rounds {
			r, err := h.inv.Reserve(ctx, request(item, "alice", 1))
			if err != nil || !r.Existing || r.OrderID != alice.OrderID {
				h.t.Errorf("alice got %+v, %v; want her reservation %s", r, err, alice.OrderID)
				return
			}
		}
	})
	wg.Go(func() {
		for range 2 * rounds {
			if _, err := h.inv.Reserve(ctx, request(item, "bob", 1)); !flashsale.IsCode(err, flashsale.EAlreadyPurchased) {
				h.t.Errorf("bob got %v, want already_purchased", err)
				return
			}
		}
	})
	wg.Wait()
	h.wantStock(item, flashsale.Stock{Total: 20, Available: 1, Reserved: 18, Sold: 1})
}

// A user alone on an item of one unit, cancelling and clicking again from two
// tabs at once: whatever the interleaving, there is always a unit for the
// user (the live reservation, or the one just released), never sold_out.
func testConcurrentReleaseAndReserveByOneUser(h *harness) {
	const tabs, rounds = 2, 300
	item := h.newItem(1, 1)
	ctx := h.t.Context()
	var wg sync.WaitGroup
	for range tabs {
		wg.Go(func() {
			for range rounds {
				r, err := h.inv.Reserve(ctx, request(item, "alice", 1))
				if err != nil {
					h.t.Errorf("alice alone on the item: %v", err)
					return
				}
				if err := h.inv.Release(ctx, item.ItemID, r.OrderID); err != nil {
					h.t.Errorf("Release: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	h.wantStock(item, flashsale.Stock{Total: 1, Available: 1})
}
