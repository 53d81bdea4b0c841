package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a Run. Latencies are in milliseconds; times
// "after" something count from the start of traffic, which for the herd, bots
// and soak scenarios is the sale's start, and for a run through a waiting
// room (queue, farm with one) the opening of the sale's line.
type Report struct {
	Scenario string         `json:"scenario"`
	BaseURL  string         `json:"base_url"`
	Seed     uint64         `json:"seed"`
	RunID    string         `json:"run_id"`
	Settings map[string]any `json:"settings"`

	SaleID string `json:"sale_id"`
	// CreatedSale is false when the run targeted an existing sale.
	CreatedSale bool     `json:"created_sale"`
	ItemIDs     []string `json:"item_ids"`
	TotalUnits  int64    `json:"total_units"`
	Users       int      `json:"users"`
	Bots        int      `json:"bots"`
	// BotShareOfUsers is Bots over Users, to set against the bots' share
	// of the reservations.
	BotShareOfUsers float64 `json:"bot_share_of_users"`

	TrafficStart   time.Time `json:"traffic_start"`
	TrafficSeconds float64   `json:"traffic_seconds"`
	StopReason     string    `json:"stop_reason"`

	// TrafficRequests counts the answered requests of the traffic phase;
	// Throughput is them per second.
	TrafficRequests int64   `json:"traffic_requests"`
	Throughput      float64 `json:"throughput_rps"`
	// PlaceOrderAttempts counts place-order requests sent (MaxAttempts
	// bounds them).
	PlaceOrderAttempts int64 `json:"place_order_attempts"`
	// DroppedArrivals counts open-loop arrivals not sent because
	// Concurrency requests were already in flight: the server was slower
	// than the offered rate.
	DroppedArrivals int64 `json:"dropped_arrivals"`
	// UnusedArrivals counts open-loop herd arrivals that found no person
	// ready to press (all pressing, backing off or done): the offered
	// rate is sent + dropped + unused arrivals.
	UnusedArrivals int64 `json:"unused_arrivals"`
	// Canceled counts requests cut short when the traffic phase ended; they
	// are in no latency figure.
	Canceled int64 `json:"canceled"`
	// WarmConnections counts the connections opened before the traffic
	// and kept for it (each carried a GET /healthz, in no figure), as a
	// crowd's browsers and load balancers hold theirs before a start.
	WarmConnections int `json:"warm_connections"`

	// Reservations counts distinct orders acknowledged with 201, by bots and
	// by people; Purchases counts the confirmed payments.
	Reservations Split `json:"reservations"`
	Purchases    Split `json:"purchases"`
	// RecoveredReservations counts orders first seen in a 200 (an existing
	// reservation returned to a retry whose first answer was lost).
	RecoveredReservations int64         `json:"recovered_reservations"`
	Payments              PaymentCounts `json:"payments"`
	SellOut               SellOut       `json:"sell_out"`

	Endpoints []EndpointReport `json:"endpoints"`
	// QueueWait is how long users' steps (presses, retries, polls,
	// payments) waited for one of the generator's Concurrency workers after
	// their time had come. Latencies exclude it (a real user does not queue
	// behind other users' browsers); a large figure means more users were
	// due at once than the generator had workers, so the service saw at
	// most Concurrency of them at a time.
	QueueWait LatencySummary `json:"queue_wait"`
	// ArrivalLag is how late open-loop arrivals went out after their
	// scheduled time (empty in closed loop). Their latency includes it, as
	// it must to avoid coordinated omission; a large figure means the
	// generator was short of CPU.
	ArrivalLag LatencySummary `json:"arrival_lag"`
	// StatusCounts and ErrorCodes count every answer by HTTP status
	// ("error" for transport failures) and by error code.
	StatusCounts map[string]int64 `json:"status_counts"`
	ErrorCodes   map[string]int64 `json:"error_codes"`
	Timeline     []TimelineSecond `json:"timeline"`

	// Queue is the waiting room's account (queue scenario only).
	Queue *QueueReport `json:"queue,omitempty"`
	// Farm is the farms' account (farm scenario, and lottery with farms).
	Farm *FarmReport `json:"farm,omitempty"`
	// Challenges is the challenges' account (a created sale that asks
	// them only).
	Challenges *ChallengeReport `json:"challenges,omitempty"`
	// Lottery is the lottery's account (lottery scenario only).
	Lottery *LotteryReport `json:"lottery,omitempty"`

	// FinalStats is the sale's admin stats read after the traffic phase.
	FinalStats  *SaleStats `json:"final_stats"`
	OrderCheck  OrderCheck `json:"order_check"`
	Violations  []string   `json:"violations"`
	Notes       []string   `json:"notes"`
	GeneratedAt time.Time  `json:"generated_at"`
}

