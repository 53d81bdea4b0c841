package loadtest

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/draw"
)

// fakeLottery is a lottery sale's entries and draw in the fake: entries
// within the window, flashsale-draw-v1 at the first request after the
// close, reservations for the next in order whenever units are available
// (each request brings it up to date), lost once every unit is sold.
type fakeLottery struct {
	open, close time.Time
	seed        draw.Seed
	entries     []*fakeEntry
	drawn       bool
	// order is each item's draw order as published (entry ids).
	order map[string][]string
}

type fakeEntry struct {
	id, user, itemID string
	enteredAt        time.Time
	status, orderID  string
	// card is the payment token the entry claimed, in a sale with
	// per_card.
	card string
	// place is the entry's place in its item's order, from 0, as the
	// fake decided it.
	place int
}

func newFakeLottery(open, close time.Time) *fakeLottery {
	seed, err := draw.NewSeed()
	if err != nil {
		panic(err)
	}
	return &fakeLottery{open: open, close: close, seed: seed, order: map[string][]string{}}
}

func (e *fakeEntry) view(winners int) map[string]any {
	v := map[string]any{"entry_id": e.id, "item_id": e.itemID, "status": e.status, "entered_at": e.enteredAt}
	switch e.status {
	case "won":
		v["order_id"] = e.orderID
	case "waitlisted":
		v["rank"] = e.place + 1 - winners
	}
	return v
}

// advanceLottery draws the sale once its entries have closed and makes
// the reservations the draw owes. The caller holds f.mu.
func (f *fakeService) advanceLottery(sale *fakeSale, now time.Time) {
	l := sale.lottery
	if l == nil || now.Before(l.close) {
		return
	}
	f.expire(now)
	for _, item := range sale.items {
		var entries []*fakeEntry
		for _, e := range l.entries {
			if e.itemID == item.id {
				entries = append(entries, e)
			}
		}
		if !l.drawn {
			ids := make([]string, len(entries))
			for i, e := range entries {
				ids[i] = e.id
			}
			order := draw.Order(l.seed, ids)
			l.order[item.id] = order
			decided := order
			if f.lotteryByEntryTime {
				decided = ids // entries are kept in arrival order
			}
			place := map[string]int{}
			for p, id := range decided {
				place[id] = p
			}
			for _, e := range entries {
				e.place, e.status = place[e.id], "waitlisted"
			}
		}
		slices.SortFunc(entries, func(a, b *fakeEntry) int { return a.place - b.place })
		for _, e := range entries {
			if item.available == 0 {
				break
			}
			if e.status != "waitlisted" {
				continue
			}
			if f.lotterySkipWaitlist && int64(e.place) == item.total {
				continue // the first on the waitlist never gets a unit
			}
			item.available--
			item.reserved++
			f.nextID++
			order := &fakeOrder{id: fmt.Sprintf("order-%d", f.nextID), saleID: sale.id, itemID: item.id, user: e.user, status: "reserved", reservedAt: now}
			f.orders[order.id] = order
			e.status, e.orderID = "won", order.id
		}
		if item.sold == item.total {
			for _, e := range entries {
				if e.status == "waitlisted" {
					e.status = "lost"
				}
			}
		}
	}
	l.drawn = true
}

// lotteryOf returns the request's lottery sale brought up to date, or
// answers the refusal. The caller holds f.mu.
func (f *fakeService) lotteryOf(w http.ResponseWriter, r *http.Request, now time.Time) *fakeSale {
	sale := f.sales[r.PathValue("sale")]
	switch {
	case sale == nil:
		writeError(w, http.StatusNotFound, "sale_not_found")
	case sale.lottery == nil:
		writeError(w, http.StatusConflict, "not_a_lottery")
	default:
		f.advanceLottery(sale, now)
		return sale
	}
	return nil
}

