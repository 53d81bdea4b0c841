package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Scenario names.
const (
	// ScenarioHerd is the thundering herd: every user presses Buy within a
	// jitter window after the start and retries at a human pace while stock
	// remains; winners pay or walk away.
	ScenarioHerd = "herd"
	// ScenarioBots is the herd with a share of users that are bots: they fire
	// the instant the sale opens and retry at machine speed.
	ScenarioBots = "bots"
	// ScenarioRefresh is a storm of sale page refreshes.
	ScenarioRefresh = "refresh"
	// ScenarioSoak is a long steady mix of page views and purchases.
	ScenarioSoak = "soak"
	// ScenarioQueue is the herd in front of a waiting room: shoppers join
	// the line before and after the start, poll as the ticket says, buy
	// when admitted, and some leave; bots (BotShare) join the instant the
	// line opens and poll and press at machine speed.
	ScenarioQueue = "queue"
	// ScenarioFarm is the herd with account farms: a share of the people
	// (FarmShare) are operators, each running FarmAccounts accounts that
	// behave like bots but pay with the operator's one card and send the
	// operator's one device; every other person pays with a card of their
	// own. The sale it creates limits each card to CardLimit units. With
	// WithWaitingRoom the sale has a waiting room and everyone goes
	// through it as in the queue scenario, the farm accounts as its bots
	// do, each join naming its card.
	ScenarioFarm = "farm"
	// ScenarioLottery is a lottery sale from its entries to its last
	// wave: users enter during the entry window (some twice), the draw
	// runs at its close, each user polls for the result, winners pay or
	// walk away or cancel, and the waitlist moves up in waves until the
	// stock is sold or the traffic ends. The run then checks the
	// published draw against what the users were shown (lottery.go).
	// With a FarmShare it takes the farm scenario's farms: each
	// operator's accounts enter together with the operator's one card
	// (lotteryfarm.go).
	ScenarioLottery = "lottery"
)

