package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/flashsale/flashsale/draw"
)

// The lottery's account and its checks: the published draw recomputed
// with package draw from its own data, the users' reads held to the order
// it gives, the winners' spread over the entry times, and the waves.

// maxEntriesList caps the body of a draw's entry list: a million ids of
// the service's length are about 30 MB.
const maxEntriesList = 1 << 30

// uniformityAlarm is the p-value below which the wins' spread over the
// entry-time deciles counts as a violation: a fair draw raises it once in
// ten thousand runs.
const uniformityAlarm = 1e-4

// LotteryReport is the lottery scenario's account. Times "after the close"
// count from entries_close; the waves' from it on the service's clock.
type LotteryReport struct {
	EntryWindowSeconds float64 `json:"entry_window_seconds"`
	// Entered counts the entries answered 201; Recovered first entries
	// answered 200 (an earlier try's whose answer was lost); Reentered the
	// second entries answered 200 with the first entry; EntriesClosed the
	// entries refused as entries_closed (sent after the close); Failed
	// those given up otherwise.
	Entered       int64 `json:"entered"`
	Recovered     int64 `json:"recovered"`
	Reentered     int64 `json:"reentered"`
	EntriesClosed int64 `json:"entries_closed"`
	Failed        int64 `json:"entries_failed"`
	// EntriesPerSecond is Entered over EntrySpanSeconds, from the first
	// entry sent to the last 201; EntryLatency is the 201s' latency.
	EntriesPerSecond float64        `json:"entries_per_second"`
	EntrySpanSeconds float64        `json:"entry_span_seconds"`
	EntryLatency     LatencySummary `json:"entry_latency"`
	// DrawAfterMs is from entries_close to the first draw document that
	// said drawn, read every DrawPollMs; null when none did in the run.
	DrawAfterMs *float64 `json:"draw_after_ms"`
	DrawPollMs  float64  `json:"draw_poll_ms"`
	// EntryCount is the published entries, Winners the draw's (first
	// total/per_user_limit of each item's order).
	EntryCount int64 `json:"entry_count"`
	Winners    int64 `json:"winners"`
	// Reservations counts the reservations the users read on their won
	// entries; AfterFirstWave those beyond the first wave.
	Reservations   int64         `json:"reservations"`
	AfterFirstWave int64         `json:"after_first_wave"`
	Waves          []LotteryWave `json:"waves"`
	// Cancelled counts the winners who cancelled (CancelFailed: tried
	// and were refused); the payers and walkers are Report.Payments.
	Cancelled    int64 `json:"cancelled"`
	CancelFailed int64 `json:"cancel_failed"`
	// Lost read lost; StillWaitlisted last read waitlisted when the
	// traffic ended (once every unit is paid for, the run ends and they
	// have lost, unread); NoResult entered but never read a result.
	Lost            int64               `json:"lost"`
	StillWaitlisted int64               `json:"still_waitlisted"`
	NoResult        int64               `json:"no_result"`
	Verification    LotteryVerification `json:"verification"`
	Uniformity      Uniformity          `json:"uniformity"`
}

// LotteryWave is one wave of reservations: those made from Wave-1 to Wave
// TTLs after the draw's, on the service's clock (lotteryWaves), and what
// became of them as the final look-ups read. StartMs and EndMs are its
// first and last reservation, after entries_close.
type LotteryWave struct {
	Wave         int     `json:"wave"`
	StartMs      float64 `json:"start_ms"`
	EndMs        float64 `json:"end_ms"`
	Reservations int64   `json:"reservations"`
	// Units reserved; Sold of them confirmed; the reservations
	// Cancelled, Expired, or still Open (reserved, paying) at the end.
	Units     int64 `json:"units"`
	Sold      int64 `json:"sold"`
	Cancelled int64 `json:"cancelled"`
	Expired   int64 `json:"expired"`
	Open      int64 `json:"open"`
}

// LotteryVerification is the published draw held to itself and to what
// the users read.
type LotteryVerification struct {
	// Verified: every item's draw recomputed (draw.Verify: the seed
	// against the commitment read at the opening, the listed entries
	// against their digest and count) and every check below passed.
	Verified bool   `json:"verified"`
	Error    string `json:"error,omitempty"`
	Items    int    `json:"items"`
	// CommitmentReadAtOpening says whether the commitment checked was
	// read when the entries opened (else only the final document's).
	CommitmentReadAtOpening bool `json:"commitment_read_at_opening"`
	// UsersChecked had an entry the draw lists; RankReads of them read a
	// waitlist rank, each held to its place in the order; WonReads read
	// won; Mismatches is every read the order contradicts.
	UsersChecked int   `json:"users_checked"`
	RankReads    int64 `json:"rank_reads"`
	WonReads     int64 `json:"won_reads"`
	Mismatches   int64 `json:"mismatches"`
	// UsersWithOneEntry read exactly one entry of theirs.
	UsersWithOneEntry int64 `json:"users_with_one_entry"`
}

