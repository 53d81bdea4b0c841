package loadtest

import (
	"flag"
	"fmt"
	"maps"
	"math"
	mathrand "math/rand/v2"
	"strings"
	"testing"
	"time"
)

// smallFarm is the farm scenario at the fake's scale: 100 people, 5 of them
// operators of 4 accounts each, for 20 units with one per card. People
// give up at the first sold_out, so that the run ends when everyone has.
func smallFarm(baseURL string) Config {
	cfg := smallHerd(baseURL)
	if err := cfg.ApplyPreset(ScenarioFarm); err != nil {
		panic(err)
	}
	cfg.BaseURL, cfg.MintToken, cfg.Seed = baseURL, fakeToken, 1
	cfg.Users, cfg.UnitsPerItem, cfg.FarmShare, cfg.FarmAccounts = 100, 20, 0.05, 4
	cfg.StartDelay, cfg.Jitter, cfg.RetryInterval, cfg.ThinkTime = 200*time.Millisecond, 200*time.Millisecond, 20*time.Millisecond, 10*time.Millisecond
	cfg.PayProbability, cfg.ComeBack = 0.5, 0
	// People press as the herd's do, within the shortened jitter: the
	// preset's quarter-second reaction would outlast this run's sale.
	cfg.Reaction = 0
	cfg.Concurrency = 32
	cfg.Duration, cfg.RequestTimeout = 5*time.Second, 2*time.Second
	return cfg
}

// farmOf returns the operator index in a farm account's user id, or -1
// for anyone else's.
func farmOf(userID string) int {
	_, rest, ok := strings.Cut(userID, "-farm")
	if !ok {
		return -1
	}
	var op, account int
	if _, err := fmt.Sscanf(rest, "%d-%d", &op, &account); err != nil {
		return -1
	}
	return op
}

// Each operator's accounts send one card and one device, the same for all
// of them and no one else's; people send their own. Checked on the wire,
// by what the fake received.
func TestFarmAccountsShareTheirOperatorsCardAndDevice(t *testing.T) {
	fake := &fakeService{}
	server := startFake(t, fake)
	cfg := smallFarm(server.URL)
	cfg.CardLimit = 0 // every farm account pays, so that each shows its card
	report := mustRun(t, cfg)
	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	if report.Reservations.Farms == 0 || report.Purchases.Farms != report.Reservations.Farms {
		t.Fatalf("reservations %+v, purchases %+v: want farm accounts to reserve and, without a card limit, pay for every one", report.Reservations, report.Purchases)
	}

	fake.mu.Lock()
	defer fake.mu.Unlock()
	cardOf, deviceOf := map[int]string{}, map[int]string{}
	owner := map[string]string{} // a card or device of the people: whose
	for user, devices := range fake.devices {
		if len(devices) != 1 {
			t.Errorf("user %s sent %d devices, want one: %v", user, len(devices), devices)
		}
		for device := range devices {
			op := farmOf(user)
			switch {
			case op < 0 && owner[device] != "":
				t.Errorf("people %s and %s share device %s", owner[device], user, device)
			case op < 0:
				owner[device] = user
			case deviceOf[op] == "":
				deviceOf[op] = device
			case deviceOf[op] != device:
				t.Errorf("farm %d's accounts sent devices %s and %s", op, deviceOf[op], device)
			}
		}
	}
	for user, cards := range fake.payTokens {
		if len(cards) != 1 {
			t.Errorf("user %s paid with %d cards, want one: %v", user, len(cards), cards)
		}
		for card := range cards {
			op := farmOf(user)
			switch {
			case card == "tok_visa":
				t.Errorf("user %s paid with the card everyone shares", user)
			case op < 0 && owner[card] != "":
				t.Errorf("people %s and %s share card %s", owner[card], user, card)
			case op < 0:
				owner[card] = user
			case cardOf[op] == "":
				cardOf[op] = card
			case cardOf[op] != card:
				t.Errorf("farm %d's accounts paid with cards %s and %s", op, cardOf[op], card)
			}
		}
	}
	if len(cardOf) == 0 || len(deviceOf) == 0 {
		t.Fatalf("no farm account paid or pressed: cards %v, devices %v", cardOf, deviceOf)
	}
	seen := map[string]int{}
	for op, card := range cardOf {
		if other, ok := seen[card]; ok {
			t.Errorf("farms %d and %d share card %s", op, other, card)
		}
		seen[card] = op
		if owner[card] != "" {
			t.Errorf("farm %d's card %s is also person %s's", op, card, owner[card])
		}
	}
	for op, device := range deviceOf {
		if other, ok := seen[device]; ok {
			t.Errorf("farm %d's device %s is also farm %d's", op, device, other)
		}
		seen[device] = op
		if owner[device] != "" {
			t.Errorf("farm %d's device %s is also person %s's", op, device, owner[device])
		}
	}
}