// Config describes one load test run. Start from a preset (ApplyPreset) and
// adjust; Run checks it.
type Config struct {
	// BaseURL of the running service, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Scenario is one of herd, bots, refresh, soak, queue, farm, lottery.
	Scenario string

	// Users is the number of distinct simulated users (each its own JWT).
	// In the farm scenario, and the lottery with farms, it counts people
	// instead: each operator is one of them and runs FarmAccounts users
	// of its own beside.
	Users int
	// Items and UnitsPerItem shape the sale the run creates.
	Items        int
	UnitsPerItem int
	// PerUserLimit is each item's per_user_limit in the created sale.
	PerUserLimit int
	// ReservationTTL is the created sale's reservation window; walked-away
	// reservations return to stock after it.
	ReservationTTL time.Duration
	// StartDelay puts the created sale's start this far in the future so that
	// the herd is already waiting at the countdown when it opens.
	StartDelay time.Duration

	// SaleID targets an existing sale instead of creating one; ItemIDs then
	// narrows the items bought (all of the sale's items when empty).
	SaleID  string
	ItemIDs []string

	// Jitter spreads the moments the herd's people turn to Buy uniformly
	// over this window after the start (each then takes a Reaction).
	Jitter time.Duration
	// Reaction is people's mean reaction time: a person presses a button
	// (Buy, the line's Join, the lottery's Enter) a reaction time of
	// their own after the moment the jitter picks for them to turn to it,
	// each drawn from an ex-Gaussian of this mean (reaction.go), as the
	// shopper's page brings the button alive at the moment and a person
	// then takes that long. Zero: people press at the moment itself, as a
	// script does. Guessers is the share of people who do not react but
	// time their press to the countdown's end, landing around the start
	// (a guess before it finds the button not yet alive, and they react
	// after all). Bots and farm accounts press at the moment either way.
	Reaction time.Duration
	Guessers float64
	// RetryInterval is a person's pace between attempts, and the wait after
	// a 429 or 503 that carries no Retry-After.
	RetryInterval time.Duration
	// PayProbability is the chance that a winner pays; the others walk away
	// and leave the reservation to expire.
	PayProbability float64
	// ThinkTime is how long a winner takes before paying, on average (each
	// winner takes 0.5 to 1.5 times it).
	ThinkTime time.Duration
	// BotShare is the fraction of users that are bots (herd, bots, queue
	// and farm scenarios; the others have no bots).
	BotShare float64
	// BotEvade, when set, makes a bot whose press is answered
	// challenge_required press again this much later without solving,
	// once, as a script that waits out the reaction time would; asked
	// again, it solves (herd, bots and farm scenarios' place-orders).
	BotEvade time.Duration
	// ComeBack is how long a person who found everything sold out waits
	// before pressing Buy again, until the sale or the traffic ends, as the
	// shopper's page keeps reading a sold-out sale and shows units that come
	// back (an expiry, a cancel). Zero: people give up at the first
	// sold_out. Bots and farm accounts always give up: their script has
	// lost.
	ComeBack time.Duration

	// FarmShare is the fraction of the farm or lottery scenario's people
	// (Users) who are farm operators; FarmAccounts is how many accounts
	// each runs.
	FarmShare    float64
	FarmAccounts int
	// CardLimit is the per_card limit of the sale the run creates (its
	// "limits" object): the units one payment card may pay for across
	// accounts; a lottery counts it at the entry too, which then sends
	// the card. Zero creates the sale without one. Whenever it is set, and
	// wherever there are farms, every person pays with a card of their
	// own.
	CardLimit int

	// Challenge is the created sale's challenge policy: off (none),
	// suspicious or always (API.md, "Challenges"), at ChallengeMaxNumber
	// as its base difficulty. The herd's scenarios (herd, bots, farm) and
	// the runs through a waiting room (queue, farm with WithWaitingRoom,
	// whose line asks at the join too) solve what they are asked: bots at
	// once on the generator's cores, people too but sending the solution
	// ChallengeThink later, as a browser's worker solves slower and the
	// page shows it. ChallengePace, when set, is the sale's pace (hashes
	// a second of the device every solver is held to): everyone sends a
	// solution no sooner than its challenge's notbefore.
	Challenge          string
	ChallengeMaxNumber int64
	ChallengePace      int64
	ChallengeThink     time.Duration
	// ForwardedFor sends each user's own address in X-Forwarded-For (a
	// farm account its operator's), for a service that trusts the
	// generator as a proxy: otherwise every user comes from the
	// generator's one address, and a risk score that counts accounts per
	// address sees one crowd behind one NAT.
	ForwardedFor bool

	// WaitingRoom is the created sale's waiting room in the queue
	// scenario, and in the farm scenario with WithWaitingRoom; the other
	// scenarios create sales without one.
	WaitingRoom WaitingRoomSettings
	// WithWaitingRoom runs the farm scenario in front of a waiting room:
	// its sale is created with WaitingRoom, people join the line as the
	// queue scenario's do (PreQueueShare of them in the pre-queue), and
	// the farm accounts join the instant it opens, as bots. In a sale
	// that counts cards every join sends the user's card, and a card
	// holds one place in the line: a farm's other accounts are refused.
	WithWaitingRoom bool
	// PreQueueShare is the fraction of the queue scenario's people (or
	// the farm scenario's, in front of a waiting room) who join the line
	// before the start, spread over the pre-queue; the others join after
	// it, spread over Jitter.
	PreQueueShare float64
	// LeaveShare is the fraction of the queue scenario's people who give
	// up while waiting: half of them leave the line (DELETE), half stop
	// polling and let the service expire their place.
	LeaveShare float64

	// EntryWindow is how long the lottery scenario's sale takes entries,
	// from its start; users enter spread over Jitter from the opening
	// (Jitter 0: all at once, which measures the service's entry rate).
	EntryWindow time.Duration
	// ReenterShare is the fraction of the lottery's users who send their
	// entry a second time, as a double click or a second tab does: the
	// service must answer 200 with the same entry.
	ReenterShare float64
	// PollInterval is how often a lottery user reads their entry after
	// the draw while it can still change: every PollInterval while the
	// waitlist rank is within one stock's worth of the front, and k times
	// slower at k stocks' worth back, as a shopper far down the list
	// looks less often (and a million pollers would otherwise measure the
	// polling, not the lottery).
	PollInterval time.Duration

	// Rate is the open-loop arrival rate in requests per second: arrivals
	// follow the clock and do not slow down when the server does. Zero
	// selects closed loop: each user sends their next request when the
	// previous one has answered and their wait (jitter, retry interval,
	// think time) has passed, on one of Concurrency workers. In the herd,
	// Rate paces the people's presses (a random waiting person presses at
	// each arrival); bots always run closed loop.
	Rate float64
	// RampUp raises the open-loop rate linearly from zero to Rate over this
	// long.
	RampUp time.Duration
	// OrderShare is the fraction of soak requests that place an order; the
	// rest view the sale page.
	OrderShare float64
	// Concurrency is the number of workers that run users' closed-loop
	// steps (presses, retries, polls, payments, back-to-back requests),
	// each with at most one request in flight, and the open loop's cap on
	// arrivals in flight. Users due beyond it wait for a worker in the
	// generator, reported as the queue wait and kept out of latency. The
	// generator opens a keep-alive connection per request in flight: up to
	// Concurrency in closed loop, twice that in open loop (the arrivals plus
	// their follow-ups on the workers).
	Concurrency int

	// Duration bounds the traffic phase, counted from the moment traffic
	// starts (the sale start, except for refresh which starts at once).
	Duration time.Duration
	// MaxAttempts bounds the total number of place-order attempts; zero is
	// unbounded.
	MaxAttempts int64
	// RequestTimeout bounds every single request so nothing hangs.
	RequestTimeout time.Duration
	// Seed makes user choices reproducible; zero picks a random seed, which
	// the report records.
	Seed uint64

	// MintToken returns a bearer token for a user id (admin selects the
	// admin role). The caller supplies it: the CLI mints HS256 JWTs with the
	// service's secret. Tokens must stay valid for the whole run.
	MintToken func(userID string, admin bool) (string, error) `json:"-"`
}

