package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The queue scenario against the real embedded server: shoppers and bots
// in a pre-queue and after the start, admitted by the server's own ticks,
// buy the stock with their admission tokens; the bots' presses without a
// token are refused; the report finds nothing wrong.
func TestLoadtestQueueAgainstTheEmbeddedServer(t *testing.T) {
	reportPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	err := loadtestCommand(context.Background(), []string{
		"--embedded", "-scenario", "queue", "-users", "100", "-units", "10", "-bot-share", "0.1",
		"-admit-per-minute", "1200", "-pre-queue", "1s", "-start-delay", "2s", "-jitter", "500ms", "-think-time", "10ms",
		"-concurrency", "32", "-json", reportPath,
	}, func(string) string { return "" }, &stdout, &stderr)
	if err != nil {
		t.Fatalf("loadtest: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "waiting room:") {
		t.Errorf("text summary without the waiting room:\n%s", stdout.String())
	}
	data, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
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
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatal(err)
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
	reportPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	err := loadtestCommand(context.Background(), []string{
		"--embedded", "-scenario", "farm", "-users", "100", "-units", "20", "-farm-share", "0.05", "-farm-accounts", "4",
		"-come-back", "0", "-start-delay", "1s", "-jitter", "500ms", "-think-time", "10ms", "-concurrency", "32", "-json", reportPath,
	}, func(string) string { return "" }, &stdout, &stderr)
	if err != nil {
		t.Fatalf("loadtest: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "refused by the card limit") {
		t.Errorf("text summary without the farms:\n%s", stdout.String())
	}
	data, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
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
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatal(err)
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
