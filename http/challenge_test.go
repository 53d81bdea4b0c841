package http_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/challenge"
	"github.com/flashsale/flashsale/checkout"
	"github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/ratelimit"
)

// challengeOf reads the challenge beside a 403 challenge_required.
func challengeOf(t *testing.T, r *response) flashsale.Challenge {
	t.Helper()
	expect(t, r, 403, "challenge_required")
	var body struct {
		Challenge *flashsale.Challenge `json:"challenge"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || body.Challenge == nil {
		t.Fatalf("403 challenge_required without a challenge: %s", r.Body)
	}
	return *body.Challenge
}

// saleJustStarted creates spec's sale to start in a minute and moves the
// clock to a millisecond past its start: a press now is a script's.
func (h *harness) saleJustStarted(spec saleSpec) sale {
	h.t.Helper()
	spec.start = h.clock.Now().Add(time.Minute)
	s := h.createSale(spec)
	h.clock.Advance(time.Minute + time.Millisecond)
	return s
}

func solve(t *testing.T, c flashsale.Challenge) string {
	t.Helper()
	solution, ok := challenge.Solve(c)
	if !ok {
		t.Fatalf("challenge %+v has no solution", c)
	}
	return solution.Encode()
}

// Under "always" every press carries a solved challenge, good for one
// request of its own user and sale until it expires.
func TestChallengeAlways(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 5, limit: 1}, {stock: 5, limit: 1}},
		challenge: map[string]any{"policy": "always", "max_number": 2000}})
	view := h.do("GET", "/flash-sales/"+s.ID, "", nil).JSON(t)
	if c, _ := view["challenge"].(map[string]any); c["policy"] != "always" || c["max_number"] != 2000.0 {
		t.Fatalf("the sale view shows the challenge as %v", view["challenge"])
	}

	c := challengeOf(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	if c.Algorithm != "SHA-256" || c.MaxNumber != 2000 || c.Salt == "" || len(c.Signature) != 64 {
		t.Fatalf("challenge %+v is not ALTCHA's shape", c)
	}
	solved := solve(t, c)
	for name, header := range map[string]string{"bob showing alice's": solved, "a garbled": "x" + solved} {
		if r := h.placeOrder(s.ID, s.Items[0], "bob", 1, "Flashsale-Challenge", header); r.Status != 403 || r.ErrorCode(t) != "challenge_required" {
			t.Errorf("%s solution: %d %s", name, r.Status, r.Body)
		}
	}
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1, "Flashsale-Challenge", solved), 201, "")
	// Spent: the same solution does not open another press.
	fresh := challengeOf(t, h.placeOrder(s.ID, s.Items[1], "alice", 1, "Flashsale-Challenge", solved))
	if fresh.Challenge == c.Challenge {
		t.Fatal("a refused solution came back with the same challenge")
	}
	// Expired: a solution kept past its five minutes.
	late := solve(t, challengeOf(t, h.placeOrder(s.ID, s.Items[1], "carol", 1)))
	h.clock.Advance(5 * time.Minute)
	challengeOf(t, h.placeOrder(s.ID, s.Items[1], "carol", 1, "Flashsale-Challenge", late))
	h.wantStock(s.ID, s.Items[0], 4, 1, 0)
	h.wantStock(s.ID, s.Items[1], 5, 0, 0)
}

// Under "suspicious" a press within a person's reaction time of the start
// is challenged, the harder the sooner it comes; a later one is not.
func TestChallengeSuspicious(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.saleJustStarted(saleSpec{challenge: map[string]any{"policy": "suspicious", "max_number": 1000}})
	if c := challengeOf(t, h.placeOrder(s.ID, s.Items[0], "script", 1)); c.MaxNumber != 128_000 {
		t.Errorf("a press 1 ms after the start: maxnumber %d, want 7 doublings of 1000", c.MaxNumber)
	}
	h.clock.Advance(49 * time.Millisecond)
	c := challengeOf(t, h.placeOrder(s.ID, s.Items[0], "bot", 1))
	if c.MaxNumber != 2000 {
		t.Errorf("a press 50 ms after the start: maxnumber %d, want one doubling of 1000", c.MaxNumber)
	}
	expect(t, h.placeOrder(s.ID, s.Items[0], "bot", 1, "Flashsale-Challenge", solve(t, c)), 201, "")
	slow := challengeOf(t, h.placeOrder(s.ID, s.Items[0], "slow", 1))
	h.clock.Advance(time.Second)
	expect(t, h.placeOrder(s.ID, s.Items[0], "person", 1), 201, "")
	// A solution sent once the press no longer needs one is still a
	// solved challenge in the operators' view; a wrong one is a failure,
	// and refuses nothing.
	expect(t, h.placeOrder(s.ID, s.Items[0], "slow", 1, "Flashsale-Challenge", solve(t, slow)), 201, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "guesser", 1, "Flashsale-Challenge", "bm90IGEgc29sdXRpb24="), 201, "")
	view := h.do("GET", "/admin/flash-sales/"+s.ID+"/fairness", h.admin(), nil).JSON(t)
	if view["challenged"] != 3.0 || view["solved"] != 2.0 || view["failed"] != 1.0 {
		t.Errorf("fairness view %v: want 3 challenged, 2 solved, 1 failed", view)
	}
}

// The reaction time counts from when the shopper could first have seen
// the button: for one who first fetches the page, signed in, after the
// start, from that fetch. An anonymous fetch, or one with a bad token,
// tells nothing, and the page answers them as ever.
func TestChallengeCountsFromTheFirstSignedInPageFetch(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	start := h.clock.Now().Add(time.Minute)
	s := h.createSale(saleSpec{start: start, challenge: map[string]any{"policy": "suspicious", "max_number": 1000}})
	h.clock.Advance(time.Minute + 10*time.Second)
	expect(t, h.do("GET", "/flash-sales/"+s.ID, h.token("reader", false), nil), 200, "")
	expect(t, h.do("GET", "/flash-sales/"+s.ID, h.token("careful", false), nil), 200, "")
	expect(t, h.do("GET", "/flash-sales/"+s.ID, "", nil), 200, "")
	expect(t, h.do("GET", "/flash-sales/"+s.ID, "not-a-token", nil), 200, "")
	h.clock.Advance(50 * time.Millisecond)
	if c := challengeOf(t, h.placeOrder(s.ID, s.Items[0], "reader", 1)); c.MaxNumber != 2000 {
		t.Errorf("a press 50 ms after the first signed-in fetch: maxnumber %d, want one doubling of 1000", c.MaxNumber)
	}
	expect(t, h.placeOrder(s.ID, s.Items[0], "anonymous", 1), 201, "")
	h.clock.Advance(checkout.DefaultReactionTime)
	expect(t, h.placeOrder(s.ID, s.Items[0], "careful", 1), 201, "")
	h.wantStock(s.ID, s.Items[0], 8, 2, 0)
}

func TestChallengeOnQueueJoinAndSettings(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{
		start: h.clock.Now().Add(time.Hour), end: h.clock.Now().Add(2 * time.Hour),
		waitingRoom: map[string]any{"admit_per_minute": 60},
		challenge:   map[string]any{"policy": "always", "max_number": 1000},
	})
	expect(t, h.do("POST", "/flash-sales/"+s.ID+"/queue", h.token("alice", false), nil), 400, "queue_not_open")
	h.clock.Advance(50 * time.Minute)
	c := challengeOf(t, h.do("POST", "/flash-sales/"+s.ID+"/queue", h.token("alice", false), nil))
	expect(t, h.do("POST", "/flash-sales/"+s.ID+"/queue", h.token("alice", false), nil, "Flashsale-Challenge", solve(t, c)), 201, "")

	for field, c := range map[string]map[string]any{
		"challenge.policy":     {"policy": "sometimes"},
		"challenge.max_number": {"policy": "always", "max_number": 10},
		"challenge.pace":       {"policy": "always", "pace": 999},
	} {
		r := h.do("POST", "/admin/flash-sales", h.admin(), map[string]any{
			"name": "x", "start_time": h.clock.Now().Add(time.Hour).Format(time.RFC3339), "end_time": h.clock.Now().Add(2 * time.Hour).Format(time.RFC3339),
			"items":     []map[string]any{{"product_id": "p", "name": "n", "original_price": "2.00", "sale_price": "1.00", "currency": "USD", "total_quantity": 1}},
			"challenge": c,
		})
		expect(t, r, 400, "invalid_request")
		if got := r.JSON(t)["error"].(map[string]any)["field"]; got != field {
			t.Errorf("challenge %v refused on field %v, want %s", c, got, field)
		}
	}
}

// A paced sale's solution is good no sooner than the reference device's
// mean time to solve its challenge: sent sooner, it is answered 429
// rate_limited with the wait, and stays unspent for the press that comes
// in time. An early solution is neither solved nor failed: the operators
// see it counted early.
func TestChallengePacedToAReferenceDevice(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{challenge: map[string]any{"policy": "always", "max_number": 2000, "pace": 10_000}})
	view := h.do("GET", "/flash-sales/"+s.ID, "", nil).JSON(t)
	if c, _ := view["challenge"].(map[string]any); c["pace"] != 10_000.0 {
		t.Fatalf("the sale view shows the challenge as %v", view["challenge"])
	}
	c := challengeOf(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	// Half of [0, 2000] at 10,000 hashes a second.
	wantSalt := fmt.Sprintf("&notbefore=%d&", h.clock.Now().Add(100*time.Millisecond).UnixMilli())
	if !strings.Contains(c.Salt, wantSalt) {
		t.Fatalf("salt %q does not carry %q", c.Salt, wantSalt)
	}
	solved := solve(t, c)
	for _, step := range []struct{ wait, then int }{{wait: 100, then: 99}, {wait: 1, then: 1}} {
		wait := step.wait
		r := h.placeOrder(s.ID, s.Items[0], "alice", 1, "Flashsale-Challenge", solved)
		expect(t, r, 429, "rate_limited")
		body := r.JSON(t)["error"].(map[string]any)
		if body["reason"] != "challenge_early" || body["retry_after_ms"] != float64(wait) || r.Header.Get("Retry-After") != "1" {
			t.Errorf("an early solution %d ms ahead: %s, Retry-After %q", wait, r.Body, r.Header.Get("Retry-After"))
		}
		h.wantStock(s.ID, s.Items[0], 10, 0, 0)
		h.clock.Advance(time.Duration(step.then) * time.Millisecond)
	}
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1, "Flashsale-Challenge", solved), 201, "")
	h.wantStock(s.ID, s.Items[0], 9, 1, 0)
	fairness := h.do("GET", "/admin/flash-sales/"+s.ID+"/fairness", h.admin(), nil).JSON(t)
	if fairness["challenged"] != 1.0 || fairness["solved"] != 1.0 || fairness["failed"] != 0.0 || fairness["early"] != 2.0 {
		t.Errorf("fairness view %v: want 1 challenged, 1 solved, 0 failed, 2 early", fairness)
	}
}

// The pace holds wherever a challenge guards a request: a queue join and a
// lottery entry answer an early solution 429 challenge_early too, and
// take the same solution after the wait.
func TestPacedChallengeOnJoinAndEntry(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	paced := map[string]any{"policy": "always", "max_number": 2000, "pace": 10_000} // 100 ms
	now := h.clock.Now()
	room := h.createSale(saleSpec{start: now.Add(time.Hour), end: now.Add(2 * time.Hour),
		waitingRoom: map[string]any{"admit_per_minute": 60}, challenge: paced})
	lottery := h.createSale(saleSpec{items: []itemSpec{{stock: 5, limit: 1}}, start: now.Add(-time.Minute), end: now.Add(3 * time.Hour), ttl: 60,
		lottery:   map[string]any{"entries_open": now.Add(-time.Minute).Format(time.RFC3339), "entries_close": now.Add(time.Hour).Format(time.RFC3339)},
		challenge: paced})
	h.clock.Advance(50 * time.Minute) // the line is open
	for name, send := range map[string]func(headers ...string) *response{
		"join": func(headers ...string) *response {
			return h.do("POST", "/flash-sales/"+room.ID+"/queue", h.token("alice", false), nil, headers...)
		},
		"entry": func(headers ...string) *response {
			return h.do("POST", "/flash-sales/"+lottery.ID+"/entries", h.token("alice", false), map[string]any{"item_id": lottery.Items[0]}, headers...)
		},
	} {
		solved := solve(t, challengeOf(t, send()))
		r := send("Flashsale-Challenge", solved)
		expect(t, r, 429, "rate_limited")
		if body := r.JSON(t)["error"].(map[string]any); body["reason"] != "challenge_early" || body["retry_after_ms"] != 100.0 {
			t.Errorf("%s with an early solution: %s", name, r.Body)
		}
		h.clock.Advance(100 * time.Millisecond)
		expect(t, send("Flashsale-Challenge", solved), 201, "")
	}
}

// A challenge asked stays asked: a script refused at the start that waits
// out the reaction time and presses again without solving is challenged
// again, as hard, while a person pressing then is not; its solution
// settles the debt.
func TestAChallengeAskedStaysAsked(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.saleJustStarted(saleSpec{challenge: map[string]any{"policy": "suspicious", "max_number": 1000}})
	if c := challengeOf(t, h.placeOrder(s.ID, s.Items[0], "script", 1)); c.MaxNumber != 128_000 {
		t.Fatalf("a press 1 ms after the start: maxnumber %d, want 128000", c.MaxNumber)
	}
	h.clock.Advance(time.Second)
	expect(t, h.placeOrder(s.ID, s.Items[0], "person", 1), 201, "")
	again := challengeOf(t, h.placeOrder(s.ID, s.Items[0], "script", 1))
	if again.MaxNumber != 128_000 {
		t.Errorf("the script pressing again a second later: maxnumber %d, want the 128000 it owes", again.MaxNumber)
	}
	expect(t, h.placeOrder(s.ID, s.Items[0], "script", 1, "Flashsale-Challenge", solve(t, again)), 201, "")
	h.wantStock(s.ID, s.Items[0], 8, 2, 0)
	fairness := h.do("GET", "/admin/flash-sales/"+s.ID+"/fairness", h.admin(), nil).JSON(t)
	if fairness["challenged"] != 2.0 || fairness["solved"] != 1.0 {
		t.Errorf("fairness view %v: want 2 challenged, 1 solved", fairness)
	}
}

// A paced solution sent early with a request that needs none (its
// account owes nothing once another solution settled the debt) lets the
// request through, unspent, and is counted early.
func TestAnEarlySolutionANeedlessPressCarries(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.saleJustStarted(saleSpec{items: []itemSpec{{stock: 5, limit: 1}, {stock: 5, limit: 1}},
		challenge: map[string]any{"policy": "suspicious", "max_number": 1000, "pace": 10_000}})
	first := solve(t, challengeOf(t, h.placeOrder(s.ID, s.Items[0], "script", 1)))
	h.clock.Advance(time.Millisecond)
	second := solve(t, challengeOf(t, h.placeOrder(s.ID, s.Items[1], "script", 1)))
	// 128000 numbers at 10,000 a second: 6.4 s after each was issued;
	// the first is due now, the second a millisecond later.
	h.clock.Advance(6399 * time.Millisecond)
	expect(t, h.placeOrder(s.ID, s.Items[0], "script", 1, "Flashsale-Challenge", first), 201, "")
	expect(t, h.placeOrder(s.ID, s.Items[1], "script", 1, "Flashsale-Challenge", second), 201, "")
	fairness := h.do("GET", "/admin/flash-sales/"+s.ID+"/fairness", h.admin(), nil).JSON(t)
	if fairness["challenged"] != 2.0 || fairness["solved"] != 1.0 || fairness["failed"] != 0.0 || fairness["early"] != 1.0 {
		t.Errorf("fairness view %v: want 2 challenged, 1 solved, 0 failed, 1 early", fairness)
	}
}

// A farm of accounts on one device is challenged from the account that
// makes the device suspicious; operators see it in the fairness view.
func TestChallengeSharedDeviceAndFairnessView(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 20, limit: 1}}, challenge: map[string]any{"policy": "suspicious", "max_number": 1000}})
	for i := range 4 {
		expect(t, h.placeOrder(s.ID, s.Items[0], fmt.Sprintf("farm-%d", i), 1, "Flashsale-Device", "phone-1"), 201, "")
		h.clock.Advance(time.Second)
	}
	c := challengeOf(t, h.placeOrder(s.ID, s.Items[0], "farm-4", 1, "Flashsale-Device", "phone-1"))
	if c.MaxNumber != 1000 {
		t.Fatalf("the first challenge of a score at the threshold: maxnumber %d, want the base 1000", c.MaxNumber)
	}
	challengeOf(t, h.placeOrder(s.ID, s.Items[0], "farm-4", 1, "Flashsale-Device", "phone-1", "Flashsale-Challenge", "bm90IGEgc29sdXRpb24="))
	expect(t, h.placeOrder(s.ID, s.Items[0], "farm-4", 1, "Flashsale-Device", "phone-1", "Flashsale-Challenge", solve(t, c)), 201, "")
	expect(t, h.placeOrder(s.ID, s.Items[0], "someone", 1, "Flashsale-Device", "phone-2"), 201, "")

	r := h.do("GET", "/admin/flash-sales/"+s.ID+"/fairness", h.admin(), nil)
	expect(t, r, 200, "")
	var v struct {
		Challenged, Solved, Failed int
		SharedDevices              []struct {
			Device   string
			Accounts int
		} `json:"shared_devices"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Challenged != 2 || v.Solved != 1 || v.Failed != 1 || len(v.SharedDevices) != 1 ||
		v.SharedDevices[0].Device != "phone-1" || v.SharedDevices[0].Accounts != 5 {
		t.Fatalf("fairness view %s", r.Body)
	}
	expect(t, h.do("GET", "/admin/flash-sales/"+s.ID+"/fairness", h.token("alice", false), nil), 403, "forbidden")
	h.wantStock(s.ID, s.Items[0], 14, 6, 0)
}

// A press refused for a challenge spends none of the per-user limit: the
// shopper who solves it at once is not told to wait as well.
func TestAChallengedPressSpendsNoLimit(t *testing.T) {
	perUser, _ := ratelimit.ParsePolicy("1/m")
	h := newHarness(t, harnessOptions{limits: &http.Limits{Limiter: ratelimit.NewMemory(), OrderUser: perUser}})
	s := h.createSale(saleSpec{challenge: map[string]any{"policy": "always", "max_number": 1000}})
	c := challengeOf(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	expect(t, h.placeOrder(s.ID, s.Items[0], "alice", 1, "Flashsale-Challenge", solve(t, c)), 201, "")
}

// Under "suspicious", accounts that paid with one card are challenged on
// their next press; an account with a card of its own is not.
func TestChallengeSharedCard(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 1}, {stock: 10, limit: 1}},
		challenge: map[string]any{"policy": "suspicious", "max_number": 1000}})
	h.clock.Advance(time.Minute)
	for i, card := range []string{"tok_visa_farm", "tok_visa_farm", "tok_visa_farm", "tok_visa_ann"} {
		user := fmt.Sprintf("account-%d", i)
		r := h.placeOrder(s.ID, s.Items[0], user, 1)
		expect(t, r, 201, "")
		expect(t, h.pay(orderID(t, r), user, card), 200, "")
		h.clock.Advance(time.Second)
	}
	challengeOf(t, h.placeOrder(s.ID, s.Items[1], "account-0", 1))
	expect(t, h.placeOrder(s.ID, s.Items[1], "account-3", 1), 201, "")
}