// WaitingRoomSettings are the settings of the "waiting_room" object the
// queue scenario creates its sale with (API.md, "Waiting room");
// durations are sent in whole seconds.
type WaitingRoomSettings struct {
	AdmitPerMinute int64
	// MaxActive caps the admitted shoppers whose admission has not ended;
	// 0 means no cap.
	MaxActive int64
	// PreQueue is how long before the start the line opens.
	PreQueue time.Duration
	// Order is fifo or random.
	Order string
	// Abandon is how long a shopper may go unseen before losing the place
	// (10 s at least).
	Abandon time.Duration
}

var presets = map[string]Config{
	ScenarioHerd: {
		Scenario: ScenarioHerd, Users: 1000, Items: 1, UnitsPerItem: 100, PerUserLimit: 1,
		ReservationTTL: 10 * time.Minute, StartDelay: 3 * time.Second,
		Jitter: 2 * time.Second, RetryInterval: time.Second, PayProbability: 0.8, ThinkTime: 2 * time.Second,
		Concurrency: 256, Duration: time.Minute, MaxAttempts: 1_000_000, RequestTimeout: 10 * time.Second,
		Challenge: ChallengeOff, ChallengeMaxNumber: 100_000, ChallengeThink: time.Second,
	},
	ScenarioBots: {
		Scenario: ScenarioBots, Users: 1000, Items: 1, UnitsPerItem: 100, PerUserLimit: 1,
		ReservationTTL: 10 * time.Minute, StartDelay: 3 * time.Second,
		Jitter: 2 * time.Second, RetryInterval: time.Second, PayProbability: 0.8, ThinkTime: 2 * time.Second,
		BotShare: 0.1, Reaction: 250 * time.Millisecond,
		Concurrency: 256, Duration: time.Minute, MaxAttempts: 1_000_000, RequestTimeout: 10 * time.Second,
		Challenge: ChallengeOff, ChallengeMaxNumber: 100_000, ChallengeThink: time.Second,
	},
	// 1,000 shoppers for 100 units in front of a line admitting 10 a
	// second: the line opens 5 s before the start, half the people join
	// over those 5 s and the rest over the 5 s after it.
	ScenarioQueue: {
		Scenario: ScenarioQueue, Users: 1000, Items: 1, UnitsPerItem: 100, PerUserLimit: 1,
		ReservationTTL: 10 * time.Minute, StartDelay: 10 * time.Second,
		Jitter: 5 * time.Second, RetryInterval: time.Second, PayProbability: 0.8, ThinkTime: 2 * time.Second,
		WaitingRoom:   WaitingRoomSettings{AdmitPerMinute: 600, PreQueue: 5 * time.Second, Order: "fifo", Abandon: 10 * time.Second},
		PreQueueShare: 0.5, LeaveShare: 0.1,
		Concurrency: 256, Duration: 2 * time.Minute, MaxAttempts: 1_000_000, RequestTimeout: 10 * time.Second,
		Challenge: ChallengeOff, ChallengeMaxNumber: 100_000, ChallengeThink: time.Second,
	},
	// The bots preset's 1,000 people, 10 of them operators of 20 accounts
	// each, for 100 units with one per card. Reservations last 10 s and
	// people who saw sold_out come back every 5 s, so that the units a
	// farm reserved and could not pay for reach people within the run:
	// the limit is checked at payment, and refused reservations are left
	// to expire. With -waiting-room, the queue preset's line: admitting
	// 10 a second, opening 5 s before the start (give -start-delay 10s
	// for all of it), half the people joining in the pre-queue.
	ScenarioFarm: {
		Scenario: ScenarioFarm, Users: 1000, Items: 1, UnitsPerItem: 100, PerUserLimit: 1,
		ReservationTTL: 10 * time.Second, StartDelay: 3 * time.Second,
		Jitter: 2 * time.Second, RetryInterval: time.Second, PayProbability: 0.8, ThinkTime: 2 * time.Second,
		ComeBack: 5 * time.Second, FarmShare: 0.01, FarmAccounts: 20, CardLimit: 1, Reaction: 250 * time.Millisecond,
		WaitingRoom: WaitingRoomSettings{AdmitPerMinute: 600, PreQueue: 5 * time.Second, Order: "fifo", Abandon: 10 * time.Second}, PreQueueShare: 0.5,
		Concurrency: 256, Duration: 45 * time.Second, MaxAttempts: 1_000_000, RequestTimeout: 10 * time.Second,
		Challenge: ChallengeOff, ChallengeMaxNumber: 100_000, ChallengeThink: time.Second,
	},
	// 1,000 users for 100 units: entries open 2 s after setup for 10 s,
	// spread over the first 8; reservations last 5 s so that the unpaid
	// ones come back to the waitlist within the run, wave after wave.
	ScenarioLottery: {
		Scenario: ScenarioLottery, Users: 1000, Items: 1, UnitsPerItem: 100, PerUserLimit: 1,
		ReservationTTL: 5 * time.Second, StartDelay: 2 * time.Second,
		EntryWindow: 10 * time.Second, Jitter: 8 * time.Second, ReenterShare: 0.1, PollInterval: time.Second,
		RetryInterval: time.Second, PayProbability: 0.7, ThinkTime: time.Second,
		Concurrency: 256, Duration: time.Minute, RequestTimeout: 10 * time.Second,
	},
	ScenarioRefresh: {
		Scenario: ScenarioRefresh, Users: 1000, Items: 1, UnitsPerItem: 100, PerUserLimit: 1,
		ReservationTTL: 10 * time.Minute, StartDelay: 10 * time.Second,
		Rate: 2000, RampUp: 5 * time.Second,
		Concurrency: 256, Duration: 30 * time.Second, RequestTimeout: 10 * time.Second,
	},
	ScenarioSoak: {
		Scenario: ScenarioSoak, Users: 100_000, Items: 4, UnitsPerItem: 1_000_000, PerUserLimit: 1,
		ReservationTTL: time.Minute, StartDelay: time.Second,
		RetryInterval: time.Second, PayProbability: 0.8, ThinkTime: 2 * time.Second,
		Rate: 200, RampUp: 10 * time.Second, OrderShare: 0.2,
		Concurrency: 128, Duration: 10 * time.Minute, MaxAttempts: 10_000_000, RequestTimeout: 10 * time.Second,
	},
}