// Uniformity is a chi-square test of the users who won (in any wave) over
// the deciles of entry time: a fair draw's winners fall in each decile in
// proportion.
type Uniformity struct {
	Tested    bool      `json:"tested"`
	Note      string    `json:"note,omitempty"`
	Wins      []int64   `json:"wins"`
	Expected  []float64 `json:"expected"`
	ChiSquare float64   `json:"chi_square"`
	DF        int       `json:"df"`
	PValue    float64   `json:"p_value"`
}

// verifyLottery assembles the lottery's account and returns the
// violations its checks found.
func (r *run) verifyLottery(ctx context.Context, lookup orderLookup) (*LotteryReport, []string) {
	l := r.lottery
	l.mu.Lock()
	rep := &LotteryReport{
		EntryWindowSeconds: r.sale.entriesClose.Sub(r.sale.entriesOpen).Seconds(),
		Entered:            l.entered, Recovered: l.recovered, Reentered: l.reentered, EntriesClosed: l.closed, Failed: l.failed,
		Cancelled: l.cancelled, CancelFailed: l.cancelFailed, DrawPollMs: ms(drawPollInterval),
	}
	if l.entered > 0 && l.lastEntry.After(l.firstSend) {
		rep.EntrySpanSeconds = l.lastEntry.Sub(l.firstSend).Seconds()
		rep.EntriesPerSecond = float64(l.entered) / rep.EntrySpanSeconds
	}
	if !l.drawnAt.IsZero() {
		rep.DrawAfterMs = msPointer(l.drawnAt.Sub(r.sale.entriesClose))
	}
	commitment := l.commitment
	var violations []string
	for kind, v := range l.violations {
		violations = append(violations, fmt.Sprintf("%s: %d time(s), e.g. %s", kind, v.count, v.example))
	}
	l.mu.Unlock()
	rep.EntryLatency = r.rec.outcomeSummary(endpointEnter, "201")

	var users []*simUser
	for _, u := range r.users {
		if e := u.lottery; e != nil && e.id != "" {
			users = append(users, u)
			switch {
			case e.entries == 1:
				rep.Verification.UsersWithOneEntry++
			case e.entries > 1:
				violations = append(violations, fmt.Sprintf("user %s read %d entries of theirs: one entry per user per item, and each user entered one item", u.id, e.entries))
			}
			switch {
			case e.lost:
				rep.Lost++
			case e.orderID == "" && e.rank > 0:
				rep.StillWaitlisted++
			case e.firstResult == "":
				rep.NoResult++
			}
		}
	}
	rep.Waves, rep.Reservations = r.lotteryWaves(lookup)
	if len(rep.Waves) > 0 {
		rep.AfterFirstWave = rep.Reservations - rep.Waves[0].Reservations
	}

	if time.Now().Before(r.sale.entriesClose) {
		rep.Verification.Error = "the run ended before the entries closed: there is no draw to check"
		rep.Uniformity.Note = "not tested: no draw"
		return rep, violations
	}
	doc, err := r.awaitDraw(ctx)
	if err != nil {
		rep.Verification.Error = err.Error()
		rep.Uniformity.Note = "not tested: no draw"
		if errors.Is(err, errRateLimited) {
			r.ledger.note("the draw was not checked: " + err.Error())
			return rep, violations
		}
		return rep, append(violations, "the draw could not be checked: "+err.Error())
	}
	rep.Verification.CommitmentReadAtOpening = commitment != ""
	if commitment == "" {
		commitment = doc.Commitment
	} else if doc.Commitment != commitment {
		violations = append(violations, fmt.Sprintf("the draw's commitment changed from %s at the opening to %s", commitment, doc.Commitment))
	}
	check := lotteryCheck{uniformity: newDeciles()}
	for i, item := range r.sale.items {
		var published *struct {
			ItemID        string `json:"item_id"`
			EntriesDigest string `json:"entries_digest"`
			EntryCount    int    `json:"entry_count"`
			EntriesURL    string `json:"entries_url"`
		}
		for k := range doc.Items {
			if doc.Items[k].ItemID == item.id {
				published = &doc.Items[k]
			}
		}
		if published == nil {
			violations = append(violations, fmt.Sprintf("the drawn document has no draw for item %s", item.id))
			continue
		}
		resp := r.checkRequest(ctx, request{endpoint: endpointDrawEntries, method: http.MethodGet, path: pathOf(published.EntriesURL), maxBody: maxEntriesList})
		if resp.status == http.StatusTooManyRequests {
			rep.Verification.Error = fmt.Sprintf("item %s: the draw's entries were not read: %v", item.id, errRateLimited)
			r.ledger.note(rep.Verification.Error)
			continue
		}
		if resp.status != http.StatusOK {
			violations = append(violations, fmt.Sprintf("item %s: the draw's entries could not be read: %s", item.id, describe(resp)))
			continue
		}
		ids := splitLines(resp.body)
		order, err := draw.Verify(draw.Published{Commitment: commitment, Seed: doc.Seed, EntriesDigest: published.EntriesDigest,
			EntryCount: published.EntryCount, Entries: ids})
		if err != nil {
			violations = append(violations, fmt.Sprintf("item %s: the published draw does not verify: %v", item.id, err))
			continue
		}
		rep.Verification.Items++
		rep.EntryCount += int64(len(ids))
		winners := min(r.winners(i), int64(len(order)))
		rep.Winners += winners
		var ours []*simUser
		for _, u := range users {
			if u.lottery.item == i {
				ours = append(ours, u)
			}
		}
		if r.sale.created && len(ids) != len(ours) {
			violations = append(violations, fmt.Sprintf("item %s: the draw lists %d entries, but the run's users made %d", item.id, len(ids), len(ours)))
		}
		violations = append(violations, check.item(item.id, order, winners, ours, func(orderID string) (time.Time, bool) {
			o, ok := lookup.orders[orderID]
			return o.ReservedAt.Add(-r.skew), ok && !o.ReservedAt.IsZero()
		})...)
	}
	rep.Verification.UsersChecked, rep.Verification.RankReads, rep.Verification.WonReads, rep.Verification.Mismatches =
		check.users, check.rankReads, check.wonReads, check.mismatches
	rep.Verification.Verified = rep.Verification.Items == len(r.sale.items) && len(violations) == 0
	rep.Uniformity = check.uniformity.test()
	if rep.Uniformity.Tested && rep.Uniformity.PValue < uniformityAlarm {
		violations = append(violations, fmt.Sprintf("the draw's winners depend on the entry time: chi-square %.1f over %d deciles, p = %.2g", rep.Uniformity.ChiSquare, len(rep.Uniformity.Wins), rep.Uniformity.PValue))
	}
	return rep, violations
}