// makeUsers gives every person a card and a device of their own and each
// operator's accounts one of each, shared; the operators are their share
// of the people and their accounts come beside.
func TestFarmUsers(t *testing.T) {
	cfg := Presets()[ScenarioFarm]
	cfg.Users, cfg.FarmShare, cfg.FarmAccounts, cfg.BotShare, cfg.Seed = 200, 0.02, 20, 0.05, 7
	r := &run{cfg: cfg, runID: "r", pickerRand: mathrand.New(mathrand.NewPCG(7, 0)), sale: saleTarget{items: []saleItem{{id: "i", total: 1}}}}
	r.makeUsers()

	if len(r.operators) != 4 || len(r.users) != 196+4*20 || r.bots != 10 {
		t.Fatalf("%d operators, %d accounts, %d bots: want 4 operators (2 %% of 200 people), the 196 others plus 80 farm accounts, 10 bots",
			len(r.operators), len(r.users), r.bots)
	}
	cards, devices := map[string]int{}, map[string]int{}
	bots := 0
	for _, u := range r.users {
		if u.card == "" || u.device == "" {
			t.Fatalf("user %s has card %q and device %q: want both", u.id, u.card, u.device)
		}
		cards[u.card]++
		devices[u.device]++
		if u.bot && u.farm == nil {
			bots++
		}
		if u.farm != nil && (!u.bot || u.card != u.farm.card || u.device != u.farm.device) {
			t.Errorf("farm account %s: bot %v, card %s, device %s; want a bot with its operator's %s and %s", u.id, u.bot, u.card, u.device, u.farm.card, u.farm.device)
		}
	}
	if bots != 10 {
		t.Errorf("%d bots among the people, want 10", bots)
	}
	// The accounts press in this order at the start: the operators'
	// mixed, not one operator's first.
	firstOperators := map[*farmOperator]bool{}
	for _, u := range r.users[196 : 196+cfg.FarmAccounts] {
		firstOperators[u.farm] = true
	}
	if len(firstOperators) < 2 {
		t.Errorf("the first %d farm accounts all belong to one operator", cfg.FarmAccounts)
	}
	for _, u := range r.users {
		want := 1
		if u.farm != nil {
			want = 20
		}
		if cards[u.card] != want || devices[u.device] != want {
			t.Errorf("user %s's card is used by %d accounts and its device by %d, want %d", u.id, cards[u.card], devices[u.device], want)
		}
	}
}