// Presets returns the named scenario presets. They leave BaseURL, SaleID,
// ItemIDs, Seed and MintToken empty.
func Presets() map[string]Config {
	copied := make(map[string]Config, len(presets))
	for name, preset := range presets {
		copied[name] = preset
	}
	return copied
}

// ApplyPreset sets every scenario setting of c to the named preset, keeping
// BaseURL, SaleID, ItemIDs, Seed and MintToken.
func (c *Config) ApplyPreset(name string) error {
	preset, ok := presets[name]
	if !ok {
		return fmt.Errorf("unknown scenario %q (want one of %s)", name, strings.Join(presetNames(), ", "))
	}
	preset.BaseURL, preset.SaleID, preset.ItemIDs, preset.Seed, preset.MintToken = c.BaseURL, c.SaleID, c.ItemIDs, c.Seed, c.MintToken
	*c = preset
	return nil
}

func presetNames() []string {
	names := make([]string, 0, len(presets))
	for name := range presets {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("base URL %q: want http(s)://host:port", c.BaseURL)
	case presets[c.Scenario].Scenario == "":
		return fmt.Errorf("unknown scenario %q (want one of %s)", c.Scenario, strings.Join(presetNames(), ", "))
	case c.MintToken == nil:
		return errors.New("MintToken is required: the run needs user and admin tokens")
	case c.Users < 1:
		return errors.New("users must be at least 1")
	case c.SaleID == "" && (c.Items < 1 || c.UnitsPerItem < 1 || c.PerUserLimit < 1):
		return errors.New("items, units per item and per-user limit must be at least 1 to create a sale")
	case c.SaleID == "" && (c.ReservationTTL < time.Second || c.ReservationTTL > time.Hour):
		return errors.New("reservation TTL must be between 1s and 1h (the API's range)")
	case len(c.ItemIDs) > 0 && c.SaleID == "":
		return errors.New("item ids need a sale id")
	case c.Concurrency < 1:
		return errors.New("concurrency must be at least 1")
	case c.Duration <= 0:
		return errors.New("duration must be positive: it is the run's hard bound")
	case c.RequestTimeout <= 0:
		return errors.New("request timeout must be positive")
	case c.Rate < 0 || c.RampUp < 0 || c.MaxAttempts < 0 || c.Jitter < 0 || c.RetryInterval < 0 || c.ThinkTime < 0 || c.StartDelay < 0 ||
		c.ComeBack < 0 || c.CardLimit < 0 || c.Reaction < 0:
		return errors.New("rates, durations and bounds cannot be negative")
	case c.PayProbability < 0 || c.PayProbability > 1 || c.BotShare < 0 || c.BotShare > 1 || c.OrderShare < 0 || c.OrderShare > 1 ||
		c.PreQueueShare < 0 || c.PreQueueShare > 1 || c.LeaveShare < 0 || c.LeaveShare > 1 || c.FarmShare < 0 || c.FarmShare > 1 ||
		c.Guessers < 0 || c.Guessers > 1:
		return errors.New("pay probability and the bot, order, pre-queue, leave, farm and guessers' shares are fractions between 0 and 1")
	case c.farmed() && c.FarmAccounts < 1:
		return errors.New("farm accounts must be at least 1 per operator")
	case c.operators()+c.botCount() > c.Users:
		return errors.New("the farm and bot shares together exceed the people")
	case c.validateChallenge() != nil:
		return c.validateChallenge()
	case c.WithWaitingRoom && c.Scenario != ScenarioFarm:
		return fmt.Errorf("-waiting-room is for the farm scenario (the queue scenario always has one), not %s", c.Scenario)
	case c.lined() && c.Rate > 0:
		return errors.New("a run through a waiting room is closed loop: its shoppers poll when their tickets say (rate must be 0)")
	case c.lined() && c.SaleID == "":
		return c.WaitingRoom.validate()
	case c.Scenario == ScenarioLottery:
		return c.validateLottery()
	}
	return nil
}