// awaitDraw reads the draw document until it says drawn: a large draw may
// still be running when the traffic ends. It gives up after 30 s.
func (r *run) awaitDraw(ctx context.Context) (drawDocument, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		doc, err := r.readDraw(ctx)
		switch {
		case err == nil && doc.Status == "drawn":
			return doc, nil
		case time.Now().After(deadline) || ctx.Err() != nil:
			if err != nil {
				return drawDocument{}, fmt.Errorf("the draw document could not be read %v after the close: %w", time.Since(r.sale.entriesClose).Round(time.Second), err)
			}
			return drawDocument{}, fmt.Errorf("the draw document still says %q %v after the close", doc.Status, time.Since(r.sale.entriesClose).Round(time.Second))
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// splitLines returns the lines of body, without the last one's newline.
func splitLines(body []byte) []string {
	var lines []string
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if len(line) > 0 {
			lines = append(lines, string(line))
		}
	}
	return lines
}

// lotteryCheck holds the users' reads to each item's draw order.
type lotteryCheck struct {
	users                           int
	rankReads, wonReads, mismatches int64
	uniformity                      *deciles
}

// item checks one item's order against what the users who entered it
// read: a waitlist rank is the entry's place after the winners; a draw
// winner never reads waitlisted or lost; the waitlist's reservations go in
// draw order, so no entry reads waitlisted after one behind it read won,
// and none reads lost ahead of one that won. It also counts the users who
// won by entry time for the uniformity test.
//
// A wave's awards are written side by side, so one of them may be seen
// won a moment before another of the same wave, ahead of it, stops
// reading waitlisted. That is not a contradiction: an entry was reached
// once its reservation was made (reservedAt, the service's reserved_at
// on the generator's clock), and a wave makes all its reservations
// before any award. So a waitlisted read counts against a win only if it
// was sent after the win was seen and the entry had not been reached by
// then.
func (c *lotteryCheck) item(itemID string, order []string, winners int64, users []*simUser, reservedAt func(orderID string) (time.Time, bool)) []string {
	place := make(map[string]int, len(order))
	for p, id := range order {
		place[id] = p
	}
	// At each place, until when the user's waitlisted reads count
	// against a win seen before (the last one sent, or the entry's
	// reservation if that came sooner), and whether the user read lost.
	lastWaitlisted := make([]time.Time, len(order))
	lost := make([]bool, len(order))
	type won struct {
		place int
		seen  time.Time
	}
	var wins []won
	var missing, mismatches []string
	var listed []*simUser
	for _, u := range users {
		e := u.lottery
		p, ok := place[e.id]
		if !ok {
			missing = append(missing, e.id)
			continue
		}
		c.users++
		listed = append(listed, u)
		if e.rank > 0 {
			c.rankReads++
			if want := int64(p) + 1 - winners; want != e.rank {
				mismatches = append(mismatches, fmt.Sprintf("user %s read waitlist rank %d, but the entry is %d in the published order, rank %d", u.id, e.rank, p+1, want))
			}
			lastWaitlisted[p] = e.lastWaitlisted
		}
		if e.rankChanged {
			mismatches = append(mismatches, fmt.Sprintf("user %s read two waitlist ranks (a place in the draw order never changes)", u.id))
		}
		if e.lost {
			lost[p] = true
			if int64(p) < winners {
				mismatches = append(mismatches, fmt.Sprintf("user %s read lost, but the entry is %d in the published order, a winner", u.id, p+1))
			}
		}
		if e.orderID != "" {
			c.wonReads++
			wins = append(wins, won{p, e.wonSeen})
			if reached, ok := reservedAt(e.orderID); ok && reached.Before(lastWaitlisted[p]) {
				lastWaitlisted[p] = reached
			}
		}
	}
	sort.Slice(wins, func(i, j int) bool { return wins[i].place < wins[j].place })
	// Walk the order once: the latest waitlisted read and any lost read
	// ahead of each win.
	var latest time.Time
	lostAhead := -1
	next := 0
	for _, w := range wins {
		for ; next < w.place; next++ {
			if lastWaitlisted[next].After(latest) {
				latest = lastWaitlisted[next]
			}
			if lost[next] && lostAhead < 0 {
				lostAhead = next
			}
		}
		if int64(w.place) >= winners && latest.After(w.seen) {
			mismatches = append(mismatches, fmt.Sprintf("the entry %d in the published order won while an entry ahead of it still read waitlisted", w.place+1))
		}
		if lostAhead >= 0 {
			mismatches = append(mismatches, fmt.Sprintf("the entry %d in the published order won, but the entry %d, ahead of it, read lost", w.place+1, lostAhead+1))
		}
	}
	c.mismatches += int64(len(mismatches))
	c.uniformity.add(listed)

	var violations []string
	if len(missing) > 0 {
		violations = append(violations, fmt.Sprintf("item %s: %d of the users' entries are not in the published list, e.g. %s", itemID, len(missing), missing[0]))
	}
	if len(mismatches) > 0 {
		violations = append(violations, fmt.Sprintf("item %s: %d read(s) contradict the published draw order, e.g. %s", itemID, len(mismatches), mismatches[0]))
	}
	return violations
}

// deciles counts the users who won (read won, in any wave) and the
// entries by decile of entry time, over every item (each item's entries
// cut into its own deciles). The wins the users read are what the test
// holds to uniformity, not the published order's first places: a service
// could publish a fair order and award another. Under a fair draw every
// wave's winners are a prefix of a uniformly random order, so their entry
// times are those of a uniform sample of the entrants.
type deciles struct {
	wins    [10]int64
	entries [10]int64
	winners int64
}

func newDeciles() *deciles { return &deciles{} }

// add counts one item's listed users: sorted by entered_at (the service's
// clock; ties by entry id), cut into tenths, each win in its tenth.
func (d *deciles) add(users []*simUser) {
	sorted := append([]*simUser(nil), users...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i].lottery, sorted[j].lottery
		if !a.enteredAt.Equal(b.enteredAt) {
			return a.enteredAt.Before(b.enteredAt)
		}
		return a.id < b.id
	})
	for i, u := range sorted {
		decile := i * 10 / len(sorted)
		d.entries[decile]++
		if u.lottery.orderID != "" {
			d.wins[decile]++
			d.winners++
		}
	}
}

