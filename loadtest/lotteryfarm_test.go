package loadtest

import (
	"flag"
	"fmt"
	"math"
	"testing"
)

// smallLotteryFarm is the lottery at the fake's scale with farms: 100
// people, 5 of them operators of 4 accounts each, for 10 units with one
// per card.
func smallLotteryFarm(baseURL string) Config {
	cfg := smallLottery(baseURL)
	cfg.Users, cfg.FarmShare, cfg.FarmAccounts, cfg.CardLimit = 100, 0.05, 4, 1
	return cfg
}

// tokensOf returns the one token each user sent, and reports a user who
// sent several.
func tokensOf(t *testing.T, sent map[string]map[string]bool) map[string]string {
	t.Helper()
	one := map[string]string{}
	for user, tokens := range sent {
		if len(tokens) != 1 {
			t.Errorf("user %s sent %d payment tokens, want one: %v", user, len(tokens), tokens)
		}
		for token := range tokens {
			one[user] = token
		}
	}
	return one
}

// Under per_card 1 every entry claims a card: a farm's accounts their
// operator's, the same for all of them and no one else's, each human a
// card of their own; winners pay with the card they entered with. Each
// operator gets one entry and its other accounts are refused for the
// card, counted as that and not as failures, and the farms' figures add
// up to the run's.
func TestLotteryFarmAccountsEnterWithTheirOperatorsCard(t *testing.T) {
	fake := &fakeService{expireReservations: true}
	server := startFake(t, fake)
	report := mustRun(t, smallLotteryFarm(server.URL))
	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}

	fake.mu.Lock()
	entered, paid, refused := tokensOf(t, fake.entryTokens), tokensOf(t, fake.payTokens), fake.entryCardRefusals
	fake.mu.Unlock()
	if len(entered) != 95+5*4 {
		t.Errorf("%d users sent a card with their entry, want all 115", len(entered))
	}
	farmCards, owner := map[int]string{}, map[string]string{}
	for user, card := range entered {
		op := farmOf(user)
		switch {
		case card == "tok_visa":
			t.Errorf("user %s entered with the card everyone shares", user)
		case op < 0 && owner[card] != "":
			t.Errorf("users %s and %s entered with one card %s", owner[card], user, card)
		case op < 0:
			owner[card] = user
		case farmCards[op] == "":
			farmCards[op] = card
		case farmCards[op] != card:
			t.Errorf("farm %d's accounts entered with cards %s and %s", op, farmCards[op], card)
		}
	}
	if len(farmCards) != 5 {
		t.Errorf("cards of %d farms seen, want 5: %v", len(farmCards), farmCards)
	}
	for op, card := range farmCards {
		if owner[card] != "" {
			t.Errorf("farm %d's card %s is also user %s's", op, card, owner[card])
		}
	}
	if len(paid) == 0 {
		t.Fatal("no winner paid")
	}
	for user, card := range paid {
		if card != entered[user] {
			t.Errorf("user %s entered with %s and paid with %s", user, entered[user], card)
		}
	}

	f, l := report.Farm, report.Lottery
	if f == nil || f.Lottery == nil || l == nil {
		t.Fatalf("farm report %+v, lottery report %+v: want both, with the farms' entries", f, l)
	}
	fl := f.Lottery
	if fl.Entered.Farms != 5 || fl.CardRefused.Farms != 15 || fl.Entered.People != 95 || fl.CardRefused.People != 0 {
		t.Errorf("entries taken %+v, refused for the card %+v: want one per operator (5), their 15 other accounts refused, the 95 humans in", fl.Entered, fl.CardRefused)
	}
	if int64(refused) != fl.CardRefused.Farms || l.Failed != 0 || l.Entered != 100 {
		t.Errorf("the fake refused %d entries for the card, the report says %d; %d entries failed, %d entered: want the refusals counted as such and 100 entries", refused, fl.CardRefused.Farms, l.Failed, l.Entered)
	}
	if fl.Won != report.Reservations || f.Confirmed != report.Purchases {
		t.Errorf("won %+v and confirmed %+v, but reservations %+v and purchases %+v: want the same", fl.Won, f.Confirmed, report.Reservations, report.Purchases)
	}
	if c := f.Confirmed; c.Farms+c.People+c.Bots != 10 || report.Payments.Confirmed != 10 || report.Payments.CardLimitRefused != 0 {
		t.Errorf("confirmed %+v, payments %+v: want the 10 units paid for, none refused at payment", c, report.Payments)
	}
	if f.ShareOfPeople != 0.05 || math.Abs(f.Ratio-f.Confirmed.FarmShare/0.05) > 1e-9 || math.Abs(fl.WonRatio-fl.Won.FarmShare/0.05) > 1e-9 || f.MostByOneOperator > 1 {
		t.Errorf("farm report %+v, lottery %+v: want the shares over the operators' 5 %% of the people, at most one unit an operator", f, fl)
	}

	reportSays(t, report, []string{"farms: 5 operators", "lottery entries: farm accounts 5 taken, 15 refused for the card; humans 95 taken, 0 refused",
		fmt.Sprintf("won units: farms %d, humans %d", fl.Won.Farms, fl.Won.People), "draw check: VERIFIED"},
		[]string{"<h2>Farms</h2>", "farm accounts 5 taken, 15 refused for the card", "x their share of the people"})
}