// Challenge policies of the sale a run creates.
const (
	ChallengeOff        = "off"
	ChallengeSuspicious = "suspicious"
	ChallengeAlways     = "always"
)

// challenged reports whether the sale the run creates asks challenges.
func (c *Config) challenged() bool { return c.Challenge != "" && c.Challenge != ChallengeOff }

// validateChallenge refuses a policy the API does not know, and
// challenges in scenarios whose users cannot answer them.
func (c *Config) validateChallenge() error {
	switch {
	case c.Challenge != "" && c.Challenge != ChallengeOff && c.Challenge != ChallengeSuspicious && c.Challenge != ChallengeAlways:
		return fmt.Errorf("challenge policy %q: want off, suspicious or always", c.Challenge)
	case !c.challenged():
		return nil
	case c.Scenario != ScenarioHerd && c.Scenario != ScenarioBots && c.Scenario != ScenarioFarm && c.Scenario != ScenarioQueue:
		return fmt.Errorf("challenges are solved in the herd, bots, farm and queue scenarios, not in %s", c.Scenario)
	case c.ChallengeMaxNumber < 1:
		return errors.New("challenge max number must be at least 1")
	case c.ChallengeThink < 0:
		return errors.New("challenge think time cannot be negative")
	case c.ChallengePace < 0:
		return errors.New("challenge pace cannot be negative")
	case c.BotEvade < 0:
		return errors.New("bot evade wait cannot be negative")
	}
	return nil
}