func (f *fakeService) enterLottery(w http.ResponseWriter, r *http.Request) {
	user, _ := caller(r)
	var body struct {
		ItemID       string `json:"item_id"`
		PaymentToken string `json:"payment_token"`
	}
	if user == "" || json.NewDecoder(r.Body).Decode(&body) != nil {
		writeError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	remember(f.entryTokens, user, body.PaymentToken)
	now := time.Now()
	sale := f.lotteryOf(w, r, now)
	if sale == nil {
		return
	}
	l := sale.lottery
	if now.Before(l.open) || !now.Before(l.close) {
		writeError(w, http.StatusBadRequest, "entries_closed")
		return
	}
	if sale.cardLimit > 0 && body.PaymentToken == "" {
		writeError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	for _, e := range l.entries {
		if e.user == user && e.itemID == body.ItemID && !f.lotteryDuplicates {
			writeJSON(w, http.StatusOK, e.view(0))
			return
		}
	}
	if sale.cardLimit > 0 && !f.lotteryIgnoresCards {
		// As the service: the entries that have not lost claim a unit
		// each (the fake's per-user limit is one), on any account.
		var held int64
		for _, e := range l.entries {
			if e.card == body.PaymentToken && e.status != "lost" {
				held++
			}
		}
		if held >= sale.cardLimit {
			f.entryCardRefusals++
			writeRefusal(w, http.StatusConflict, "purchase_limit_exceeded", "card")
			return
		}
	}
	f.nextID++
	e := &fakeEntry{id: fmt.Sprintf("entry-%06d", f.nextID), user: user, itemID: body.ItemID, card: body.PaymentToken, enteredAt: now, status: "entered"}
	l.entries = append(l.entries, e)
	writeJSON(w, http.StatusCreated, e.view(0))
}

func (f *fakeService) getEntries(w http.ResponseWriter, r *http.Request) {
	user, _ := caller(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	sale := f.lotteryOf(w, r, time.Now())
	if sale == nil {
		return
	}
	views := []map[string]any{}
	for _, e := range sale.lottery.entries {
		if e.user == user {
			views = append(views, e.view(int(sale.items[0].total)))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": views})
}

func (f *fakeService) getDraw(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	sale := f.lotteryOf(w, r, now)
	if sale == nil {
		return
	}
	l := sale.lottery
	if now.Before(l.open) {
		writeError(w, http.StatusBadRequest, "entries_closed")
		return
	}
	doc := map[string]any{"algorithm": draw.Algorithm, "commitment": l.seed.Commitment(), "status": "open"}
	if l.drawn {
		var items []map[string]any
		for _, item := range sale.items {
			ids := l.order[item.id]
			items = append(items, map[string]any{"item_id": item.id, "entries_digest": draw.Digest(ids), "entry_count": len(ids),
				"entries_url": "/flash-sales/" + sale.id + "/draw/" + item.id + "/entries"})
		}
		doc["status"], doc["seed"], doc["items"] = "drawn", l.seed.String(), items
	}
	writeJSON(w, http.StatusOK, doc)
}

func (f *fakeService) getDrawEntries(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sale := f.lotteryOf(w, r, time.Now())
	if sale == nil {
		return
	}
	if !sale.lottery.drawn {
		writeError(w, http.StatusNotFound, "not_found")
		return
	}
	ids := slices.Clone(sale.lottery.order[r.PathValue("item")])
	slices.Sort(ids)
	w.Header().Set("Content-Type", "text/plain")
	for _, id := range ids {
		fmt.Fprintln(w, id)
	}
}

func (f *fakeService) cancelOrder(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire(time.Now())
	order := f.ownOrder(w, r)
	if order == nil {
		return
	}
	if order.status != "reserved" {
		writeError(w, http.StatusConflict, "invalid_state")
		return
	}
	order.status = "cancelled"
	for _, item := range f.sales[order.saleID].items {
		if item.id == order.itemID {
			item.reserved--
			item.available++
		}
	}
	writeJSON(w, http.StatusOK, f.orderBody(order))
}

// smallLottery is the lottery scenario at the fake's scale: 60 users for
// 10 units, entries over 1 s, reservations of 1 s, half the winners
// paying, so that waves follow the draw within seconds.
func smallLottery(baseURL string) Config {
	cfg := Presets()[ScenarioLottery]
	cfg.BaseURL, cfg.MintToken, cfg.Seed = baseURL, fakeToken, 1
	cfg.Users, cfg.UnitsPerItem = 60, 10
	// Entries are sent within the jitter's first half second; the
	// window's other 1.5 s is room for a loaded machine (CI's) to send
	// them late: a window of 1 s lost entries to the close there.
	cfg.StartDelay, cfg.EntryWindow, cfg.Jitter = 200*time.Millisecond, 2*time.Second, 500*time.Millisecond
	cfg.ReservationTTL, cfg.PollInterval, cfg.ThinkTime, cfg.RetryInterval = time.Second, 50*time.Millisecond, 10*time.Millisecond, 20*time.Millisecond
	cfg.ReenterShare, cfg.PayProbability = 0.5, 0.5
	cfg.Concurrency, cfg.Duration, cfg.RequestTimeout = 32, 30*time.Second, 2*time.Second
	return cfg
}

// A clean lottery: every user enters once (the second entries find the
// first), the draw verifies and the users' reads agree with it, unpaid
// reservations come back as later waves, the stock is sold exactly and the
// run ends once they are paid for.
//
// A later wave needs a winner who neither pays nor cancels, a quarter of
// them: a unit's winners all pay or cancel two times in three, so with 10
// units one run in 60 had a single wave. With 30 it is one in 200,000.
func TestLotteryDrawsAndRunsWaves(t *testing.T) {
	const users, units = 180, 30
	fake := &fakeService{expireReservations: true}
	server := startFake(t, fake)
	cfg := smallLottery(server.URL)
	cfg.Users, cfg.UnitsPerItem = users, units
	report := mustRun(t, cfg)
	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	l := report.Lottery
	if l == nil {
		t.Fatal("no lottery report")
	}
	v := l.Verification
	if !v.Verified || v.Items != 1 || !v.CommitmentReadAtOpening || v.UsersChecked != users || v.UsersWithOneEntry != users || v.RankReads == 0 {
		t.Errorf("verification %+v: want the draw verified against all %d users' reads", v, users)
	}
	if l.Entered != users || l.Reentered == 0 || l.EntryCount != users || l.Winners != units || l.DrawAfterMs == nil {
		t.Errorf("lottery %+v: want %d entries, some sent twice, %d winners, the draw seen", l, users, units)
	}
	if len(l.Waves) < 2 || l.AfterFirstWave == 0 || l.Reservations != l.Waves[0].Reservations+l.AfterFirstWave {
		t.Errorf("waves %+v, %d reservations, %d after the first wave: want unpaid units to come back in later waves", l.Waves, l.Reservations, l.AfterFirstWave)
	}
	var sold int64
	for _, w := range l.Waves {
		sold += w.Sold
	}
	if sold != units || report.Payments.Confirmed != units || report.StopReason != stopLotterySold || l.Lost+l.StillWaitlisted+l.Reservations != users {
		t.Errorf("%d units sold in the waves, %d payments, stopped because %q, %d lost and %d waitlisted of %d with %d reservations: want the %d units sold, the run over then, everyone else lost or waitlisted",
			sold, report.Payments.Confirmed, report.StopReason, l.Lost, l.StillWaitlisted, users, l.Reservations, units)
	}
	fake.mu.Lock()
	sentCards := len(fake.entryTokens)
	fake.mu.Unlock()
	if report.Farm != nil || sentCards != 0 {
		t.Errorf("farm report %+v, %d users sent a card with their entry: want no farms and no cards without the flags", report.Farm, sentCards)
	}
	reportSays(t, report, []string{"draw check: VERIFIED", "wave 2:"}, []string{"<h2>Lottery</h2>"})
}

// A second entry that the service creates beside the first is caught, and
// so is the user reading two entries.
func TestLotterySecondEntriesAreCaught(t *testing.T) {
	fake := &fakeService{expireReservations: true, lotteryDuplicates: true}
	server := startFake(t, fake)
	cfg := smallLottery(server.URL)
	report := mustRun(t, cfg)
	if !containsViolation(report, "second entry of an item was created") || !containsViolation(report, "entries of theirs") {
		t.Fatalf("violations %v: want the second entries caught", report.Violations)
	}
}

// A service that picks the winners by entry time, not by the order its
// published seed gives, is caught by the reads, and by the uniformity test
// when there are winners enough to run it.
func TestLotteryWinnersByEntryTimeAreCaught(t *testing.T) {
	fake := &fakeService{expireReservations: true, lotteryByEntryTime: true}
	server := startFake(t, fake)
	cfg := smallLottery(server.URL)
	cfg.Users, cfg.UnitsPerItem, cfg.PayProbability, cfg.ReenterShare = 200, 60, 1, 0
	report := mustRun(t, cfg)
	if !containsViolation(report, "contradict the published draw order") {
		t.Errorf("violations %v: want the reads contradicting the published order", report.Violations)
	}
	if u := report.Lottery.Uniformity; !u.Tested || u.PValue >= uniformityAlarm || !containsViolation(report, "depend on the entry time") {
		t.Errorf("uniformity %+v, violations %v: want the earliest entrants' wins caught", u, report.Violations)
	}
	if report.Lottery.Verification.Verified {
		t.Error("the draw passed as verified")
	}
}

// A waitlist that passes an entry over when a unit comes back is caught.
func TestLotteryWaitlistSkippedIsCaught(t *testing.T) {
	fake := &fakeService{expireReservations: true, lotterySkipWaitlist: true}
	server := startFake(t, fake)
	cfg := smallLottery(server.URL)
	cfg.PayProbability = 0 // every unit comes back: the waitlist must move
	cfg.Duration = 5 * time.Second
	report := mustRun(t, cfg)
	if !containsViolation(report, "contradict the published draw order") {
		t.Fatalf("violations %v: want the skipped entry caught", report.Violations)
	}
}

// The chi-square test runs only with 5 wins expected in every decile: 49
// winners among 100 entrants are too few, 50 enough.
func TestUniformityNeedsFiveWinsADecile(t *testing.T) {
	for _, c := range []struct {
		winners int
		tested  bool
	}{{49, false}, {50, true}} {
		users := make([]*simUser, 100)
		for i := range users {
			users[i] = &simUser{id: fmt.Sprintf("user-%03d", i), lottery: &lotteryEntry{enteredAt: time.Unix(int64(i), 0)}}
			if i%2 == 0 && i/2 < c.winners {
				users[i].lottery.orderID = "order-" + users[i].id
			}
		}
		d := newDeciles()
		d.add(users)
		u := d.test()
		if u.Tested != c.tested || u.Tested != (u.Note == "") || !u.Tested && !strings.Contains(u.Note, "fewer than the 5") {
			t.Errorf("%d winners: %+v, want tested %v", c.winners, u, c.tested)
		}
	}
}

// The chi-square survival function against table values.
func TestChiSquareSurvival(t *testing.T) {
	for _, c := range []struct{ x, k, p float64 }{
		{16.919, 9, 0.05}, {21.666, 9, 0.01}, {27.877, 9, 0.001}, {8.343, 9, 0.5}, {2.088, 9, 0.99},
		{4, 2, math.Exp(-2)}, {0, 9, 1},
	} {
		if got := chiSquareSurvival(c.x, c.k); math.Abs(got-c.p) > 1e-3*max(c.p, 1e-3) && math.Abs(got-c.p) > 1e-6 {
			t.Errorf("P(chi2(%v) > %v) = %v, want %v", c.k, c.x, got, c.p)
		}
	}
}

// The lottery's flags override its preset, and settings the sale could
// not take are refused before it is created.
func TestLotteryFlagsAndValidation(t *testing.T) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	build := RegisterFlags(fs)
	if err := fs.Parse([]string{"-entry-window", "30s", "-scenario", "lottery", "-jitter", "0", "-reenter-share", "0.2"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := build()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Scenario != ScenarioLottery || cfg.EntryWindow != 30*time.Second || cfg.Jitter != 0 || cfg.ReenterShare != 0.2 ||
		cfg.ReservationTTL != 5*time.Second || cfg.PayProbability != 0.7 {
		t.Errorf("config %+v: want the lottery preset with the flags over it", cfg)
	}
	cfg.BaseURL, cfg.MintToken = "http://127.0.0.1:1", fakeToken
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
	for name, change := range map[string]func(*Config){
		"jitter past the window": func(c *Config) { c.Jitter = c.EntryWindow },
		"open loop":              func(c *Config) { c.Rate = 10 },
		"no poll interval":       func(c *Config) { c.PollInterval = 0 },
		"window in fractions":    func(c *Config) { c.EntryWindow = 1500 * time.Millisecond },
	} {
		bad := cfg
		change(&bad)
		if bad.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A waitlisted read after a later entry was seen won contradicts the
// draw order, unless the entry had been reached by then: a wave's
// reservations all come before its awards, which land side by side.
func TestLotteryCheckAllowsAWavesAwardsToLandSideBySide(t *testing.T) {
	at := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	order := []string{"e-winner", "e-ahead", "e-behind"}
	reserved := map[string]time.Time{}
	users := func(aheadReserved bool) []*simUser {
		reserved = map[string]time.Time{"o-behind": at.Add(-2 * time.Millisecond)}
		ahead := &lotteryEntry{id: "e-ahead", rank: 1, lastWaitlisted: at.Add(5 * time.Millisecond)}
		if aheadReserved {
			// The same wave: reserved before the entry behind was seen won,
			// its award seen a moment after its last waitlisted read.
			ahead.orderID, ahead.wonSeen = "o-ahead", at.Add(8*time.Millisecond)
			reserved["o-ahead"] = at.Add(-time.Millisecond)
		}
		return []*simUser{
			{id: "winner", lottery: &lotteryEntry{id: "e-winner"}},
			{id: "ahead", lottery: ahead},
			{id: "behind", lottery: &lotteryEntry{id: "e-behind", rank: 2, lastWaitlisted: at.Add(-time.Second),
				orderID: "o-behind", wonSeen: at}},
		}
	}
	lookup := func(orderID string) (time.Time, bool) {
		t, ok := reserved[orderID]
		return t, ok
	}
	check := lotteryCheck{uniformity: newDeciles()}
	if got := check.item("item", order, 1, users(true), lookup); len(got) != 0 {
		t.Fatalf("a wave whose awards landed side by side: %v, want no violation", got)
	}
	check = lotteryCheck{uniformity: newDeciles()}
	if got := check.item("item", order, 1, users(false), lookup); len(got) != 1 || !strings.Contains(got[0], "still read waitlisted") {
		t.Fatalf("an entry skipped for one behind it: %v, want the contradiction", got)
	}
}