// OK reports whether every invariant held.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// Split divides a count between bots, farm accounts (farm scenario) and
// people.
type Split struct {
	Bots   int64 `json:"bots"`
	Farms  int64 `json:"farms"`
	People int64 `json:"people"`
	// BotShare and FarmShare are Bots and Farms over the total (0 when
	// there is none).
	BotShare  float64 `json:"bot_share"`
	FarmShare float64 `json:"farm_share"`
}

func newSplit(s split) Split {
	out := Split{Bots: s.bots, Farms: s.farms, People: s.people}
	if total := s.total(); total > 0 {
		out.BotShare = float64(s.bots) / float64(total)
		out.FarmShare = float64(s.farms) / float64(total)
	}
	return out
}

func (s split) total() int64 { return s.bots + s.farms + s.people }

// total is the count of everyone.
func (s Split) total() int64 { return s.Bots + s.Farms + s.People }

// machines says how many of s are bots, and farm accounts when there are
// any: "bots 3", or "bots 3, farm accounts 10".
func (s Split) machines() string {
	if s.Farms == 0 {
		return fmt.Sprintf("bots %d", s.Bots)
	}
	return fmt.Sprintf("bots %d, farm accounts %d", s.Bots, s.Farms)
}

// FarmReport is the farm scenario's account: the people, the farms among
// them, and what the farms won against their share of the people. An
// operator is one person however many accounts it runs: that is the share
// a fair sale would give it.
type FarmReport struct {
	// Humans and Bots are the people with one account each; Operators run
	// AccountsPerOperator accounts each, Accounts in all.
	Humans              int `json:"humans"`
	Bots                int `json:"bots"`
	Operators           int `json:"operators"`
	AccountsPerOperator int `json:"accounts_per_operator"`
	Accounts            int `json:"accounts"`
	// CardLimit is the sale's per_card limit as the service showed it; 0
	// when it has none.
	CardLimit int64 `json:"card_limit"`
	// Confirmed counts the units paid for by humans, bots and farm
	// accounts.
	Confirmed Split `json:"confirmed"`
	// ShareOfPeople is Operators over all the people (humans, bots and
	// operators); ShareOfUnits is the farms' share of the confirmed
	// units; Ratio is ShareOfUnits over ShareOfPeople (1: a fair share;
	// 0 without operators).
	ShareOfPeople float64 `json:"share_of_people"`
	ShareOfUnits  float64 `json:"share_of_units"`
	Ratio         float64 `json:"ratio"`
	// OperatorsWhoBought paid for at least one unit; MostByOneOperator
	// is the most units one operator's accounts paid for together.
	OperatorsWhoBought int   `json:"operators_who_bought"`
	MostByOneOperator  int64 `json:"most_by_one_operator"`
	// CardLimitRefusals counts the payments the card limit refused, of
	// farm accounts (Farms) and of the others; their reservations were
	// left to expire.
	CardLimitRefusals Split `json:"card_limit_refusals"`
	// JoinCardLimitRefusals counts the joins of the waiting room's line
	// the card limit refused, of farm accounts (Farms) and of the others:
	// their card held a place already, for another account, and they got
	// none (farm scenario with a waiting room only).
	JoinCardLimitRefusals *Split `json:"join_card_limit_refusals,omitempty"`
	// Lottery is the farms' entries and wins (lottery scenario only).
	Lottery *FarmLottery `json:"lottery,omitempty"`
}

