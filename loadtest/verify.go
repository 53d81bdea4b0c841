package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"
)

// orderCheckLimit bounds the orders looked up at the end: all of them up to
// this many, a random sample of this many beyond, so that the check of a
// huge soak stays a minute's work.
const orderCheckLimit = 20000

// checkAttempts bounds the tries of each verification request: the service
// may throttle or shed the burst of look-ups, and a verdict needs answers.
const checkAttempts = 5

// maxListedMissing bounds how many missing orders are named one by one.
const maxListedMissing = 10

// Order statuses of the API, by whether the order still holds its unit.
var (
	liveStatuses     = map[string]bool{"reserved": true, "paying": true, "confirmed": true}
	releasedStatuses = map[string]bool{"expired": true, "cancelled": true, "payment_failed": true}
)

// verify reads the service's account of the sale, looks up the acknowledged
// orders, checks the invariants and assembles the report.
func (r *run) verify(ctx context.Context) *Report {
	// The stats come first: reservations may still lapse while the orders
	// are looked up (the farm scenario's last ones expire seconds after
	// the traffic), and a unit only ever leaves an acknowledged order, so
	// the orders found live afterwards are a subset of those the stats
	// counted. Read the other way round, a lapse in between would look
	// like an order holding a unit the stats do not count.
	stats, statsErr := r.fetchStats(ctx)
	lookup := r.checkOrders(ctx)
	if r.queue != nil {
		r.finishQueue(ctx)
	}
	var violations []string
	switch {
	case errors.Is(statsErr, errRateLimited):
		r.ledger.note("the stock invariants were not checked: " + statsErr.Error())
	case statsErr != nil:
		violations = append(violations, "the stock invariants could not be checked: "+statsErr.Error())
	default:
		violations = r.stockViolations(stats, lookup)
	}

	var lotteryReport *LotteryReport
	var lotteryViolations []string
	if r.lottery != nil {
		lotteryReport, lotteryViolations = r.verifyLottery(ctx, lookup)
	}

	challenges := r.challengeReport(ctx)

	// Built last so that its tables include the checks' own requests.
	report := r.baseReport(challenges)
	report.OrderCheck, report.FinalStats = lookup.check, stats
	report.Violations = append(append(report.Violations, lookup.violations...), violations...)
	if r.queue != nil {
		var queueViolations []string
		report.Queue, queueViolations = r.queueReport(report.Endpoints, report.TrafficSeconds)
		report.Violations = append(report.Violations, queueViolations...)
		report.Violations = append(report.Violations, r.farmPlaces()...)
	}
	if r.lottery != nil {
		report.Lottery = lotteryReport
		report.Violations = append(report.Violations, lotteryViolations...)
		if report.Farm != nil {
			var farmViolations []string
			report.Farm.Lottery, farmViolations = r.farmLottery(report.Farm, report.Reservations)
			report.Violations = append(report.Violations, farmViolations...)
		}
	}
	report.Notes = append(report.Notes, r.notes(report)...)
	sort.Strings(report.Notes)
	return report
}

// checkRequest sends a verification request, paced by the service's rate
// limits (a 429 is waited out, however often, and spends no attempt), and
// retries shedding and transport errors checkAttempts times, after
// Retry-After or a doubling pause. It returns a 429 only when the limits
// outlasted ctx.
func (r *run) checkRequest(ctx context.Context, req request) response {
	pause := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		resp := r.paced(ctx, req)
		retryable := resp.err != nil || resp.status >= 500
		if !retryable || attempt == checkAttempts || ctx.Err() != nil {
			return resp
		}
		wait := resp.retryAfter
		if wait == 0 {
			wait, pause = pause, pause*2
		}
		if !r.clock.sleep(ctx, wait) {
			return resp
		}
	}
}

// errRateLimited is a check the service refused with 429 until the checks'
// time ran out: it did not happen, which is no fault of what it checks.
var errRateLimited = errors.New("the service's rate limits refused it until the checks' time ran out")

func (r *run) fetchStats(ctx context.Context) (*SaleStats, error) {
	resp := r.checkRequest(ctx, request{endpoint: endpointStats, method: http.MethodGet,
		path: "/admin/flash-sales/" + url.PathEscape(r.sale.id) + "/stats", token: r.adminToken})
	switch resp.status {
	case http.StatusOK:
	case http.StatusTooManyRequests:
		return nil, fmt.Errorf("stats: %w", errRateLimited)
	default:
		return nil, fmt.Errorf("stats: %s", describe(resp))
	}
	var stats SaleStats
	if err := json.Unmarshal(resp.body, &stats); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return &stats, nil
}