// validateLottery refuses lottery settings that cannot make a run: entries
// must fit in the window the run creates, and the users' polls need a pace.
func (c *Config) validateLottery() error {
	switch {
	case c.Rate > 0:
		return errors.New("the lottery scenario runs closed loop: users enter over -jitter and poll as their rank says (rate must be 0)")
	case c.ReenterShare < 0 || c.ReenterShare > 1:
		return errors.New("the re-enter share is a fraction between 0 and 1")
	case c.PollInterval <= 0:
		return errors.New("poll interval must be positive")
	case c.SaleID == "" && (c.EntryWindow < time.Second || c.EntryWindow%time.Second != 0):
		return errors.New("entry window must be whole seconds, 1s at least")
	case c.SaleID == "" && c.Jitter >= c.EntryWindow:
		return errors.New("jitter (the spread of the entries) must be shorter than the entry window, or entries would come after the close")
	}
	return nil
}

// lined reports whether the run's shoppers go through a waiting room:
// the queue scenario, and the farm scenario with WithWaitingRoom.
func (c *Config) lined() bool {
	return c.Scenario == ScenarioQueue || c.Scenario == ScenarioFarm && c.WithWaitingRoom
}

// farmed reports whether the run sets account farms against its people
// and reports them: the farm scenario always (at a share of 0 too, its
// baseline), the lottery when given a farm share.
func (c *Config) farmed() bool {
	return c.Scenario == ScenarioFarm || c.Scenario == ScenarioLottery && c.FarmShare > 0
}

// operators is the number of farm operators among the people of a run
// with farms; no other run has any.
func (c *Config) operators() int {
	if !c.farmed() {
		return 0
	}
	return int(float64(c.Users)*c.FarmShare + 0.5)
}

// botCount is the number of bots among the users, rounded to the nearest;
// only the herd, bots, queue and farm scenarios have any.
func (c *Config) botCount() int {
	switch c.Scenario {
	case ScenarioHerd, ScenarioBots, ScenarioQueue, ScenarioFarm:
		return int(float64(c.Users)*c.BotShare + 0.5)
	}
	return 0
}

// ownCards reports whether every simulated user pays with a card of their
// own: under a card limit one shared card would buy for one user alone.
func (c *Config) ownCards() bool { return c.farmed() || c.CardLimit > 0 }

// validate refuses the settings the API would, before a sale is created
// with them.
func (w WaitingRoomSettings) validate() error {
	switch {
	case w.AdmitPerMinute < 1 || w.AdmitPerMinute > 6_000_000:
		return errors.New("admit per minute must be from 1 to 6,000,000 (the API's range)")
	case w.MaxActive < 0:
		return errors.New("max active cannot be negative (0 = no cap)")
	case w.PreQueue < 0 || w.PreQueue%time.Second != 0:
		return errors.New("pre-queue must be whole seconds, 0 or more")
	case w.Order != "fifo" && w.Order != "random":
		return fmt.Errorf("queue order %q: want fifo or random", w.Order)
	case w.Abandon < 10*time.Second || w.Abandon > time.Hour || w.Abandon%time.Second != 0:
		return errors.New("abandon must be whole seconds from 10s to 1h (the API's range)")
	}
	return nil
}