// With per_card 1, each operator pays for one unit; its other accounts'
// payments are refused by the card limit and counted as that, not as
// failures nor violations.
func TestCardLimitRefusalsAreTheirOwnOutcome(t *testing.T) {
	fake := &fakeService{}
	server := startFake(t, fake)
	report := mustRun(t, smallFarm(server.URL))

	if !report.OK() {
		t.Fatalf("violations against a correct service: %v", report.Violations)
	}
	f := report.Farm
	if f == nil {
		t.Fatal("no farm report")
	}
	if f.CardLimit != 1 || f.Operators != 5 || f.Accounts != 20 || f.Humans != 95 {
		t.Errorf("farm report %+v: want per_card 1, 5 operators running 20 accounts, 95 humans", f)
	}
	p := report.Payments
	if p.Failed != 0 {
		t.Errorf("payments %+v: a card-limit refusal counted as a failure", p)
	}
	fake.mu.Lock()
	refused := fake.cardRefusals
	fake.mu.Unlock()
	if p.CardLimitRefused == 0 || p.CardLimitRefused != int64(refused) {
		t.Errorf("%d payments counted as refused by the card limit, the service refused %d: want the same, and some (20 farm accounts, 5 cards)", p.CardLimitRefused, refused)
	}
	if f.CardLimitRefusals.Farms != p.CardLimitRefused || f.CardLimitRefusals.People+f.CardLimitRefusals.Bots != 0 {
		t.Errorf("refusals %+v: want all %d of them farm accounts'", f.CardLimitRefusals, p.CardLimitRefused)
	}
	if got := report.Reservations.Farms - report.Purchases.Farms; got != p.CardLimitRefused {
		t.Errorf("farm accounts reserved %d and paid %d, but %d refusals: every other farm reservation should be one", report.Reservations.Farms, report.Purchases.Farms, p.CardLimitRefused)
	}
	if f.MostByOneOperator != 1 || int64(f.OperatorsWhoBought) != report.Purchases.Farms || f.Confirmed.Farms != report.Purchases.Farms {
		t.Errorf("farm report %+v, purchases %+v: want one unit for each operator who bought", f, report.Purchases)
	}
	total := report.Reservations.Bots + report.Reservations.Farms + report.Reservations.People
	if settled := p.Confirmed + p.Abandoned + p.Failed + p.Unfinished + p.CardLimitRefused; settled != total {
		t.Errorf("payments %+v account for %d of the %d reservations", p, settled, total)
	}
	// The refused reservations still hold their units, as the service
	// keeps them for another card.
	if s := report.FinalStats.Items[0]; s.Reserved < p.CardLimitRefused {
		t.Errorf("final stats %+v: want the %d refused reservations still reserved", s, p.CardLimitRefused)
	}

	reportSays(t, report, []string{"farms: 5 operators", "x their share", fmt.Sprintf("refused by the card limit: %d payments", p.CardLimitRefused)},
		[]string{"<h2>Farms</h2>", "per_card 1", fmt.Sprintf("%d refused by the card limit", p.CardLimitRefused)})
}

// Under a card limit the people pay with cards of their own: a shared
// card would have every payment after the first refused.
func TestPeoplePayWithCardsOfTheirOwn(t *testing.T) {
	fake := &fakeService{}
	server := startFake(t, fake)
	cfg := smallFarm(server.URL)
	cfg.FarmShare = 0
	report := mustRun(t, cfg)
	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	if report.Payments.CardLimitRefused != 0 || report.Payments.Confirmed == 0 || report.Payments.Confirmed != report.Purchases.People {
		t.Errorf("payments %+v, purchases %+v: want every person's payment through", report.Payments, report.Purchases)
	}
	if report.Farm.Operators != 0 || report.Farm.Ratio != 0 {
		t.Errorf("farm report %+v: want no operators and no ratio", report.Farm)
	}
}

func TestFarmReportSetsUnitsAgainstPeople(t *testing.T) {
	units := []int64{1, 1, 1, 1, 1, 1, 1, 1, 2, 0}
	f := newFarmReport(985, 5, 20, 1, split{bots: 2, farms: 10, people: 88}, split{farms: 90}, units)
	// 10 operators of 1,000 people; 10 of 100 confirmed units.
	if f.ShareOfPeople != 0.01 || f.ShareOfUnits != 0.1 || math.Abs(f.Ratio-10) > 1e-9 {
		t.Errorf("share of people %v, of units %v, ratio %v: want 0.01, 0.1 and 10", f.ShareOfPeople, f.ShareOfUnits, f.Ratio)
	}
	if f.Operators != 10 || f.Accounts != 200 || f.OperatorsWhoBought != 9 || f.MostByOneOperator != 2 || f.CardLimitRefusals.Farms != 90 {
		t.Errorf("farm report %+v", f)
	}

	// Nothing confirmed, or no operator: shares of zero, never NaN.
	for _, f := range []*FarmReport{
		newFarmReport(990, 0, 20, 0, split{}, split{}, make([]int64, 10)),
		newFarmReport(100, 0, 20, 0, split{people: 5}, split{}, nil),
		newFarmReport(0, 0, 20, 0, split{}, split{}, nil),
	} {
		if f.ShareOfUnits != 0 || f.Ratio != 0 || math.IsNaN(f.ShareOfPeople) {
			t.Errorf("farm report %+v: want zero shares and ratio", f)
		}
	}
}