// orderLookup is what the look-ups of acknowledged orders found.
type orderLookup struct {
	check OrderCheck
	// live and released count, per item, checked orders that still hold
	// their unit and those that gave it back.
	live, released map[string]int64
	violations     []string
	// orders holds what each checked order's look-up showed.
	orders map[string]orderView
}

// checkOrders looks up every acknowledged order (or a sample) with its
// owner's token: each must exist, hold the item it was for, and its status
// tells whether it still holds a unit.
func (r *run) checkOrders(ctx context.Context) orderLookup {
	r.ledger.mu.Lock()
	entries := make([]*orderEntry, 0, len(r.ledger.orders))
	for _, e := range r.ledger.orders {
		entries = append(entries, e)
	}
	r.ledger.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].ref.id < entries[j].ref.id })

	result := orderLookup{
		check: OrderCheck{Orders: len(entries), ByStatus: map[string]int{}},
		live:  map[string]int64{}, released: map[string]int64{}, orders: map[string]orderView{},
	}
	if len(entries) > orderCheckLimit {
		rng := mathrand.New(mathrand.NewPCG(r.cfg.Seed, ^uint64(0)))
		rng.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
		entries = entries[:orderCheckLimit]
		result.check.Sampled = true
	}
	result.check.Checked = len(entries)

	var mu sync.Mutex
	var missing []string
	var lastUnverified string
	work := make(chan *orderEntry)
	var workers sync.WaitGroup
	for range min(r.cfg.Concurrency, max(len(entries), 1)) {
		workers.Go(func() {
			for e := range work {
				resp, order := r.lookupOrder(ctx, e)
				mu.Lock()
				switch {
				case resp.status == http.StatusOK:
					result.check.Found++
					result.check.ByStatus[order.Status]++
					result.orders[e.ref.id] = order
					if order.ItemID != "" && order.ItemID != e.ref.itemID {
						result.violations = append(result.violations, fmt.Sprintf("order %s was for item %s but holds item %s", e.ref.id, e.ref.itemID, order.ItemID))
					}
					if liveStatuses[order.Status] {
						result.live[e.ref.itemID]++
					} else if releasedStatuses[order.Status] {
						result.released[e.ref.itemID]++
					}
				case resp.status == http.StatusNotFound:
					result.check.Missing++
					missing = append(missing, fmt.Sprintf("%s (user %s)", e.ref.id, e.user.id))
				case resp.status == http.StatusTooManyRequests:
					result.check.RateLimited++
				default:
					result.check.Unverified++
					lastUnverified = describe(resp)
				}
				mu.Unlock()
			}
		})
	}
	for _, e := range entries {
		work <- e
	}
	close(work)
	workers.Wait()

	if len(missing) > 0 {
		sort.Strings(missing)
		listed := missing[:min(len(missing), maxListedMissing)]
		text := fmt.Sprintf("%d acknowledged order(s) are missing (GET /orders/{id} by their owner answers 404): %v", len(missing), listed)
		if len(missing) > len(listed) {
			text += fmt.Sprintf(" and %d more", len(missing)-len(listed))
		}
		result.violations = append(result.violations, text)
	}
	if result.check.RateLimited > 0 {
		r.ledger.note(fmt.Sprintf("%d acknowledged order(s) were not looked up: %v", result.check.RateLimited, errRateLimited))
	}
	if result.check.Unverified > 0 {
		result.violations = append(result.violations, fmt.Sprintf("%d acknowledged order(s) could not be looked up, so their presence is unproven (last answer: %s)", result.check.Unverified, lastUnverified))
	}
	return result
}

// orderView is the part of GET /orders/{id} the check reads.
type orderView struct {
	Status     string    `json:"status"`
	ItemID     string    `json:"item_id"`
	Quantity   int64     `json:"quantity"`
	ReservedAt time.Time `json:"reserved_at"`
}

func (r *run) lookupOrder(ctx context.Context, e *orderEntry) (response, orderView) {
	token, err := r.token(e.user)
	if err != nil {
		return response{err: err}, orderView{}
	}
	resp := r.checkRequest(ctx, request{endpoint: endpointGetOrder, method: http.MethodGet, path: "/orders/" + url.PathEscape(e.ref.id), token: token})
	var order orderView
	if resp.status == http.StatusOK && json.Unmarshal(resp.body, &order) != nil {
		return response{status: resp.status, err: fmt.Errorf("order %s: unreadable body %.100q", e.ref.id, resp.body)}, order
	}
	return resp, order
}