// newFarmReport sets the farms' confirmed units against their share of the
// people; unitsByOperator holds each operator's confirmed units.
func newFarmReport(humans, bots, perOperator int, cardLimit int64, confirmed, refusals split, unitsByOperator []int64) *FarmReport {
	operators := len(unitsByOperator)
	f := &FarmReport{
		Humans: humans, Bots: bots, Operators: operators, AccountsPerOperator: perOperator, Accounts: operators * perOperator,
		CardLimit: cardLimit, Confirmed: newSplit(confirmed), CardLimitRefusals: newSplit(refusals),
	}
	if people := humans + bots + operators; people > 0 {
		f.ShareOfPeople = float64(operators) / float64(people)
	}
	f.ShareOfUnits = f.Confirmed.FarmShare
	if f.ShareOfPeople > 0 {
		f.Ratio = f.ShareOfUnits / f.ShareOfPeople
	}
	for _, units := range unitsByOperator {
		if units > 0 {
			f.OperatorsWhoBought++
		}
		f.MostByOneOperator = max(f.MostByOneOperator, units)
	}
	return f
}

// PaymentCounts says what the winners did.
type PaymentCounts struct {
	Confirmed int64 `json:"confirmed"`
	// Abandoned winners walked away (PayProbability); their reservations
	// expire after the TTL.
	Abandoned int64 `json:"abandoned"`
	// Failed counts payments answered otherwise than 200 (after retries).
	Failed int64 `json:"failed"`
	// Unfinished counts payments the end of the traffic phase cut off.
	Unfinished int64 `json:"unfinished"`
	// CardLimitRefused counts payments refused because their card had
	// paid for the sale's per_card units already (409
	// purchase_limit_exceeded); the reservations were left to expire.
	CardLimitRefused int64 `json:"card_limit_refused"`
}

// SellOut tells how fast the stock went. An item's sell-out time is when
// the first sold_out answer for it arrived: from then on the service says the
// item is gone (walked-away units come back only after the TTL).
type SellOut struct {
	AllItemsSoldOut bool `json:"all_items_sold_out"`
	// AfterMs is when the last item to sell out did; null unless all did.
	AfterMs *float64 `json:"after_ms"`
	// LastReservationAfterMs is when the last 201 arrived.
	LastReservationAfterMs *float64      `json:"last_reservation_after_ms"`
	Items                  []ItemSellOut `json:"items"`
}

// ItemSellOut is one item's sell-out figures.
type ItemSellOut struct {
	ItemID       string   `json:"item_id"`
	Total        int64    `json:"total"`
	Reservations int64    `json:"reservations"`
	Confirmed    int64    `json:"confirmed"`
	SoldOutAfter *float64 `json:"sold_out_after_ms"`
}

