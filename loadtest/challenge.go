package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/challenge"
)

// Challenges: a press, or a join of a waiting room's line, answered 403
// challenge_required is solved on the generator's own cores, as a bot's
// solver runs on its operator's, and sent again with the solution. Bots
// send it again at once; people too solve (the solution must be valid)
// but send it ChallengeThink later: a browser solves in a Web Worker,
// several times slower than native code, and the page shows it. A paced
// sale's solution goes no sooner than its challenge's notbefore, as the
// page sends it and as a bot that reads the salt would.

// challengeRun counts the challenges of a run whose sale asks them.
type challengeRun struct {
	mu sync.Mutex
	// answered counts the place-orders and joins answered, challenged
	// those answered challenge_required, withSolution those that carried a
	// solution, refused those of them answered challenge_required again
	// and early those answered that the solution came before its
	// notbefore (this machine's clock ahead of the server's).
	answered, challenged, withSolution, refused, early split
	// solved and unsolved count the solver's runs; hashes the SHA-256
	// it computed; cpu and wall its time in nanoseconds, the thread's CPU
	// time where it can be read (cpuMeasured), else the wall time.
	solved, unsolved, hashes, cpu, wall split
	cpuMeasured                         bool
	// machineSolutions are the bots' and farm accounts' solved
	// challenges, each with when its solution would have been ready on a
	// core of its own and when it was here.
	machineSolutions []solutionReady
}

// solutionReady is when a solution was ready, counted from the traffic's
// start: ownCore when the challenge's answer came plus the solve's CPU
// time (what a core of the bot's own would have taken), here plus its
// wall time on the cores the generator shares; either no sooner than a
// paced challenge's notbefore.
type solutionReady struct {
	ownCore, here time.Duration
}

// answeredBy counts one answered place-order or join of u; c is nil when
// the sale asks no challenges, which then costs nothing.
func (c *challengeRun) answeredBy(u *simUser, resp response, withSolution bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answered.addUser(u)
	if withSolution {
		c.withSolution.addUser(u)
	}
	if resp.code == "challenge_required" {
		c.challenged.addUser(u)
		if withSolution {
			c.refused.addUser(u)
		}
	}
	if solutionEarly(resp) {
		c.early.addUser(u)
	}
}

// solutionUnlooked reports whether resp was, most likely, given before
// the service looked at the request's solution (a sold-out item, a sale
// not active), which the next press then carries, as the page does
// (web/static/logic.js, solutionUnspent).
func solutionUnlooked(resp response) bool {
	return resp.code == "sold_out" || resp.code == "sale_not_active"
}

// solutionEarly reports whether resp refused a solution as sent before
// its challenge's notbefore: good, and to be sent again after the wait.
func solutionEarly(resp response) bool {
	return resp.code == "rate_limited" && resp.reason == flashsale.ReasonChallengeEarly
}

// addN adds n for u.
func (s *split) addN(u *simUser, n int64) {
	switch {
	case u.farm != nil:
		s.farms += n
	case u.bot:
		s.bots += n
	default:
		s.people += n
	}
}

// solveStep is how many numbers a solver tries between two looks at the
// other work: about half a millisecond of this machine's hashing.
const solveStep = 1024

// solveAside solves c a range at a time and yields between ranges. A
// bot's solver runs on its own cores; here every solver shares the
// generator's (and in --embedded the server's) with the requests, and
// one that ran to the end would hold a core for up to seconds: the other
// shoppers' presses would wait behind it and reach the server late,
// after the reaction time that would have got them challenged. Yielding,
// the presses and their answers go first and the solvers share what is
// left, so that the bots' solving costs them time, not the others.
func solveAside(c flashsale.Challenge) (challenge.Solution, bool) {
	for first := int64(0); first <= c.MaxNumber; first += solveStep {
		if solution, ok := challenge.SolveRange(c, first, first+solveStep-1); ok {
			return solution, true
		}
		runtime.Gosched()
	}
	return challenge.Solution{}, false
}