func TestFarmFlagsAndSale(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		cardLimit int
	}{
		{[]string{"-scenario", "farm"}, 1},
		{[]string{"-card-limit", "0", "-scenario", "farm"}, 0},
		{[]string{"-scenario", "herd"}, 0},
	} {
		fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
		resolve := RegisterFlags(fs)
		if err := fs.Parse(append(tc.args, "-farm-accounts", "5")); err != nil {
			t.Fatal(err)
		}
		cfg, err := resolve()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.CardLimit != tc.cardLimit || cfg.FarmAccounts != 5 {
			t.Errorf("%v: card limit %d, farm accounts %d; want %d and 5", tc.args, cfg.CardLimit, cfg.FarmAccounts, tc.cardLimit)
		}
		body := (&run{cfg: cfg, runID: "r"}).newSaleBody()
		limits, ok := body["limits"].(map[string]any)
		if tc.cardLimit > 0 && (!ok || limits["per_card"] != tc.cardLimit) {
			t.Errorf("%v: sale body limits %v, want per_card %d", tc.args, body["limits"], tc.cardLimit)
		}
		if tc.cardLimit == 0 && body["limits"] != nil {
			t.Errorf("%v: sale body limits %v, want none", tc.args, body["limits"])
		}
	}

	cfg := Presets()[ScenarioFarm]
	cfg.BaseURL, cfg.MintToken = "http://127.0.0.1:1", fakeToken
	cfg.FarmShare, cfg.BotShare = 0.6, 0.5
	if cfg.Validate() == nil {
		t.Error("operators and bots beyond the people were accepted")
	}
	cfg.FarmShare, cfg.BotShare, cfg.FarmAccounts = 0.01, 0, 0
	if cfg.Validate() == nil {
		t.Error("operators without accounts were accepted")
	}
}

// People who saw sold_out come back and buy the units that come back: here
// every winner walks away and the fake lets reservations lapse after the
// sale's second, so the stock sells more than once.
func TestPeopleComeBackForUnitsThatReturn(t *testing.T) {
	server := startFake(t, &fakeService{expireReservations: true})
	cfg := smallHerd(server.URL)
	cfg.Users, cfg.PayProbability, cfg.ReservationTTL, cfg.ComeBack, cfg.Duration = 100, 0, time.Second, 100*time.Millisecond, 3*time.Second
	report := mustRun(t, cfg)
	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	if report.Reservations.People <= 20 || report.StopReason != stopDuration {
		t.Errorf("%d reservations of 20 units, stop reason %q: want people back for the lapsed units until the end", report.Reservations.People, report.StopReason)
	}
	// Without coming back, the first sold_out ends it.
	cfg.ComeBack = 0
	report = mustRun(t, cfg)
	if report.Reservations.People != 20 || report.StopReason != stopAllDone {
		t.Errorf("%d reservations, stop reason %q: want the 20 units and everyone gone", report.Reservations.People, report.StopReason)
	}
}

// smallFarmLine is smallFarm in front of a waiting room: the line opens a
// second before the start and admits 100 a second; half the people join
// in the pre-queue, the farm accounts the instant it opens.
func smallFarmLine(baseURL string) Config {
	cfg := smallFarm(baseURL)
	cfg.WithWaitingRoom = true
	cfg.WaitingRoom.AdmitPerMinute, cfg.WaitingRoom.PreQueue = 6000, time.Second
	cfg.StartDelay = 1500 * time.Millisecond
	cfg.Duration = 30 * time.Second
	return cfg
}