// LatencySummary is a latency distribution in milliseconds.
type LatencySummary struct {
	Count  int64   `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func summarize(h *Histogram) LatencySummary {
	return LatencySummary{
		Count: h.Count(), MeanMs: ms(h.Mean()),
		P50Ms: ms(h.Quantile(0.5)), P90Ms: ms(h.Quantile(0.9)), P99Ms: ms(h.Quantile(0.99)),
		P999Ms: ms(h.Quantile(0.999)), MaxMs: ms(h.Max()),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func msPointer(d time.Duration) *float64 {
	v := ms(d)
	return &v
}

// EndpointReport is one endpoint's latency over all answers, and per
// outcome.
type EndpointReport struct {
	Endpoint string `json:"endpoint"`
	LatencySummary
	// LatencyBoundsMs bound the buckets of the outcomes' LatencyCounts:
	// bucket i holds the latencies from LatencyBoundsMs[i] up to
	// LatencyBoundsMs[i+1], each bucket a tenth of a power of ten, from
	// the fastest answer's bucket to the slowest's.
	LatencyBoundsMs []float64       `json:"latency_bounds_ms"`
	Outcomes        []OutcomeReport `json:"outcomes"`
}

// OutcomeReport is the latency of one kind of answer: a status and error
// code ("409 sold_out"), or a class of transport error ("error timeout").
type OutcomeReport struct {
	Outcome string `json:"outcome"`
	Status  int    `json:"status"`
	Code    string `json:"code,omitempty"`
	LatencySummary
	// LatencyCounts counts the answers in the endpoint's latency buckets.
	LatencyCounts []int64 `json:"latency_counts"`
}

// Latency buckets are of equal width on a log scale, as latencies span
// orders of magnitude. Ten to a power of ten, each 26 % wide, are fine
// enough to show a second mode; and far wider than the histograms' 0.1 %
// value ranges, each counted in the bucket of its lowest value, they misplace
// a sample only within 0.1 % of a bound.
const latencyBucketsPerDecade = 10

// latencyBucket returns the bucket holding a latency: bucket k holds
// 10^(k/10) µs up to the next bucket. Latencies under 1 µs, failures that
// sent nothing, count in bucket 0.
func latencyBucket(micros int64) int {
	return int(math.Floor(math.Log10(float64(max(micros, 1))) * latencyBucketsPerDecade))
}

// latencyBucketBoundMs returns the lowest latency of bucket k.
func latencyBucketBoundMs(k int) float64 {
	return math.Pow(10, float64(k)/latencyBucketsPerDecade) / 1000
}

// TimelineSecond is one second of the traffic phase, by completion time.
type TimelineSecond struct {
	Second       int     `json:"second"`
	Requests     int64   `json:"requests"`
	Reservations int64   `json:"reservations"`
	Paid         int64   `json:"paid"` // payments answered 200, one an order
	SoldOut      int64   `json:"sold_out"`
	Rejected     int64   `json:"rejected"` // 429 and 503
	Errors       int64   `json:"errors"`   // transport errors and other 5xx
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
}

// SaleStats is GET /admin/flash-sales/{id}/stats.
type SaleStats struct {
	SaleID string      `json:"sale_id"`
	Items  []ItemStats `json:"items"`
}

// ItemStats is one item of SaleStats.
type ItemStats struct {
	ItemID     string           `json:"item_id"`
	Total      int64            `json:"total"`
	Available  int64            `json:"available"`
	Reserved   int64            `json:"reserved"`
	Sold       int64            `json:"sold"`
	Attempts   int64            `json:"attempts"`
	Rejections map[string]int64 `json:"rejections,omitempty"`
}

// OrderCheck is the result of looking up acknowledged orders at the end.
type OrderCheck struct {
	// Orders is the number of distinct orders the service acknowledged (201
	// or 200); Checked were looked up: all of them up to 20,000, else a
	// random sample of 20,000 (Sampled).
	Orders  int  `json:"orders"`
	Checked int  `json:"checked"`
	Sampled bool `json:"sampled"`
	Found   int  `json:"found"`
	Missing int  `json:"missing"`
	// Unverified could not be looked up (errors past retries).
	Unverified int `json:"unverified"`
	// RateLimited were not looked up: the service's rate limits refused
	// their look-ups until the checks' time ran out. Unlike Unverified,
	// no violation: nothing was learnt of them.
	RateLimited int `json:"rate_limited"`
	// ByStatus counts the checked orders by their current status.
	ByStatus map[string]int `json:"by_status"`
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	encoder := json.NewEncoder(w)
	encoder.SetIndent("", "  ")
	return encoder.Encode(r)
}

// WriteText writes a short human summary: the verdict, the headline figures
// and the latency table.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	verdict := "OK: every invariant held"
	if !r.OK() {
		verdict = fmt.Sprintf("FAILED: %d invariant violation(s)", len(r.Violations))
	}
	fmt.Fprintf(&b, "%s scenario against %s, sale %s: %s\n", r.Scenario, r.BaseURL, r.SaleID, verdict)
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "  VIOLATION: %s\n", v)
	}
	fmt.Fprintf(&b, "traffic %.1fs (%s): %d requests, %.0f/s; %d place-order attempts, %d dropped and %d unused arrivals; %d connections opened before it\n",
		r.TrafficSeconds, r.StopReason, r.TrafficRequests, r.Throughput, r.PlaceOrderAttempts, r.DroppedArrivals, r.UnusedArrivals, r.WarmConnections)
	farms, farmPurchases := "", ""
	if r.Farm != nil {
		farms, farmPurchases = fmt.Sprintf(", farm accounts %d", r.Reservations.Farms), fmt.Sprintf(", farms %d", r.Purchases.Farms)
	}
	fmt.Fprintf(&b, "reservations %d of %d units (bots %d%s, people %d; bots are %d of %d users); purchases %d (bots %d%s)\n",
		r.Reservations.Bots+r.Reservations.Farms+r.Reservations.People, r.TotalUnits, r.Reservations.Bots, farms, r.Reservations.People,
		r.Bots, r.Users, r.Purchases.Bots+r.Purchases.Farms+r.Purchases.People, r.Purchases.Bots, farmPurchases)
	if r.Bots > 0 {
		fmt.Fprintf(&b, "bots are %.1f %% of the users and took %.1f %% of the reservations (%.1f x their share)\n",
			100*r.BotShareOfUsers, 100*r.Reservations.BotShare, r.Reservations.BotShare/r.BotShareOfUsers)
	}
	if r.SellOut.AfterMs != nil {
		fmt.Fprintf(&b, "sold out after %.0f ms\n", *r.SellOut.AfterMs)
	}
	if q := r.Queue; q != nil {
		writeQueueText(&b, q)
	}
	if f := r.Farm; f != nil {
		writeFarmText(&b, f)
	}
	if l := r.Lottery; l != nil {
		writeLotteryText(&b, l, r.Payments)
	}
	if c := r.Challenges; c != nil {
		writeChallengeText(&b, c, challengedRequests(r))
	}
	fmt.Fprintf(&b, "generator delays (not the service's): queue wait for a worker p99 %.2f ms, open-loop arrival lag p99 %.2f ms\n",
		r.QueueWait.P99Ms, r.ArrivalLag.P99Ms)
	fmt.Fprintf(&b, "orders checked %d of %d (found %d, missing %d, unverified %d, refused by rate limits %d)\n",
		r.OrderCheck.Checked, r.OrderCheck.Orders, r.OrderCheck.Found, r.OrderCheck.Missing, r.OrderCheck.Unverified, r.OrderCheck.RateLimited)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\toutcome\tcount\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\t")
	for _, ep := range r.Endpoints {
		for _, o := range ep.Outcomes {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", ep.Endpoint, o.Outcome, o.Count, o.P50Ms, o.P90Ms, o.P99Ms, o.P999Ms, o.MaxMs)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, note := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", note)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFarmText(b *strings.Builder, f *FarmReport) {
	limit := "no card limit"
	if f.CardLimit > 0 {
		limit = fmt.Sprintf("card limit per_card %d", f.CardLimit)
	}
	fmt.Fprintf(b, "farms: %d operators (%.1f %% of %d people: %d humans, %d bots, %d operators) ran %d accounts, %d each, one card and one device per operator; %s\n",
		f.Operators, 100*f.ShareOfPeople, f.Humans+f.Bots+f.Operators, f.Humans, f.Bots, f.Operators, f.Accounts, f.AccountsPerOperator, limit)
	c := f.Confirmed
	fmt.Fprintf(b, "confirmed units: farms %d, humans %d, bots %d; farms won %.1f %% of them with %.1f %% of the people (%.1f x their share); %d of %d operators bought, at most %d each\n",
		c.Farms, c.People, c.Bots, 100*f.ShareOfUnits, 100*f.ShareOfPeople, f.Ratio, f.OperatorsWhoBought, f.Operators, f.MostByOneOperator)
	fmt.Fprintf(b, "refused by the card limit: %d payments (farm accounts %d, others %d), their reservations left to expire\n",
		f.CardLimitRefusals.Farms+f.CardLimitRefusals.Bots+f.CardLimitRefusals.People, f.CardLimitRefusals.Farms, f.CardLimitRefusals.Bots+f.CardLimitRefusals.People)
	if j := f.JoinCardLimitRefusals; j != nil {
		fmt.Fprintf(b, "refused by the card limit at the waiting room's join: %d joins (farm accounts %d, others %d), their card's place held by another account\n",
			j.total(), j.Farms, j.Bots+j.People)
	}
	if l := f.Lottery; l != nil {
		fmt.Fprintf(b, "lottery entries: farm accounts %d taken, %d refused for the card; humans %d taken, %d refused; bots %d taken, %d refused\n",
			l.Entered.Farms, l.CardRefused.Farms, l.Entered.People, l.CardRefused.People, l.Entered.Bots, l.CardRefused.Bots)
		fmt.Fprintf(b, "won units: farms %d, humans %d, bots %d; farms won %.1f %% of them with %.1f %% of the people (%.1f x their share)\n",
			l.Won.Farms, l.Won.People, l.Won.Bots, 100*l.Won.FarmShare, 100*f.ShareOfPeople, l.WonRatio)
	}
}

func writeLotteryText(b *strings.Builder, l *LotteryReport, p PaymentCounts) {
	fmt.Fprintf(b, "lottery: %d entries over a %.0f s window at %.0f entries/s (first sent to last 201: %.2f s), latency p50 %.2f ms, p99 %.2f ms; %d re-entries found the first, %d recovered, %d after the close, %d failed\n",
		l.Entered, l.EntryWindowSeconds, l.EntriesPerSecond, l.EntrySpanSeconds, l.EntryLatency.P50Ms, l.EntryLatency.P99Ms, l.Reentered, l.Recovered, l.EntriesClosed, l.Failed)
	drawn := "never seen drawn"
	if l.DrawAfterMs != nil {
		drawn = fmt.Sprintf("drawn %.0f ms after the close (read every %.0f ms)", *l.DrawAfterMs, l.DrawPollMs)
	}
	fmt.Fprintf(b, "draw: %s; %d entries published, %d winners; %d reservations read, %d after the first wave\n", drawn, l.EntryCount, l.Winners, l.Reservations, l.AfterFirstWave)
	for _, w := range l.Waves {
		fmt.Fprintf(b, "  wave %d: %.0f-%.0f ms after the close, %d reservations (%d units): %d units sold, %d cancelled, %d expired, %d open\n",
			w.Wave, w.StartMs, w.EndMs, w.Reservations, w.Units, w.Sold, w.Cancelled, w.Expired, w.Open)
	}
	fmt.Fprintf(b, "winners: %d paid, %d walked away, %d cancelled (%d cancels refused), %d payments failed; entrants: %d lost, %d still waitlisted at the end, %d never read a result\n",
		p.Confirmed, p.Abandoned, l.Cancelled, l.CancelFailed, p.Failed, l.Lost, l.StillWaitlisted, l.NoResult)
	v := l.Verification
	verdict := "VERIFIED"
	if !v.Verified {
		verdict = "NOT VERIFIED"
	}
	if v.Error != "" {
		verdict += " (" + v.Error + ")"
	}
	fmt.Fprintf(b, "draw check: %s: %d item(s) recomputed (commitment read at the opening: %v); %d users held to the order: %d rank reads, %d won reads, %d contradictions; %d users read exactly one entry\n",
		verdict, v.Items, v.CommitmentReadAtOpening, v.UsersChecked, v.RankReads, v.WonReads, v.Mismatches, v.UsersWithOneEntry)
	u := l.Uniformity
	if u.Tested {
		fmt.Fprintf(b, "uniformity: winners by entry-time decile %v (expected %.1f each), chi-square %.2f, df %d, p = %.3f\n", u.Wins, u.Expected[0], u.ChiSquare, u.DF, u.PValue)
	} else {
		fmt.Fprintf(b, "uniformity: %s\n", u.Note)
	}
}

// settingsOf echoes the configuration into the report, durations as text.
func settingsOf(c Config) map[string]any {
	settings := map[string]any{
		"users": c.Users, "items": c.Items, "units_per_item": c.UnitsPerItem, "per_user_limit": c.PerUserLimit,
		"reservation_ttl": c.ReservationTTL.String(), "start_delay": c.StartDelay.String(),
		"sale_id": c.SaleID, "item_ids": c.ItemIDs,
		"jitter": c.Jitter.String(), "retry_interval": c.RetryInterval.String(),
		"pay_probability": c.PayProbability, "think_time": c.ThinkTime.String(), "bot_share": c.BotShare,
		"rate": c.Rate, "ramp_up": c.RampUp.String(), "order_share": c.OrderShare, "concurrency": c.Concurrency,
		"duration": c.Duration.String(), "max_attempts": c.MaxAttempts, "request_timeout": c.RequestTimeout.String(),
		"come_back": c.ComeBack.String(), "card_limit": c.CardLimit,
	}
	if c.farmed() {
		settings["farm_share"], settings["farm_accounts"] = c.FarmShare, c.FarmAccounts
	}
	if c.Reaction > 0 || c.Guessers > 0 {
		settings["reaction"], settings["guessers"] = c.Reaction.String(), c.Guessers
	}
	settings["challenge"], settings["forwarded_for"] = c.Challenge, c.ForwardedFor
	if c.BotEvade > 0 {
		settings["bot_evade"] = c.BotEvade.String()
	}
	if c.challenged() {
		settings["challenge_max_number"], settings["challenge_think"] = c.ChallengeMaxNumber, c.ChallengeThink.String()
		if c.ChallengePace > 0 {
			settings["challenge_pace"] = c.ChallengePace
		}
	}
	if c.Scenario == ScenarioLottery {
		settings["entry_window"], settings["reenter_share"], settings["poll_interval"] = c.EntryWindow.String(), c.ReenterShare, c.PollInterval.String()
	}
	if c.Scenario == ScenarioFarm {
		settings["waiting_room"] = c.WithWaitingRoom
	}
	if c.lined() {
		settings["admit_per_minute"], settings["max_active"], settings["pre_queue"] = c.WaitingRoom.AdmitPerMinute, c.WaitingRoom.MaxActive, c.WaitingRoom.PreQueue.String()
		settings["queue_order"], settings["abandon"] = c.WaitingRoom.Order, c.WaitingRoom.Abandon.String()
		settings["pre_queue_share"], settings["leave_share"] = c.PreQueueShare, c.LeaveShare
	}
	return settings
}

// endpointReports turns the recorder's histograms into the report's tables,
// endpoints and outcomes in a stable order, and tallies statuses and codes.
func (rec *recorder) endpointReports() (endpoints []EndpointReport, statuses, codes map[string]int64) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	statuses, codes = map[string]int64{}, map[string]int64{}
	for name, ep := range rec.endpoints {
		// The endpoint's histogram holds every sample of its outcomes':
		// its lowest and highest bucket span theirs.
		first, last := math.MaxInt, math.MinInt
		ep.latency.visit(func(lowest, _ int64) {
			first, last = min(first, latencyBucket(lowest)), max(last, latencyBucket(lowest))
		})
		report := EndpointReport{Endpoint: name, LatencySummary: summarize(ep.latency)}
		for k := first; k <= last+1; k++ {
			report.LatencyBoundsMs = append(report.LatencyBoundsMs, latencyBucketBoundMs(k))
		}
		for outcomeName, o := range ep.outcomes {
			counts := make([]int64, last-first+1)
			o.latency.visit(func(lowest, n int64) { counts[latencyBucket(lowest)-first] += n })
			report.Outcomes = append(report.Outcomes, OutcomeReport{Outcome: outcomeName, Status: o.status, Code: o.code, LatencySummary: summarize(o.latency), LatencyCounts: counts})
			status := "error"
			if o.status != 0 {
				status = fmt.Sprint(o.status)
			}
			statuses[status] += o.latency.Count()
			if o.code != "" {
				codes[o.code] += o.latency.Count()
			}
		}
		sort.Slice(report.Outcomes, func(i, j int) bool { return report.Outcomes[i].Count > report.Outcomes[j].Count })
		endpoints = append(endpoints, report)
	}
	sort.Slice(endpoints, func(i, j int) bool { return endpoints[i].Endpoint < endpoints[j].Endpoint })
	return endpoints, statuses, codes
}

// generatorDelays summarises the waits the generator itself added.
func (rec *recorder) generatorDelays() (queueWait, arrivalLag LatencySummary) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return summarize(rec.queueWait), summarize(rec.arrivalLag)
}

func (rec *recorder) timeline() []TimelineSecond {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make([]TimelineSecond, len(rec.seconds))
	for i, s := range rec.seconds {
		out[i] = TimelineSecond{
			Second: i, Requests: s.requests, Reservations: s.reservations, Paid: s.paid, SoldOut: s.soldOut,
			Rejected: s.rejected, Errors: s.errors,
			P50Ms: ms(s.latency.Quantile(0.5)), P99Ms: ms(s.latency.Quantile(0.99)), MaxMs: ms(s.latency.Max()),
		}
	}
	return out
}