// doSolved sends req of u with u's solved challenge, if u has one, and
// counts the answer for the challenges' account.
func (r *run) doSolved(ctx context.Context, u *simUser, req request) response {
	// A solution is good once. Only a user who has one is cleared: the
	// soak sends presses of one user from several senders at once, and
	// its users, never challenged, must not write here.
	req.challenge = u.solution
	if req.challenge != "" {
		u.solution = ""
	}
	resp := r.client.do(ctx, req)
	if !resp.canceled {
		r.challenges.answeredBy(u, resp, req.challenge != "")
	}
	if solutionEarly(resp) || solutionUnlooked(resp) {
		u.solution = req.challenge // unspent: the next request takes it
	}
	return resp
}

// solve solves the challenge of u's challenge_required answer, keeps the
// solution for u's next request and has retry send the refused request
// again after wait; a challenge it cannot solve is retried as any other
// refusal, to get a fresh one.
func (r *run) solve(u *simUser, resp response, retry func(wait time.Duration)) {
	var body struct {
		Challenge *flashsale.Challenge `json:"challenge"`
	}
	if json.Unmarshal(resp.body, &body) != nil || body.Challenge == nil {
		r.ledger.note("a challenge_required answer carried no challenge: sent again without one")
		retry(r.retryWait(u, resp))
		return
	}
	// The thread's CPU time is the solver's own only while the goroutine
	// keeps the thread.
	runtime.LockOSThread()
	cpuBefore, measured := threadCPU()
	started := time.Now()
	solution, ok := solveAside(*body.Challenge)
	wall := time.Since(started)
	cpuAfter, _ := threadCPU()
	runtime.UnlockOSThread()
	notBefore := challenge.NotBefore(*body.Challenge)
	cpu := cpuAfter - cpuBefore
	if !measured {
		cpu = wall
	}
	c := r.challenges
	c.mu.Lock()
	c.cpuMeasured = measured
	c.cpu.addN(u, int64(cpu))
	c.wall.addN(u, int64(wall))
	if ok {
		c.solved.addUser(u)
		c.hashes.addN(u, solution.Number+1)
		if u.bot || u.farm != nil {
			answered := started.Sub(r.trafficStart)
			// A paced challenge's solution is taken no sooner than its
			// notbefore, however soon a core had it.
			usable := answered
			if !notBefore.IsZero() {
				usable = notBefore.Sub(r.trafficStart)
			}
			c.machineSolutions = append(c.machineSolutions, solutionReady{ownCore: max(answered+cpu, usable), here: max(answered+wall, usable)})
		}
	} else {
		c.unsolved.addUser(u)
		c.hashes.addN(u, body.Challenge.MaxNumber+1)
	}
	c.mu.Unlock()
	if !ok {
		// A challenge without an answer in its range: the next request
		// gets another.
		retry(r.retryWait(u, resp))
		return
	}
	u.solution = solution.Encode()
	var wait time.Duration
	if !notBefore.IsZero() {
		// The scheduler may run a step up to its granularity early.
		wait = time.Until(notBefore) + timerGranularity
	}
	if !u.bot {
		wait = max(wait, r.cfg.ChallengeThink)
	}
	retry(max(wait, 0))
}

