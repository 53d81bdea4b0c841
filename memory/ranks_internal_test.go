package memory

import (
	"math/rand/v2"
	"testing"
)

// ranks agrees with a plain list of occupied places through a long run of
// random pushes and frees.
func TestRanksAgreeWithAList(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var r ranks
	var occupied []bool // occupied[i] for place i+1
	for step := range 20_000 {
		if len(occupied) == 0 || rng.IntN(3) > 0 {
			if got := r.push(); got != len(occupied)+1 {
				t.Fatalf("step %d: push = %d, want %d", step, got, len(occupied)+1)
			}
			occupied = append(occupied, true)
		} else if i := rng.IntN(len(occupied)); occupied[i] {
			r.free(i + 1)
			occupied[i] = false
		}
		if step%97 != 0 {
			continue
		}
		var count int64
		for i, in := range occupied {
			if !in {
				continue
			}
			count++
			if got := r.count(i + 1); got != count {
				t.Fatalf("step %d: count(%d) = %d, want %d", step, i+1, got, count)
			}
			if got := r.kth(count); got != i+1 {
				t.Fatalf("step %d: kth(%d) = %d, want %d", step, count, got, i+1)
			}
		}
	}
}
