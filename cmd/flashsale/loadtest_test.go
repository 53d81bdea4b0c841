package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// embeddedLoadtest runs flashsale loadtest --embedded with args, reads its
// JSON report into report, and returns what it printed.
func embeddedLoadtest(t *testing.T, report any, args ...string) string {
	t.Helper()
	reportPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	err := loadtestCommand(context.Background(), append(append([]string{"--embedded"}, args...), "-json", reportPath),
		func(string) string { return "" }, &stdout, &stderr)
	if err != nil {
		t.Fatalf("loadtest: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, report); err != nil {
		t.Fatal(err)
	}
	return stdout.String()
}

// The queue scenario against the real embedded server: shoppers and bots
// in a pre-queue and after the start, admitted by the server's own ticks,
// buy the stock with their admission tokens; the bots' presses without a
// token are refused; the report finds nothing wrong.
func TestLoadtestQueueAgainstTheEmbeddedServer(t *testing.T) {
	var report struct {
		Violations   []string `json:"violations"`
		Bots         int64    `json:"bots"`
		Reservations struct{ Bots, People int64 }
		Queue        struct {
			JoinedPreQueue   struct{ Bots, People int64 } `json:"joined_pre_queue"`
			JoinedAfterStart struct{ Bots, People int64 } `json:"joined_after_start"`
			Admitted         struct{ Bots, People int64 }
			AdmittedTotal    int64 `json:"admitted_by_service"`
			TokenlessPresses int64 `json:"tokenless_presses"`
		} `json:"queue"`
	}
	stdout := embeddedLoadtest(t, &report,
		"-scenario", "queue", "-users", "100", "-units", "10", "-bot-share", "0.1",
		"-admit-per-minute", "1200", "-pre-queue", "1s", "-start-delay", "2s", "-jitter", "500ms", "-think-time", "10ms",
		"-concurrency", "32")
	if !strings.Contains(stdout, "waiting room:") {
		t.Errorf("text summary without the waiting room:\n%s", stdout)
	}
	q := report.Queue
	if len(report.Violations) != 0 || report.Reservations.Bots+report.Reservations.People != 10 {
		t.Errorf("violations %v, reservations %+v: want the 10 units sold cleanly", report.Violations, report.Reservations)
	}
	if q.JoinedPreQueue.Bots != report.Bots || q.JoinedPreQueue.People == 0 || q.JoinedAfterStart.People == 0 {
		t.Errorf("joined %+v before and %+v after the start: want every bot and some people in the pre-queue, people after", q.JoinedPreQueue, q.JoinedAfterStart)
	}
	if seen := q.Admitted.Bots + q.Admitted.People; seen < 10 || seen > q.AdmittedTotal {
		t.Errorf("%d shoppers saw their admission, the server counted %d: want at least the 10 buyers, at most the server's count", seen, q.AdmittedTotal)
	}
	if q.TokenlessPresses == 0 {
		t.Error("no bot pressed without a token")
	}
}

// The farm scenario against the real embedded server: the sale is created
// with per_card 1, each operator's accounts pay with one card, and the
// server refuses every payment of an operator after its first; the report
// counts those refusals apart and finds nothing wrong.
func TestLoadtestFarmAgainstTheEmbeddedServer(t *testing.T) {
	var report struct {
		Violations   []string `json:"violations"`
		Reservations struct{ Farms int64 }
		Payments     struct {
			Failed           int64 `json:"failed"`
			CardLimitRefused int64 `json:"card_limit_refused"`
		} `json:"payments"`
		Farm struct {
			CardLimit         int64 `json:"card_limit"`
			Operators         int64 `json:"operators"`
			Confirmed         struct{ Farms int64 }
			MostByOneOperator int64 `json:"most_by_one_operator"`
		} `json:"farm"`
	}
	stdout := embeddedLoadtest(t, &report,
		"-scenario", "farm", "-users", "100", "-units", "20", "-farm-share", "0.05", "-farm-accounts", "4",
		"-come-back", "0", "-start-delay", "1s", "-jitter", "500ms", "-think-time", "10ms", "-concurrency", "32")
	if !strings.Contains(stdout, "refused by the card limit") {
		t.Errorf("text summary without the farms:\n%s", stdout)
	}
	f := report.Farm
	if len(report.Violations) != 0 || report.Payments.Failed != 0 {
		t.Errorf("violations %v, %d failed payments: want none", report.Violations, report.Payments.Failed)
	}
	if f.CardLimit != 1 || f.Operators != 5 || f.MostByOneOperator != 1 || f.Confirmed.Farms > f.Operators {
		t.Errorf("farm report %+v: want per_card 1 holding each of the 5 operators to one unit", f)
	}
	if refused := report.Payments.CardLimitRefused; refused == 0 || refused != report.Reservations.Farms-f.Confirmed.Farms {
		t.Errorf("%d payments refused by the card limit, farm accounts reserved %d and bought %d: want every other farm reservation refused",
			refused, report.Reservations.Farms, f.Confirmed.Farms)
	}
}

// The farm scenario in front of the real embedded server's waiting room,
// which counts cards at the join: each operator's first account gets the
// card's place and the server refuses the other accounts' joins; the
// report counts those refusals apart, no operator's card holds two places
// or pays twice, and nothing is wrong.
func TestLoadtestFarmInFrontOfAWaitingRoom(t *testing.T) {
	var report struct {
		Violations []string `json:"violations"`
		Payments   struct {
			Failed           int64 `json:"failed"`
			CardLimitRefused int64 `json:"card_limit_refused"`
		} `json:"payments"`
		Queue struct {
			JoinedPreQueue struct{ Farms int64 } `json:"joined_pre_queue"`
		} `json:"queue"`
		Farm struct {
			MostByOneOperator int64                         `json:"most_by_one_operator"`
			JoinRefusals      struct{ Farms, People int64 } `json:"join_card_limit_refusals"`
		} `json:"farm"`
	}
	stdout := embeddedLoadtest(t, &report,
		"-scenario", "farm", "-waiting-room", "-users", "100", "-units", "20", "-farm-share", "0.05", "-farm-accounts", "4",
		"-admit-per-minute", "1200", "-pre-queue", "1s", "-start-delay", "2s", "-jitter", "500ms", "-think-time", "10ms",
		"-concurrency", "32")
	if !strings.Contains(stdout, "refused by the card limit at the waiting room's join: 15 joins (farm accounts 15, others 0)") {
		t.Errorf("text summary without the 15 joins refused:\n%s", stdout)
	}
	if len(report.Violations) != 0 || report.Payments.Failed != 0 || report.Payments.CardLimitRefused != 0 {
		t.Errorf("violations %v, payments %+v: want none failed or refused at payment", report.Violations, report.Payments)
	}
	if f := report.Farm; f.JoinRefusals.Farms != 15 || f.JoinRefusals.People != 0 || f.MostByOneOperator > 1 || report.Queue.JoinedPreQueue.Farms != 5 {
		t.Errorf("farm report %+v, %d farm places: want 15 farm joins refused, one place and at most one unit per operator", f, report.Queue.JoinedPreQueue.Farms)
	}
}

// The lottery scenario against the real embedded server: the users enter
// (some twice), the server's leader draws at the close and reserves for
// the winners, the unpaid reservations expire or are cancelled and pass
// down the waitlist; the run recomputes the published draw and finds what
// every user read consistent with it, and nothing sold beyond the stock.
func TestLoadtestLotteryAgainstTheEmbeddedServer(t *testing.T) {
	var report struct {
		Violations []string `json:"violations"`
		FinalStats struct {
			Items []struct{ Total, Sold int64 }
		} `json:"final_stats"`
		Lottery struct {
			Entered      int64    `json:"entered"`
			Reentered    int64    `json:"reentered"`
			EntryCount   int64    `json:"entry_count"`
			Winners      int64    `json:"winners"`
			Reservations int64    `json:"reservations"`
			DrawAfterMs  *float64 `json:"draw_after_ms"`
			Verification struct {
				Verified          bool  `json:"verified"`
				UsersChecked      int64 `json:"users_checked"`
				RankReads         int64 `json:"rank_reads"`
				UsersWithOneEntry int64 `json:"users_with_one_entry"`
			} `json:"verification"`
		} `json:"lottery"`
	}
	stdout := embeddedLoadtest(t, &report,
		"-scenario", "lottery", "-users", "80", "-units", "10", "-entry-window", "2s", "-jitter", "1s",
		"-start-delay", "1s", "-reservation-ttl", "1s", "-pay-probability", "0.5", "-think-time", "10ms", "-poll-interval", "100ms",
		"-reenter-share", "0.5", "-concurrency", "32", "-duration", "40s")
	if !strings.Contains(stdout, "draw check: VERIFIED") {
		t.Errorf("text summary without a verified draw:\n%s", stdout)
	}
	l, v := report.Lottery, report.Lottery.Verification
	if len(report.Violations) != 0 || !v.Verified || v.UsersChecked != 80 || v.UsersWithOneEntry != 80 || v.RankReads == 0 {
		t.Errorf("violations %v, verification %+v: want the draw verified against every user's reads", report.Violations, v)
	}
	if l.Entered != 80 || l.Reentered == 0 || l.EntryCount != 80 || l.Winners != 10 || l.DrawAfterMs == nil || l.Reservations < 10 {
		t.Errorf("lottery %+v: want 80 entries, some sent twice, the draw seen, 10 winners reserved", l)
	}
	if items := report.FinalStats.Items; len(items) != 1 || items[0].Sold > items[0].Total {
		t.Errorf("final stats %+v: want one item sold within its stock", items)
	}
}

// The bots scenario against the real embedded server with a sale that
// challenges every press: bots and people solve the server's challenges,
// the server takes their solutions, and the stock sells without a
// violation. Paced, every solution waits for its notbefore and none is
// answered early.
func TestLoadtestBotsSolveTheEmbeddedServersChallenges(t *testing.T) {
	for _, pace := range []string{"0", "10000"} { // 10,000 hashes a second: 50 ms for max_number 1000
		t.Run("pace "+pace, func(t *testing.T) {
			var report struct {
				Violations   []string `json:"violations"`
				Reservations struct{ Bots, People int64 }
				Challenges   struct {
					Pace    int64
					Solved  struct{ Bots, People int64 }
					Refused struct{ Bots, People int64 }
					Early   struct{ Bots, People int64 }
					Server  *struct{ Challenged, Solved int64 }
				} `json:"challenges"`
			}
			embeddedLoadtest(t, &report,
				"-scenario", "bots", "-users", "100", "-units", "40", "-bot-share", "0.1", "-challenge", "always",
				"-challenge-max-number", "1000", "-challenge-pace", pace, "-challenge-think", "10ms", "-start-delay", "1s", "-jitter", "500ms",
				"-think-time", "10ms", "-concurrency", "32")
			c := report.Challenges
			// The 10 bots take at most 10 units: people, a reaction time
			// behind them, solve and buy the rest.
			if len(report.Violations) != 0 || report.Reservations.Bots+report.Reservations.People != 40 {
				t.Errorf("violations %v, reservations %+v: want the 40 units sold cleanly", report.Violations, report.Reservations)
			}
			if c.Solved.Bots == 0 || c.Solved.People == 0 || c.Refused.Bots+c.Refused.People != 0 || c.Server == nil || c.Server.Solved == 0 {
				t.Errorf("challenges %+v: want bots and people solving and the server taking every solution", c)
			}
			if fmt.Sprint(c.Pace) != pace || c.Early.Bots+c.Early.People != 0 {
				t.Errorf("challenges %+v: want pace %s and no solution sent before its notbefore", c, pace)
			}
		})
	}
}

// The real server's reaction signal and the generator's people agree:
// under suspicious, people who take a reaction time after the start
// (here a second, give or take a tenth) are never asked a challenge,
// whatever the bots pressing at the start are asked.
func TestLoadtestPeopleWhoReactAreNotChallengedByTheEmbeddedServer(t *testing.T) {
	var report struct {
		Violations []string `json:"violations"`
		Challenges struct {
			Answered   struct{ Bots, People int64 }
			Challenged struct{ Bots, People int64 }
		} `json:"challenges"`
	}
	embeddedLoadtest(t, &report,
		"-scenario", "bots", "-users", "100", "-units", "40", "-bot-share", "0.1", "-challenge", "suspicious",
		"-challenge-max-number", "1000", "-challenge-think", "10ms", "-reaction", "1s", "-start-delay", "1s", "-jitter", "500ms",
		"-think-time", "10ms", "-concurrency", "32")
	c := report.Challenges
	if len(report.Violations) != 0 || c.Answered.People == 0 || c.Answered.Bots == 0 {
		t.Fatalf("violations %v, challenges %+v: want a clean run with people and bots answered", report.Violations, c)
	}
	if c.Challenged.People != 0 {
		t.Errorf("challenges %+v: people reacting in about a second were challenged", c)
	}
}