// In front of a waiting room that counts cards, every join names the
// user's card: an operator's first account gets the card's place and the
// others are refused at the join, which the report counts as refused by
// the card limit, not as failures. The farms then pay once per card.
func TestFarmJoinsTheLineOncePerCard(t *testing.T) {
	fake := &fakeService{queuePollAfter: 40 * time.Millisecond}
	server := startFake(t, fake)
	report := mustRun(t, smallFarmLine(server.URL))
	if !report.OK() {
		t.Fatalf("violations against a correct service: %v", report.Violations)
	}
	f, q := report.Farm, report.Queue
	if f == nil || q == nil {
		t.Fatalf("farm report %+v, queue report %+v: want both", f, q)
	}
	fake.mu.Lock()
	refused, joinTokens := fake.joinCardRefusals, maps.Clone(fake.joinTokens)
	fake.mu.Unlock()
	// 5 operators of 4 accounts: one place each, 15 joins refused.
	if j := f.JoinCardLimitRefusals; j == nil || j.Farms != 15 || j.People+j.Bots != 0 || refused != 15 {
		t.Fatalf("join refusals %+v, the service refused %d: want the 15 farm accounts past each card's first", j, refused)
	}
	if joined := q.JoinedPreQueue.Farms + q.JoinedAfterStart.Farms; joined != 5 {
		t.Errorf("farm accounts joined %d places (%+v, %+v), want one per operator", joined, q.JoinedPreQueue, q.JoinedAfterStart)
	}
	if report.Payments.Failed != 0 || f.CardLimitRefusals.Farms != 0 || report.Purchases.Farms > 5 || f.MostByOneOperator > 1 {
		t.Errorf("payments %+v, farm report %+v, purchases %+v: want no failure and at most one unit per card", report.Payments, f, report.Purchases)
	}
	for user, tokens := range joinTokens {
		op := farmOf(user)
		for token := range tokens {
			if want := fmt.Sprintf("tok_visa_farm%d", op); op >= 0 && token != want || op < 0 && strings.Contains(token, "farm") {
				t.Errorf("user %s joined with card %s", user, token)
			}
		}
	}
	if len(joinTokens) != 100-5+20 {
		t.Errorf("%d users named a card at the join, want all 115", len(joinTokens))
	}

	reportSays(t, report, []string{"refused by the card limit at the waiting room's join: 15 joins (farm accounts 15, others 0)", "farm accounts 5", "waiting room:"},
		[]string{"joins refused by the card limit", "15 joins of farm accounts"})

	// Without a card limit the joins send no card.
	fake = &fakeService{queuePollAfter: 40 * time.Millisecond}
	cfg := smallFarmLine(startFake(t, fake).URL)
	cfg.CardLimit = 0
	if report := mustRun(t, cfg); !report.OK() || report.Farm.JoinCardLimitRefusals.Farms != 0 {
		t.Fatalf("without a card limit: violations %v, farm report %+v", report.Violations, report.Farm)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.joinTokens) != 0 {
		t.Errorf("%d users sent a card at the join of a line that does not count cards", len(fake.joinTokens))
	}
}

// A line that gives a farm's card more than one place is caught.
func TestFarmPlacesPastTheCardAreCaught(t *testing.T) {
	server := startFake(t, &fakeService{queuePollAfter: 40 * time.Millisecond, lineIgnoresCards: true})
	report := mustRun(t, smallFarmLine(server.URL))
	found := false
	for _, v := range report.Violations {
		found = found || strings.Contains(v, "5 farm card(s) held more than one place in the line")
	}
	if !found {
		t.Fatalf("violations %v: want the 5 farm cards with more than one place", report.Violations)
	}
}

func TestFarmWaitingRoomFlags(t *testing.T) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	resolve := RegisterFlags(fs)
	if err := fs.Parse([]string{"-waiting-room", "-scenario", "farm", "-pre-queue", "4s"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := resolve()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.WithWaitingRoom || !cfg.lined() || cfg.WaitingRoom.PreQueue != 4*time.Second || cfg.WaitingRoom.AdmitPerMinute != 600 || cfg.PreQueueShare != 0.5 {
		t.Errorf("config %+v: want the farm preset in front of the queue preset's line, pre-queue 4s", cfg)
	}
	body := (&run{cfg: cfg, runID: "r"}).newSaleBody()
	if room, _ := body["waiting_room"].(map[string]any); room["pre_queue_seconds"] != int64(4) || body["limits"] == nil {
		t.Errorf("sale body %v: want a waiting room with a 4 s pre-queue and the card limit", body)
	}
	if body := (&run{cfg: Presets()[ScenarioFarm], runID: "r"}).newSaleBody(); body["waiting_room"] != nil {
		t.Errorf("the farm preset's sale has a waiting room: %v", body["waiting_room"])
	}

	cfg.BaseURL, cfg.MintToken = "http://127.0.0.1:1", fakeToken
	if err := cfg.Validate(); err != nil {
		t.Errorf("the farm with a waiting room: %v", err)
	}
	challenged := cfg
	challenged.Challenge = ChallengeSuspicious
	if err := challenged.Validate(); err != nil {
		t.Errorf("the farm with a waiting room and challenges: %v", err)
	}
	for _, change := range []func(c *Config){
		func(c *Config) { c.Scenario = ScenarioHerd },
		func(c *Config) { c.Rate = 100 },
		func(c *Config) { c.WaitingRoom.AdmitPerMinute = 0 },
	} {
		bad := cfg
		change(&bad)
		if bad.Validate() == nil {
			t.Errorf("config %+v was accepted", bad)
		}
	}
}