// stockViolations checks the service's stats against arithmetic and against
// what the service acknowledged to the simulated users.
func (r *run) stockViolations(stats *SaleStats, lookup orderLookup) []string {
	var violations []string
	byItem := map[string]ItemStats{}
	for _, s := range stats.Items {
		byItem[s.ItemID] = s
		if s.Available+s.Reserved+s.Sold != s.Total {
			violations = append(violations, fmt.Sprintf("item %s: available %d + reserved %d + sold %d = %d, not the total %d",
				s.ItemID, s.Available, s.Reserved, s.Sold, s.Available+s.Reserved+s.Sold, s.Total))
		}
		if s.Sold > s.Total {
			violations = append(violations, fmt.Sprintf("item %s: sold %d exceeds the total %d", s.ItemID, s.Sold, s.Total))
		}
		if s.Available < 0 || s.Reserved < 0 || s.Sold < 0 || s.Total < 0 {
			violations = append(violations, fmt.Sprintf("item %s: a negative count (available %d, reserved %d, sold %d, total %d)",
				s.ItemID, s.Available, s.Reserved, s.Sold, s.Total))
		}
	}

	r.ledger.mu.Lock()
	defer r.ledger.mu.Unlock()
	for _, item := range r.sale.items {
		s, ok := byItem[item.id]
		if !ok {
			violations = append(violations, fmt.Sprintf("item %s is missing from the stats", item.id))
			continue
		}
		if r.sale.created && s.Total != int64(r.cfg.UnitsPerItem) {
			violations = append(violations, fmt.Sprintf("item %s: stats total %d, but the sale was created with %d units", item.id, s.Total, r.cfg.UnitsPerItem))
		}
		tally := r.ledger.item(item.id)
		// A unit can be reserved again only after its reservation was
		// released, so distinct 201s never exceed the stock plus the
		// releases. A sample undercounts releases: then only a run with
		// none seen is held to it.
		released := lookup.released[item.id]
		if tally.created > s.Total+released {
			if lookup.check.Sampled && released > 0 {
				r.ledger.notes[fmt.Sprintf("item %s: %d reservations acknowledged for %d units; orders were sampled, so the releases that would explain it cannot all be seen", item.id, tally.created, s.Total)] = true
			} else {
				violations = append(violations, fmt.Sprintf("oversold: item %s acknowledged %d reservations (201) for %d units with %d released", item.id, tally.created, s.Total, released))
			}
		}
		if live := lookup.live[item.id]; live > s.Reserved+s.Sold {
			violations = append(violations, fmt.Sprintf("item %s: %d acknowledged orders still hold a unit but the stats count only %d reserved + sold", item.id, live, s.Reserved+s.Sold))
		}
		if tally.confirmed > s.Sold {
			violations = append(violations, fmt.Sprintf("item %s: %d payments were confirmed but the stats count only %d sold", item.id, tally.confirmed, s.Sold))
		}
	}
	return violations
}