// RegisterFlags defines the load test's flags on fs. After fs.Parse, call the
// returned function: it starts from the preset named by -scenario and then
// applies every flag given on the command line, so "-scenario soak -users 50"
// is the soak preset with 50 users whatever the order of the flags.
func RegisterFlags(fs *flag.FlagSet) func() (Config, error) {
	cfg := presets[ScenarioHerd]
	cfg.BaseURL = "http://127.0.0.1:8080"
	fs.StringVar(&cfg.BaseURL, "url", cfg.BaseURL, "base URL of the running service")
	fs.StringVar(&cfg.Scenario, "scenario", cfg.Scenario, "preset: "+strings.Join(presetNames(), ", ")+" (other flags override it)")
	fs.IntVar(&cfg.Users, "users", cfg.Users, "simulated users (farm, lottery with farms: people, an operator one of them, its accounts beside)")
	fs.IntVar(&cfg.Items, "items", cfg.Items, "items in the created sale")
	fs.IntVar(&cfg.UnitsPerItem, "units", cfg.UnitsPerItem, "stock of each item in the created sale")
	fs.IntVar(&cfg.PerUserLimit, "per-user-limit", cfg.PerUserLimit, "per_user_limit of each item in the created sale")
	fs.DurationVar(&cfg.ReservationTTL, "reservation-ttl", cfg.ReservationTTL, "reservation window of the created sale")
	fs.DurationVar(&cfg.StartDelay, "start-delay", cfg.StartDelay, "the created sale starts this long after setup")
	fs.StringVar(&cfg.SaleID, "sale", "", "target this existing sale instead of creating one")
	fs.Var((*commaList)(&cfg.ItemIDs), "item-ids", "comma-separated items of -sale to buy (default all)")
	fs.DurationVar(&cfg.Jitter, "jitter", cfg.Jitter, "herd and queue: window over which first presses (queue: joins after the start; lottery: entries) spread")
	fs.DurationVar(&cfg.Reaction, "reaction", cfg.Reaction, "people's mean reaction time: each presses (joins, enters) this long, give or take, after turning to the button; 0 = at once, as a script (bots, farm: 250ms)")
	fs.Float64Var(&cfg.Guessers, "guessers", cfg.Guessers, "fraction of people who time their first press to the countdown's end instead of reacting to the button")
	fs.DurationVar(&cfg.RetryInterval, "retry-interval", cfg.RetryInterval, "a person's pace between attempts")
	fs.Float64Var(&cfg.PayProbability, "pay-probability", cfg.PayProbability, "chance that a winner pays instead of walking away")
	fs.DurationVar(&cfg.ThinkTime, "think-time", cfg.ThinkTime, "mean time a winner takes before paying")
	fs.Float64Var(&cfg.BotShare, "bot-share", cfg.BotShare, "fraction of users that are bots (machine-speed retries)")
	fs.DurationVar(&cfg.ComeBack, "come-back", cfg.ComeBack, "a person who saw sold_out presses again this long later, until the end; 0 = gives up")
	fs.Float64Var(&cfg.FarmShare, "farm-share", cfg.FarmShare, "farm, lottery: fraction of the people (-users) who operate an account farm")
	fs.IntVar(&cfg.FarmAccounts, "farm-accounts", cfg.FarmAccounts, "farm, lottery: accounts per operator, sharing one card and one device")
	fs.IntVar(&cfg.CardLimit, "card-limit", cfg.CardLimit, "per_card limit of the created sale (units one card may pay for; a lottery counts it at the entry); 0 = none (farm preset: 1)")
	fs.BoolVar(&cfg.WithWaitingRoom, "waiting-room", cfg.WithWaitingRoom, "farm: create the sale with a waiting room (the -admit-per-minute ... -pre-queue-share settings) and run everyone through it; joins send the card")
	fs.Int64Var(&cfg.WaitingRoom.AdmitPerMinute, "admit-per-minute", cfg.WaitingRoom.AdmitPerMinute, "queue, farm -waiting-room: the waiting room's admission rate")
	fs.Int64Var(&cfg.WaitingRoom.MaxActive, "max-active", cfg.WaitingRoom.MaxActive, "queue, farm -waiting-room: the waiting room's cap on admitted shoppers; 0 = no cap")
	fs.DurationVar(&cfg.WaitingRoom.PreQueue, "pre-queue", cfg.WaitingRoom.PreQueue, "queue, farm -waiting-room: the line opens this long before the start (whole seconds)")
	fs.StringVar(&cfg.WaitingRoom.Order, "queue-order", cfg.WaitingRoom.Order, "queue, farm -waiting-room: admission order, fifo or random")
	fs.DurationVar(&cfg.WaitingRoom.Abandon, "abandon", cfg.WaitingRoom.Abandon, "queue, farm -waiting-room: a shopper unseen this long loses the place (whole seconds, 10s at least)")
	fs.Float64Var(&cfg.PreQueueShare, "pre-queue-share", cfg.PreQueueShare, "queue, farm with -waiting-room: fraction of people who join before the start")
	fs.Float64Var(&cfg.LeaveShare, "leave-share", cfg.LeaveShare, "queue: fraction of people who give up while waiting (half leave, half stop polling)")
	fs.DurationVar(&cfg.EntryWindow, "entry-window", cfg.EntryWindow, "lottery: how long entries are taken (whole seconds); the draw runs at its end")
	fs.Float64Var(&cfg.ReenterShare, "reenter-share", cfg.ReenterShare, "lottery: fraction of users who send their entry twice")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", cfg.PollInterval, "lottery: how often a user near the front reads their entry after the draw")
	fs.StringVar(&cfg.Challenge, "challenge", cfg.Challenge, "herd, bots, farm, queue: the created sale's challenge policy, off, suspicious or always; users solve what they are asked (through a waiting room, at the join too)")
	fs.Int64Var(&cfg.ChallengeMaxNumber, "challenge-max-number", cfg.ChallengeMaxNumber, "the created sale's challenge max_number (base difficulty)")
	fs.DurationVar(&cfg.BotEvade, "bot-evade", cfg.BotEvade, "bots answered challenge_required press again this much later without solving, once (a script waiting out the reaction time); 0 = they solve")
	fs.Int64Var(&cfg.ChallengePace, "challenge-pace", cfg.ChallengePace, "the created sale's challenge pace: hashes a second of the device every solver is held to; 0 = unpaced")
	fs.DurationVar(&cfg.ChallengeThink, "challenge-think", cfg.ChallengeThink, "how much later than a bot a person sends a solved challenge (the browser's worker, the page)")
	fs.BoolVar(&cfg.ForwardedFor, "forwarded-for", cfg.ForwardedFor, "send each user's own address in X-Forwarded-For (for a service that trusts the generator as a proxy; --embedded does)")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "open-loop arrivals per second; 0 = closed loop")
	fs.DurationVar(&cfg.RampUp, "ramp-up", cfg.RampUp, "open loop: rise from 0 to -rate over this long")
	fs.Float64Var(&cfg.OrderShare, "order-share", cfg.OrderShare, "soak: fraction of requests that place an order")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "closed-loop workers (one request in flight each) and open-loop cap on arrivals in flight")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "hard bound on the traffic phase")
	fs.Int64Var(&cfg.MaxAttempts, "max-attempts", cfg.MaxAttempts, "bound on place-order attempts; 0 = unbounded")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "timeout of each request")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed; 0 = pick one (the report records it)")

	return func() (Config, error) {
		given := map[string]string{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = f.Value.String() })
		if err := cfg.ApplyPreset(cfg.Scenario); err != nil {
			return Config{}, err
		}
		// Re-apply what the command line said, over the preset.
		for name, value := range given {
			if err := fs.Set(name, value); err != nil {
				return Config{}, fmt.Errorf("-%s: %w", name, err)
			}
		}
		return cfg, nil
	}
}

// commaList is a flag.Value for a comma-separated list.
type commaList []string

func (l *commaList) String() string { return strings.Join(*l, ",") }

func (l *commaList) Set(value string) error {
	*l = nil
	for _, part := range strings.Split(value, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}
