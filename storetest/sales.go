package storetest

import (
	"reflect"
	"slices"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/draw"
)

// A sale comes back with every field, its items in the order given.
func testSaleRoundTrip(tt *tester) {
	sale := tt.createSale()
	got, err := tt.store.Sale(tt.Context(), sale.ID)
	if err != nil {
		tt.Fatalf("sale: %v", err)
	}
	tt.wantSale(got, sale)

	_, err = tt.store.Sale(tt.Context(), newID())
	tt.wantCode("unknown sale", err, flashsale.ESaleNotFound)

	// A waiting room comes back with every setting and its seed, a
	// challenge with its policy and difficulty, limits with each limit.
	queued := newSale()
	room := flashsale.DefaultWaitingRoom()
	room.AdmitPerMinute, room.MaxActive, room.Order, room.Overbook = 6000, 20000, flashsale.QueueRandom, 1.5
	queued.WaitingRoom = &room
	queued.Challenge = &flashsale.ChallengeConfig{Policy: flashsale.ChallengeSuspicious, MaxNumber: 50_000}
	queued.Limits = &flashsale.PurchaseLimits{PerCard: 1, PerPhone: 2, PerAddress: 3,
		RequireVerifiedPhone: true, MinAccountAgeDays: 30}
	if queued.QueueSeed, err = draw.NewSeed(); err != nil {
		tt.Fatal(err)
	}
	if err := tt.store.CreateSale(tt.Context(), queued); err != nil {
		tt.Fatalf("create a sale with a waiting room: %v", err)
	}
	if got, err = tt.store.Sale(tt.Context(), queued.ID); err != nil {
		tt.Fatalf("sale: %v", err)
	}
	tt.wantSale(got, queued)

	// A lottery comes back with its window and its seed.
	lottery := newSale()
	lottery.Mode = flashsale.ModeLottery
	lottery.Lottery = &flashsale.LotteryConfig{EntriesOpen: stored(now.Add(-2 * time.Hour)), EntriesClose: stored(now.Add(-time.Hour))}
	if lottery.LotterySeed, err = draw.NewSeed(); err != nil {
		tt.Fatal(err)
	}
	if err := tt.store.CreateSale(tt.Context(), lottery); err != nil {
		tt.Fatalf("create a lottery sale: %v", err)
	}
	if got, err = tt.store.Sale(tt.Context(), lottery.ID); err != nil {
		tt.Fatalf("sale: %v", err)
	}
	tt.wantSale(got, lottery)
}

// Sales lists every sale, earliest start first, each with its items.
func testSalesEarliestStartFirst(tt *tester) {
	var created []*flashsale.Sale
	for _, startIn := range []time.Duration{2 * time.Hour, time.Hour, 3 * time.Hour} {
		sale := newSale()
		sale.StartTime = now.Add(startIn)
		sale.EndTime = sale.StartTime.Add(time.Hour)
		if err := tt.store.CreateSale(tt.Context(), sale); err != nil {
			tt.Fatalf("create sale: %v", err)
		}
		created = append(created, sale)
	}
	sales, err := tt.store.Sales(tt.Context())
	if err != nil {
		tt.Fatalf("sales: %v", err)
	}
	if !slices.IsSortedFunc(sales, func(a, b *flashsale.Sale) int { return a.StartTime.Compare(b.StartTime) }) {
		tt.Fatalf("sales are not in order of their start")
	}
	var mine []*flashsale.Sale
	for _, s := range sales {
		if slices.ContainsFunc(created, func(c *flashsale.Sale) bool { return c.ID == s.ID }) {
			mine = append(mine, s)
		}
	}
	if len(mine) != len(created) {
		tt.Fatalf("sales lists %d of the %d sales created", len(mine), len(created))
	}
	for i, want := range []*flashsale.Sale{created[1], created[0], created[2]} {
		tt.wantSale(mine[i], want)
	}
}

// A sale whose items cannot all be stored is not stored at all.
func testCreateSaleAllOrNothing(tt *tester) {
	sale := newSale()
	sale.Items[2].ID = sale.Items[0].ID
	if err := tt.store.CreateSale(tt.Context(), sale); err == nil {
		tt.Fatalf("a sale with two items of one id was stored")
	}
	_, err := tt.store.Sale(tt.Context(), sale.ID)
	tt.wantCode("sale after a failed create", err, flashsale.ESaleNotFound)

	// The failure took nothing else with it.
	tt.createSale()
}

func (tt *tester) wantSale(got, want *flashsale.Sale) {
	tt.Helper()
	tt.wantUTC("sale", got.StartTime, got.EndTime, got.CreatedAt)
	w := *want
	w.StartTime, w.EndTime, w.CreatedAt = stored(w.StartTime), stored(w.EndTime), stored(w.CreatedAt)
	g := *got
	g.StartTime, g.EndTime, g.CreatedAt = stored(g.StartTime), stored(g.EndTime), stored(g.CreatedAt)
	if !reflect.DeepEqual(g, w) {
		tt.Fatalf("sale\n got %+v\nwant %+v", got, &w)
	}
}