// ChallengeReport is the account of a run whose sale asked challenges.
// "Bots" are the bots of the bots scenario, "farms" the farm accounts.
type ChallengeReport struct {
	Policy    string `json:"policy"`
	MaxNumber int64  `json:"max_number"`
	// Pace is the sale's pace in hashes a second; zero: unpaced.
	Pace int64 `json:"pace,omitempty"`
	// ThinkMs is how much later people sent their solutions than bots.
	ThinkMs float64 `json:"think_ms"`
	// Answered counts the place-orders answered, and in a run through a
	// waiting room the joins too; Challenged those answered
	// challenge_required; WithSolution those that carried a solution,
	// Refused of them answered challenge_required again, Early of them
	// answered that they came before their challenge's notbefore.
	Answered     Split `json:"answered"`
	Challenged   Split `json:"challenged"`
	WithSolution Split `json:"with_solution"`
	Refused      Split `json:"refused"`
	Early        Split `json:"early"`
	// PeopleChallengedShare is the share of the people's answered
	// requests (as Answered) answered challenge_required;
	// BotsChallengedShare the bots' (farm accounts included).
	PeopleChallengedShare float64 `json:"people_challenged_share"`
	BotsChallengedShare   float64 `json:"bots_challenged_share"`
	// Solved counts the challenges solved, Unsolved those with no answer
	// in their range; Hashes the SHA-256 computed.
	Solved   Split `json:"solved"`
	Unsolved Split `json:"unsolved"`
	Hashes   Split `json:"hashes"`
	// SolveCPU is the solver's CPU time in seconds, of bots (farm accounts
	// included) and people: the solving threads' own where it can be read
	// (CPUMeasured), else the wall time. SolveWall is its wall time.
	SolveCPU    BotsPeopleSeconds `json:"solve_cpu_seconds"`
	SolveWall   BotsPeopleSeconds `json:"solve_wall_seconds"`
	CPUMeasured bool              `json:"cpu_measured"`
	// MeanBotSolveMs is the bots' mean CPU time per challenge.
	MeanBotSolveMs float64 `json:"mean_bot_solve_ms"`
	// Server is the sale's fairness counters as the service reports them
	// (GET /admin/flash-sales/{id}/fairness); nil when unreadable.
	Server *FairnessCounters `json:"server,omitempty"`
	// BotSolutionsBeforeSoldOut tells how many of the bots' solutions were
	// ready before the sale sold out, here and as cores of their own
	// would have had them; nil when the sale did not sell out.
	BotSolutionsBeforeSoldOut *SolutionsBefore `json:"bot_solutions_before_sold_out,omitempty"`
}

// SolutionsBefore counts the bots' (and farm accounts') solved challenges
// whose solutions were ready before the sale sold out (SoldOutMs after the
// traffic's start): OnOwnCores had the solve taken its CPU time, as on a
// core of the bot's own; Here as it took on the cores the generator
// shares with others. The two differ when the machine, not the
// challenge, held the bots back, and then the run's share of units won
// by bots flatters the challenge.
type SolutionsBefore struct {
	SoldOutMs  float64 `json:"sold_out_ms"`
	Solved     int     `json:"solved"`
	OnOwnCores int     `json:"on_own_cores"`
	Here       int     `json:"here"`
}

// solutionsBefore counts the machines' solutions ready before soldOut.
func (c *challengeRun) solutionsBefore(soldOut time.Duration) *SolutionsBefore {
	c.mu.Lock()
	defer c.mu.Unlock()
	before := &SolutionsBefore{SoldOutMs: ms(soldOut), Solved: len(c.machineSolutions)}
	for _, s := range c.machineSolutions {
		if s.ownCore < soldOut {
			before.OnOwnCores++
		}
		if s.here < soldOut {
			before.Here++
		}
	}
	return before
}

// BotsPeopleSeconds divides seconds between bots and people.
type BotsPeopleSeconds struct {
	Bots   float64 `json:"bots"`
	People float64 `json:"people"`
}

// FairnessCounters are a sale's challenge counters as the service keeps
// them.
type FairnessCounters struct {
	Challenged int64 `json:"challenged"`
	Solved     int64 `json:"solved"`
	Failed     int64 `json:"failed"`
	Early      int64 `json:"early"`
}