// baseReport fills the report from what the run recorded, challenges
// (nil: the sale asked none) with the bots' solutions ready before the
// sell-out.
func (r *run) baseReport(challenges *ChallengeReport) *Report {
	endpoints, statuses, codes := r.rec.endpointReports()
	queueWait, arrivalLag := r.rec.generatorDelays()
	timeline := r.rec.timeline()
	var trafficRequests int64
	for _, s := range timeline {
		trafficRequests += s.Requests
	}
	trafficSeconds := max(r.trafficEnd.Sub(r.trafficStart).Seconds(), 0)

	report := &Report{
		Scenario: r.cfg.Scenario, BaseURL: r.cfg.BaseURL, Seed: r.cfg.Seed, RunID: r.runID, Settings: settingsOf(r.cfg),
		SaleID: r.sale.id, CreatedSale: r.sale.created, TotalUnits: r.sale.totalUnits(), Users: len(r.users), Bots: r.bots,
		TrafficStart: r.trafficStart, TrafficSeconds: trafficSeconds, StopReason: r.stopReason,
		TrafficRequests: trafficRequests, PlaceOrderAttempts: r.placeAttempts.Load(), WarmConnections: r.warmConnections,
		DroppedArrivals: r.dropped.Load(), UnusedArrivals: r.unused.Load(), Canceled: r.rec.canceled.Load(),
		Endpoints: endpoints, QueueWait: queueWait, ArrivalLag: arrivalLag, StatusCounts: statuses, ErrorCodes: codes, Timeline: timeline,
		Violations: []string{}, Notes: append([]string{}, r.setupNotes...), GeneratedAt: time.Now(),
		Challenges: challenges,
	}
	if len(r.users) > 0 {
		report.BotShareOfUsers = float64(r.bots) / float64(len(r.users))
	}
	if trafficSeconds > 0 {
		report.Throughput = float64(trafficRequests) / trafficSeconds
	}
	for _, item := range r.sale.items {
		report.ItemIDs = append(report.ItemIDs, item.id)
	}

	l := r.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	report.Violations = append(report.Violations, l.violations...)
	report.Reservations, report.Purchases = newSplit(l.reservations), newSplit(l.purchases)
	report.RecoveredReservations, report.Payments = l.recovered, l.payments
	if r.cfg.farmed() {
		units := make([]int64, len(r.operators))
		for i, operator := range r.operators {
			units[i] = l.farmUnits[operator]
		}
		people := r.cfg.Users - len(r.operators)
		report.Farm = newFarmReport(people-r.bots, r.bots, r.cfg.FarmAccounts, r.sale.cardLimit, l.purchases, l.cardRefusals, units)
		if r.cfg.lined() {
			joins := newSplit(l.joinCardRefusals)
			report.Farm.JoinCardLimitRefusals = &joins
		}
	}
	if l.reservations.total() > 0 {
		report.SellOut.LastReservationAfterMs = msPointer(l.lastReservation)
	}
	report.SellOut.AllItemsSoldOut = len(r.sale.items) > 0
	var lastSoldOut time.Duration
	for _, item := range r.sale.items {
		tally := l.item(item.id)
		entry := ItemSellOut{ItemID: item.id, Total: item.total, Reservations: tally.created, Confirmed: tally.confirmed}
		if tally.soldOutSeen {
			entry.SoldOutAfter = msPointer(tally.firstSoldOut)
			lastSoldOut = max(lastSoldOut, tally.firstSoldOut)
		} else {
			report.SellOut.AllItemsSoldOut = false
		}
		report.SellOut.Items = append(report.SellOut.Items, entry)
	}
	if report.SellOut.AllItemsSoldOut {
		report.SellOut.AfterMs = msPointer(lastSoldOut)
		if challenges != nil {
			challenges.BotSolutionsBeforeSoldOut = r.challenges.solutionsBefore(lastSoldOut)
		}
	}
	return report
}

// notes explains figures that need it.
func (r *run) notes(report *Report) []string {
	r.ledger.mu.Lock()
	notes := make([]string, 0, len(r.ledger.notes))
	for note := range r.ledger.notes {
		notes = append(notes, note)
	}
	joinRefusals := r.ledger.joinCardRefusals.total()
	r.ledger.mu.Unlock()
	if joinRefusals > 0 && report.Farm == nil {
		// A farm report counts them; without farms, say so here.
		notes = append(notes, fmt.Sprintf("%d queue joins were refused by the card limit: their card held a place in the line already, for another account", joinRefusals))
	}
	if report.DroppedArrivals > 0 {
		notes = append(notes, fmt.Sprintf("%d open-loop arrivals were dropped because %d requests were already in flight: the service answered slower than the offered rate (or raise concurrency)",
			report.DroppedArrivals, r.cfg.Concurrency))
	}
	if report.QueueWait.P99Ms >= 1 {
		notes = append(notes, fmt.Sprintf("users' steps waited up to %.1f ms (p99) for one of the generator's %d workers after their time had come; latencies exclude that wait, but the service saw no more than %d of them at once (raise -concurrency to let more act together)",
			report.QueueWait.P99Ms, r.cfg.Concurrency, r.cfg.Concurrency))
	}
	if report.ArrivalLag.P99Ms >= 1 {
		notes = append(notes, fmt.Sprintf("open-loop arrivals went out up to %.1f ms (p99) after their scheduled time: the generator was short of CPU, and open-loop latencies include that lag",
			report.ArrivalLag.P99Ms))
	}
	if q := report.Queue; q != nil {
		notes = append(notes, queueNotes(q)...)
	}
	if report.OrderCheck.Sampled {
		notes = append(notes, fmt.Sprintf("orders were checked on a random sample of %d of %d", report.OrderCheck.Checked, report.OrderCheck.Orders))
	}
	if limited := report.ErrorCodes["rate_limited"]; report.TrafficRequests > 0 && limited*2 > report.TrafficRequests {
		notes = append(notes, fmt.Sprintf("%d answers were 429 rate_limited: all simulated users share one IP, so a per-IP limit (FLASHSALE_RATE_LIMIT_IP) throttles the whole run; set it to off to load the rest of the service", limited))
	}
	return notes
}