// test is the chi-square test of the wins against the entries' shares,
// with 9 degrees of freedom. It needs 5 wins expected in every decile, the
// usual rule for the chi-square approximation.
func (d *deciles) test() Uniformity {
	u := Uniformity{Wins: d.wins[:], Expected: make([]float64, 10), DF: 9}
	var total int64
	for _, n := range d.entries {
		total += n
	}
	if total == 0 {
		u.Note = "no entries to test"
		return u
	}
	lowest := math.Inf(1)
	for i := range d.wins {
		u.Expected[i] = float64(d.winners) * float64(d.entries[i]) / float64(total)
		lowest = min(lowest, u.Expected[i])
		if u.Expected[i] > 0 {
			diff := float64(d.wins[i]) - u.Expected[i]
			u.ChiSquare += diff * diff / u.Expected[i]
		}
	}
	if lowest < 5 {
		u.Note = fmt.Sprintf("not tested: %d winners expect %.1f in the smallest decile, fewer than the 5 the chi-square test needs", d.winners, lowest)
		return u
	}
	u.Tested = true
	u.PValue = chiSquareSurvival(u.ChiSquare, float64(u.DF))
	return u
}

// chiSquareSurvival is P(X > x) for X chi-square with k degrees of freedom:
// the regularized upper incomplete gamma Q(k/2, x/2).
func chiSquareSurvival(x, k float64) float64 {
	if x <= 0 {
		return 1
	}
	a, z := k/2, x/2
	lg, _ := math.Lgamma(a)
	prefix := math.Exp(-z + a*math.Log(z) - lg)
	if z < a+1 {
		// The series of the lower gamma P(a, z), then Q = 1 - P.
		sum, term := 1/a, 1/a
		for n := 1; n < 1000 && term > sum*1e-15; n++ {
			term *= z / (a + float64(n))
			sum += term
		}
		return max(1-prefix*sum, 0)
	}
	// Lentz's continued fraction for Q(a, z).
	const tiny = 1e-300
	b := z + 1 - a
	c, dd := 1/tiny, 1/b
	h := dd
	for i := 1; i < 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		dd = an*dd + b
		if math.Abs(dd) < tiny {
			dd = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		dd = 1 / dd
		step := dd * c
		h *= step
		if math.Abs(step-1) < 1e-15 {
			break
		}
	}
	return prefix * h
}