// challengeReport assembles the challenges' account, with the service's
// counters.
func (r *run) challengeReport(ctx context.Context) *ChallengeReport {
	c := r.challenges
	if c == nil {
		return nil
	}
	c.mu.Lock()
	rep := &ChallengeReport{
		Policy: r.cfg.Challenge, MaxNumber: r.cfg.ChallengeMaxNumber, Pace: r.cfg.ChallengePace, ThinkMs: ms(r.cfg.ChallengeThink),
		Answered: newSplit(c.answered), Challenged: newSplit(c.challenged), WithSolution: newSplit(c.withSolution), Refused: newSplit(c.refused), Early: newSplit(c.early),
		Solved: newSplit(c.solved), Unsolved: newSplit(c.unsolved), Hashes: newSplit(c.hashes), CPUMeasured: c.cpuMeasured,
		SolveCPU:  BotsPeopleSeconds{Bots: seconds(c.cpu.bots + c.cpu.farms), People: seconds(c.cpu.people)},
		SolveWall: BotsPeopleSeconds{Bots: seconds(c.wall.bots + c.wall.farms), People: seconds(c.wall.people)},
	}
	if c.answered.people > 0 {
		rep.PeopleChallengedShare = float64(c.challenged.people) / float64(c.answered.people)
	}
	if machines := c.answered.bots + c.answered.farms; machines > 0 {
		rep.BotsChallengedShare = float64(c.challenged.bots+c.challenged.farms) / float64(machines)
	}
	if solved := c.solved.bots + c.solved.farms; solved > 0 {
		rep.MeanBotSolveMs = rep.SolveCPU.Bots * 1000 / float64(solved)
	}
	c.mu.Unlock()
	resp := r.checkRequest(ctx, request{endpoint: endpointFairness, method: http.MethodGet,
		path: "/admin/flash-sales/" + url.PathEscape(r.sale.id) + "/fairness", token: r.adminToken})
	var server FairnessCounters
	if resp.status == http.StatusOK && json.Unmarshal(resp.body, &server) == nil {
		rep.Server = &server
	}
	return rep
}

func seconds(ns int64) float64 { return time.Duration(ns).Seconds() }

// challengedRequests names the requests a report's challenge counts
// count: a waiting room's line asks challenges of its joins too.
func challengedRequests(r *Report) string {
	if r.Queue != nil {
		return "requests (place-orders and joins)"
	}
	return "place-orders"
}

// writeChallengeText writes c, whose counts count requests
// (challengedRequests).
func writeChallengeText(b *strings.Builder, c *ChallengeReport, requests string) {
	pace := ""
	if c.Pace > 0 {
		pace = fmt.Sprintf(", pace %d hashes/s", c.Pace)
	}
	fmt.Fprintf(b, "challenges (%s, max_number %d%s): people's %s challenged %d of %d (%.2f %%), bots' %d of %d (%.1f %%); %d carried a solution, %d of those refused, %d early\n",
		c.Policy, c.MaxNumber, pace, requests, c.Challenged.People, c.Answered.People, 100*c.PeopleChallengedShare,
		c.Challenged.Bots+c.Challenged.Farms, c.Answered.Bots+c.Answered.Farms, 100*c.BotsChallengedShare,
		c.WithSolution.Bots+c.WithSolution.Farms+c.WithSolution.People, c.Refused.Bots+c.Refused.Farms+c.Refused.People,
		c.Early.Bots+c.Early.Farms+c.Early.People)
	what := "CPU"
	if !c.CPUMeasured {
		what = "wall (thread CPU time unreadable here)"
	}
	fmt.Fprintf(b, "solved: bots %d (%d hashes, %.3f s %s, %.1f ms each), people %d (%.3f s %s, sent %.0f ms later than a bot would); unsolvable %d\n",
		c.Solved.Bots+c.Solved.Farms, c.Hashes.Bots+c.Hashes.Farms, c.SolveCPU.Bots, what, c.MeanBotSolveMs,
		c.Solved.People, c.SolveCPU.People, what, c.ThinkMs, c.Unsolved.Bots+c.Unsolved.Farms+c.Unsolved.People)
	if c.Server != nil {
		fmt.Fprintf(b, "the service counted %d challenges issued, %d solved, %d failed, %d early\n", c.Server.Challenged, c.Server.Solved, c.Server.Failed, c.Server.Early)
	}
	if s := c.BotSolutionsBeforeSoldOut; s != nil {
		fmt.Fprintf(b, "bots' solutions ready before the sale sold out at %.0f ms: %d of %d on cores of their own (each solve's CPU time), %d here (the cores shared)\n",
			s.SoldOutMs, s.OnOwnCores, s.Solved, s.Here)
	}
}
