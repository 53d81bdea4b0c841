package draw_test

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flashsale/flashsale/draw"
)

// Pearson's chi-square critical values at p = 0.01.
const critical99, critical9 = 134.64, 21.67

// uniformity runs 200 lotteries of 10 winners among 100 entrants with
// order, and returns Pearson's chi-square of the wins per entrant (99
// degrees of freedom) and per tenth of the entrants by entry time (9
// degrees). The ids sort as the service's do, by entry time (UUIDv7). The
// seeds and ids are fixed, so the figures are the same on every run.
func uniformity(t *testing.T, order func(draw.Seed, []string) []string) (perEntrant, perDecile float64) {
	const draws, entrants, winners = 200, 100, 10
	ids := make([]string, entrants)
	for i := range ids {
		// Shaped as UUIDv7: a timestamp first, so byte order is entry order.
		ids[i] = fmt.Sprintf("019aa0c2-%04x-7000-8000-%012x", i, i*2654435761%(1<<40))
	}
	wins := make([]int, entrants)
	byDecile := make([]int, 10)
	for d := range draws {
		seed := draw.Seed(sha256.Sum256(fmt.Appendf(nil, "uniformity seed %d", d)))
		for _, id := range order(seed, ids)[:winners] {
			var i int
			if _, err := fmt.Sscanf(id[9:13], "%04x", &i); err != nil {
				t.Fatal(err)
			}
			wins[i]++
			byDecile[i*10/entrants]++
		}
	}
	total := float64(draws * winners)
	return chiSquare(wins, total/entrants), chiSquare(byDecile, total/10)
}

func chiSquare(observed []int, expected float64) float64 {
	var x float64
	for _, o := range observed {
		d := float64(o) - expected
		x += d * d / expected
	}
	return x
}

// Every entrant wins as often as chance says, and so does every tenth of
// the entrants by entry time: p > 0.01 for both.
func TestLotteryDrawIsUniform(t *testing.T) {
	perEntrant, perDecile := uniformity(t, draw.Order)
	if perEntrant >= critical99 {
		t.Errorf("wins per entrant: chi-square %.1f >= %.2f (p <= 0.01)", perEntrant, critical99)
	}
	if perDecile >= critical9 {
		t.Errorf("wins per tenth of the entries by time: chi-square %.1f >= %.2f (p <= 0.01)", perDecile, critical9)
	}
}

// The same measure catches a draw that favours early entries: one that
// shuffles fairly but keeps the earliest tenth in front half the time.
func TestUniformityCatchesAnEarlyBias(t *testing.T) {
	biased := func(seed draw.Seed, ids []string) []string {
		order := draw.Order(seed, ids)
		if seed[0]%2 == 0 {
			early := slices.Clone(ids[:len(ids)/10])
			rand.New(rand.NewChaCha8(seed)).Shuffle(len(early), func(i, j int) { early[i], early[j] = early[j], early[i] })
			order = append(early, slices.DeleteFunc(order, func(id string) bool { return slices.Contains(early, id) })...)
		}
		return order
	}
	if _, perDecile := uniformity(t, biased); perDecile < critical9 {
		t.Fatalf("a draw biased to early entries passes: chi-square %.1f < %.2f", perDecile, critical9)
	}
}
