package checkout

import (
	"math"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
)

// The risk score of a request: cheap signals, each read from what the
// request and this instance's memory already hold (no extra round trip).
// No signal alone blocks anything; a score of challengeAt or more asks
// for a challenge under the suspicious policy, and each point above makes
// the challenge twice as hard.
//
// The memory is this instance's: a fleet behind a load balancer that
// routes each sale's orders to one instance (deploy/nginx) sees each
// sale's crowd whole; one that spreads them sees a share of it, and the
// shared-device and shared-IP signals rise later.
const (
	challengeAt = 2

	// scoreReaction: a press within a person's reaction time of its
	// button coming alive (the start, the waiting room's opening for a
	// join, entries_open for an entry, or the shopper's first signed-in
	// fetch of the sale's page when that came later), and one point more
	// each time it comes in half that time, up to reactionHalvings more.
	// A person who guessed the moment lands near the edge of the window;
	// a script that fires at the start to the millisecond lands at its
	// bottom and is asked the most work.
	scoreReaction    = 2
	reactionHalvings = 7 // the default 150 ms down to 1.2 ms
	// scoreEarly: presses before the start, again and again.
	scoreEarly     = 1
	earlyPresses   = 3
	scoreDevice    = 2 // one Flashsale-Device behind many accounts
	deviceAccounts = 5
	scoreIP        = 1 // one IP behind many accounts (NAT makes this weak)
	ipAccounts     = 20
	// scoreRhythm: presses more evenly spaced than a person's.
	scoreRhythm = 1
	rhythmKept  = 5    // presses whose intervals are compared
	rhythmCV    = 0.05 // their coefficient of variation below which it is a machine's
	// scoreCard: an account that paid with a card other accounts of the
	// sale paid with too.
	scoreCard    = 2
	cardAccounts = 3

	// Load makes every challenge harder, as mCaptcha does: from loadFloor
	// presses a second at this instance, each tenfold more doubles the
	// work, up to loadSteps doublings.
	loadFloor = 1000
	loadSteps = 3
)

// maxTracked bounds what a sale's risk memory holds of each kind (users,
// devices, IPs): past it, new ones are not tracked, old ones still are.
const maxTracked = 1 << 20

// requester is who sent a request, as the risk score reads it.
type requester struct {
	userID, device string
	ip             netip.Addr
}

// press is what the risk score reads of one request: when it came, when
// its button came alive (opened) and how soon after that a person can
// press (reaction).
type press struct {
	requester
	at, opened time.Time
	reaction   time.Duration
}

// risks are the risk memories of the sales this instance has seen.
type risks struct {
	mu    sync.Mutex
	sales map[string]*saleRisk
}

// saleRisk is one sale's risk memory and its counters for operators.
type saleRisk struct {
	mu      sync.Mutex
	early   map[string]int
	devices map[string]map[string]struct{}
	ips     map[string]map[string]struct{}
	presses map[string][]time.Time
	// pageSeen is each account's first fetch of the sale's page.
	pageSeen map[string]time.Time
	// owed is the doublings of the hardest challenge each account was
	// given and has not solved.
	owed map[string]int
	// cards are the accounts behind each card fingerprint, userCards the
	// card each account last paid with.
	cards     map[string]map[string]struct{}
	userCards map[string]string
	// second is the whole second (Unix) whose presses inSecond counts;
	// lastSecond is the count of the second before it. The load is read
	// from both (score).
	second               int64
	inSecond, lastSecond int64

	challenged, solved, failed, earlySolutions int64
}

func (r *risks) sale(saleID string) *saleRisk {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sales == nil {
		r.sales = map[string]*saleRisk{}
	}
	sr := r.sales[saleID]
	if sr == nil {
		sr = &saleRisk{early: map[string]int{}, devices: map[string]map[string]struct{}{},
			ips: map[string]map[string]struct{}{}, presses: map[string][]time.Time{}, pageSeen: map[string]time.Time{}, owed: map[string]int{},
			cards: map[string]map[string]struct{}{}, userCards: map[string]string{}}
		r.sales[saleID] = sr
	}
	return sr
}

// pressedEarly records a press refused because the sale had not started.
func (sr *saleRisk) pressedEarly(userID string) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if _, ok := sr.early[userID]; ok || len(sr.early) < maxTracked {
		sr.early[userID]++
	}
}

// sawPage records userID's first fetch of the sale's page, at.
func (sr *saleRisk) sawPage(userID string, at time.Time) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if _, ok := sr.pageSeen[userID]; !ok && len(sr.pageSeen) < maxTracked {
		sr.pageSeen[userID] = at
	}
}

// owe records that userID was given a challenge of raise doublings.
func (sr *saleRisk) owe(userID string, raise int) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	owed, ok := sr.owed[userID]
	if ok && owed >= raise || !ok && len(sr.owed) >= maxTracked {
		return
	}
	sr.owed[userID] = raise
}

// owes returns the doublings of the hardest challenge userID was given
// and has not solved; false when none.
func (sr *saleRisk) owes(userID string) (int, bool) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	owed, ok := sr.owed[userID]
	return owed, ok
}

// solvedBy counts a solution of userID's spent, which settles what the
// account owed.
func (sr *saleRisk) solvedBy(userID string) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	sr.solved++
	delete(sr.owed, userID)
}

// scoresRisk reports whether sale challenges by risk score, and so
// learns its signals beyond the press itself (the cards accounts share).
func scoresRisk(sale *flashsale.Sale) bool {
	return sale.Challenge != nil && sale.Challenge.Policy == flashsale.ChallengeSuspicious
}