// Without a card limit the entries send no card and every farm account
// enters: the baseline the limit is set against.
func TestLotteryFarmWithoutCardLimitEntersEveryAccount(t *testing.T) {
	fake := &fakeService{expireReservations: true}
	server := startFake(t, fake)
	cfg := smallLotteryFarm(server.URL)
	cfg.CardLimit = 0
	report := mustRun(t, cfg)
	if !report.OK() {
		t.Fatalf("violations: %v", report.Violations)
	}
	fake.mu.Lock()
	sentCards := len(fake.entryTokens)
	fake.mu.Unlock()
	if sentCards != 0 {
		t.Errorf("%d users sent a card with their entry to a sale that does not count cards", sentCards)
	}
	f := report.Farm
	if f == nil || f.Lottery == nil || f.CardLimit != 0 || f.Operators != 5 || f.Accounts != 20 {
		t.Fatalf("farm report %+v: want 5 operators of 20 accounts and no card limit", f)
	}
	if fl := f.Lottery; fl.Entered.Farms != 20 || fl.CardRefused.Farms != 0 || fl.Entered.People != 95 {
		t.Errorf("entries taken %+v, refused %+v: want every account in", fl.Entered, fl.CardRefused)
	}
}

// A service that takes every entry whatever its card holds lets each
// farm enter with all its accounts: caught.
func TestLotteryFarmCardsPastTheLimitAreCaught(t *testing.T) {
	fake := &fakeService{expireReservations: true, lotteryIgnoresCards: true}
	server := startFake(t, fake)
	report := mustRun(t, smallLotteryFarm(server.URL))
	if !containsViolation(report, "5 farm card(s) stand behind entries for more than the sale's per_card 1") {
		t.Errorf("violations %v: want the five farms' cards past the limit caught", report.Violations)
	}
	if fl := report.Farm.Lottery; fl.Entered.Farms != 20 {
		t.Errorf("entries taken %+v: want every farm account's", fl.Entered)
	}
}

// The farm flags shape the lottery: the sale counts cards, the people
// count operators; without them the lottery has no farms.
func TestLotteryFarmFlags(t *testing.T) {
	parse := func(args ...string) Config {
		t.Helper()
		fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
		resolve := RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := resolve()
		if err != nil {
			t.Fatal(err)
		}
		cfg.BaseURL, cfg.MintToken = "http://127.0.0.1:1", fakeToken
		return cfg
	}

	cfg := parse("-scenario", "lottery", "-farm-share", "0.01", "-farm-accounts", "20", "-card-limit", "1")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("lottery with farms refused: %v", err)
	}
	if !cfg.farmed() || cfg.operators() != 10 || !cfg.ownCards() {
		t.Errorf("farmed %v, %d operators, own cards %v: want farms, 10 operators of 1,000 people, a card each", cfg.farmed(), cfg.operators(), cfg.ownCards())
	}
	body := (&run{cfg: cfg, runID: "r"}).newSaleBody()
	if limits, _ := body["limits"].(map[string]any); body["mode"] != "lottery" || limits["per_card"] != 1 {
		t.Errorf("sale body mode %v, limits %v: want a lottery with per_card 1", body["mode"], body["limits"])
	}

	cfg = parse("-scenario", "lottery", "-farm-share", "0.01")
	if cfg.Validate() == nil {
		t.Error("operators without accounts were accepted")
	}

	cfg = parse("-scenario", "lottery")
	if cfg.farmed() || cfg.operators() != 0 || cfg.ownCards() {
		t.Errorf("the lottery preset has farms (%v), %d operators, own cards %v: want none", cfg.farmed(), cfg.operators(), cfg.ownCards())
	}
	if settings := settingsOf(cfg); settings["farm_share"] != nil {
		t.Errorf("settings of a lottery without farms: %v", settings)
	}
}