// lotteryWaves groups the reservations the users read into waves by the
// service's reserved_at, as the final look-ups read them: wave k holds the
// reservations made from k-1 to k TTLs after the first one (the draw's).
// A reservation not paid returns its unit when it expires, one TTL after
// it was made, and the waitlist's next entry gets it at the leader's next
// tick: in the next wave. A cancel returns it sooner, to a reservation in
// the same wave. Waves in which nothing was reserved are left out.
func (r *run) lotteryWaves(lookup orderLookup) ([]LotteryWave, int64) {
	r.ledger.mu.Lock()
	var orders []orderView
	for id := range r.ledger.orders {
		if o, ok := lookup.orders[id]; ok {
			orders = append(orders, o)
		}
	}
	total := int64(len(r.ledger.orders))
	r.ledger.mu.Unlock()
	if len(orders) == 0 {
		return nil, total
	}
	sort.Slice(orders, func(i, j int) bool { return orders[i].ReservedAt.Before(orders[j].ReservedAt) })
	period := max(r.cfg.ReservationTTL, time.Second)
	first := orders[0].ReservedAt
	closed := r.sale.entriesClose.Add(r.skew) // on the service's clock
	var waves []LotteryWave
	for _, o := range orders {
		wave := int(o.ReservedAt.Sub(first)/period) + 1
		if len(waves) == 0 || waves[len(waves)-1].Wave != wave {
			waves = append(waves, LotteryWave{Wave: wave, StartMs: ms(o.ReservedAt.Sub(closed))})
		}
		w := &waves[len(waves)-1]
		w.EndMs = ms(o.ReservedAt.Sub(closed))
		w.Reservations++
		units := max(o.Quantity, 1)
		w.Units += units
		switch o.Status {
		case "confirmed":
			w.Sold += units
		case "cancelled":
			w.Cancelled++
		case "expired":
			w.Expired++
		default:
			w.Open++
		}
	}
	return waves, total
}