// paidWith records that userID paid with the card fingerprint.
func (sr *saleRisk) paidWith(userID, fingerprint string) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if _, ok := sr.userCards[userID]; !ok && len(sr.userCards) >= maxTracked {
		return
	}
	sr.userCards[userID] = fingerprint
	accounts(sr.cards, fingerprint, userID)
}

// score records p and returns its risk score, and the presses of the
// second up to p: the load its challenge is priced at. The second is a
// sliding one, estimated as Cloudflare's rate limiter does: p's second so
// far, p included, and the second before it in the share of it that the
// window still covers. A whole second behind, the first second of a rush,
// the one that decides a flash sale, would be priced as a quiet one.
func (sr *saleRisk) score(p press) (score int, load int64) {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if second := p.at.Unix(); second != sr.second {
		sr.lastSecond = 0
		if second == sr.second+1 {
			sr.lastSecond = sr.inSecond
		}
		sr.second, sr.inSecond = second, 0
	}
	sr.inSecond++
	left := time.Second - time.Duration(p.at.UnixNano()%int64(time.Second))
	load = sr.inSecond + sr.lastSecond*int64(left)/int64(time.Second)
	opened := p.opened
	if seen, ok := sr.pageSeen[p.userID]; ok && seen.After(opened) {
		opened = seen
	}
	score += reactionScore(p.at.Sub(opened), p.reaction)
	if sr.early[p.userID] >= earlyPresses {
		score += scoreEarly
	}
	if p.device != "" && accounts(sr.devices, p.device, p.userID) >= deviceAccounts {
		score += scoreDevice
	}
	if p.ip.IsValid() && accounts(sr.ips, p.ip.String(), p.userID) >= ipAccounts {
		score += scoreIP
	}
	if sr.regular(p.userID, p.at) {
		score += scoreRhythm
	}
	if card, ok := sr.userCards[p.userID]; ok && len(sr.cards[card]) >= cardAccounts {
		score += scoreCard
	}
	return score, load
}

// reactionScore is the reaction signal's points for a press made since
// after its button came alive, for a person who needs reaction to press.
func reactionScore(since, reaction time.Duration) int {
	if since >= reaction {
		return 0
	}
	score := scoreReaction
	for window := reaction / 2; since < window && score < scoreReaction+reactionHalvings; window /= 2 {
		score++
	}
	return score
}

// difficulty is the challenge's maxnumber for a sale's base difficulty,
// the doublings its risk score asks (raise) and the load: each step a
// doubling, bounded by the ceiling a phone can still solve.
func difficulty(base int64, raise int, load int64) int64 {
	steps := raise
	for rate := int64(loadFloor); load >= rate && steps-raise < loadSteps; rate *= 10 {
		steps++
	}
	return min(base<<min(steps, 10), flashsale.MaxChallengeNumber)
}

// accounts adds userID to the accounts seen behind key and returns how
// many there are (counting stops a little past what any signal needs).
func accounts(seen map[string]map[string]struct{}, key, userID string) int {
	users := seen[key]
	if users == nil {
		if len(seen) >= maxTracked {
			return 0
		}
		users = map[string]struct{}{}
		seen[key] = users
	}
	if len(users) <= ipAccounts {
		users[userID] = struct{}{}
	}
	return len(users)
}

// regular records a press of userID at at and reports whether the user's
// last presses came at intervals too even for a person.
func (sr *saleRisk) regular(userID string, at time.Time) bool {
	times, ok := sr.presses[userID]
	if !ok && len(sr.presses) >= maxTracked {
		return false
	}
	times = append(times, at)
	if len(times) > rhythmKept {
		times = times[len(times)-rhythmKept:]
	}
	sr.presses[userID] = times
	if len(times) < rhythmKept {
		return false
	}
	var sum, squares float64
	for i := 1; i < len(times); i++ {
		d := times[i].Sub(times[i-1]).Seconds()
		sum += d
		squares += d * d
	}
	n := float64(len(times) - 1)
	mean := sum / n
	if mean <= 0 {
		return true // presses at one instant
	}
	return math.Sqrt(max(squares/n-mean*mean, 0))/mean < rhythmCV
}

// FairnessReport is what operators see of a sale's challenges: counted by
// this instance, since the risk memory is its own.
type FairnessReport struct {
	Challenged, Solved, Failed int64
	// Early counts the solutions sent before their paced challenge's
	// notbefore: neither solved nor failed yet, and a sign of a solver
	// that does not wait as the page does.
	Early int64
	// SharedDevices are the Flashsale-Device values behind the most
	// accounts, most first (at most 10).
	SharedDevices []SharedDevice
}

// SharedDevice is one device and how many accounts used it in the sale.
type SharedDevice struct {
	Device   string
	Accounts int
}

func (sr *saleRisk) report() FairnessReport {
	sr.mu.Lock()
	defer sr.mu.Unlock()
	r := FairnessReport{Challenged: sr.challenged, Solved: sr.solved, Failed: sr.failed, Early: sr.earlySolutions}
	for device, users := range sr.devices {
		if len(users) > 1 {
			r.SharedDevices = append(r.SharedDevices, SharedDevice{device, len(users)})
		}
	}
	sort.Slice(r.SharedDevices, func(i, j int) bool {
		a, b := r.SharedDevices[i], r.SharedDevices[j]
		return a.Accounts > b.Accounts || a.Accounts == b.Accounts && a.Device < b.Device
	})
	if len(r.SharedDevices) > 10 {
		r.SharedDevices = r.SharedDevices[:10]
	}
	return r
}

func (sr *saleRisk) count(counter *int64) {
	sr.mu.Lock()
	*counter++
	sr.mu.Unlock()
}
