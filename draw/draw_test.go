package draw_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/flashsale/flashsale/draw"
)

// The vector was computed with coreutils and OpenSSL, not with this
// package:
//
//	SEED=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
//	printf 'carol\nalice\némile\nZed\nbob\n' | LC_ALL=C sort | sha256sum
//	printf %s "$DIGEST$ID" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$SEED
//	printf %s $SEED | xxd -r -p | sha256sum
//
// The ids mix an upper-case and a non-ASCII one, so that sorting by bytes
// (Z before a before é) is what the digest checks.
var (
	vectorSeed       = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	vectorCommitment = "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
	vectorIDs        = []string{"carol", "alice", "émile", "Zed", "bob"}
	vectorDigest     = "f9f2f0d30811ff75051a5e3f83cd40f3e9741234448b898e243a38fa39b336cf"
	vectorScores     = map[string]string{
		"émile": "05c8921b92374fe274dab0760ecd4cce6c43cae8a99be4dadbad92b3fd0ea707",
		"carol": "08cda167894a0b23dcacc4f7053a0fb0570ef1bcf9c1df46cd97239ac0730040",
		"bob":   "49330ba43cd2283eab0336e451f96685134ff4c010918b601a3d0e99f91618d1",
		"Zed":   "b97fb64f5aade867d87ce265d549c998fde9cd1cfbf60b212389d6661d27c017",
		"alice": "dd7afab4c95db1672903c9418d02849caff2a2f0db7b69158302b888e2f2b31a",
	}
	vectorOrder = []string{"émile", "carol", "bob", "Zed", "alice"}
)

func TestVector(t *testing.T) {
	seed, err := draw.ParseSeed(vectorSeed)
	if err != nil {
		t.Fatal(err)
	}
	if got := seed.String(); got != vectorSeed {
		t.Errorf("String = %s, want %s", got, vectorSeed)
	}
	if got := seed.Commitment(); got != vectorCommitment {
		t.Errorf("Commitment = %s, want %s", got, vectorCommitment)
	}
	if got := draw.Digest(vectorIDs); got != vectorDigest {
		t.Errorf("Digest = %s, want %s", got, vectorDigest)
	}
	for id, want := range vectorScores {
		if got := draw.Score(seed, vectorDigest, id); got != want {
			t.Errorf("Score(%s) = %s, want %s", id, got, want)
		}
	}
	if got := draw.Order(seed, vectorIDs); !slices.Equal(got, vectorOrder) {
		t.Errorf("Order = %q, want %q", got, vectorOrder)
	}
	if !slices.Equal(vectorIDs, []string{"carol", "alice", "émile", "Zed", "bob"}) {
		t.Errorf("Order changed its argument to %q", vectorIDs)
	}
}

func TestParseSeedRefusesMalformed(t *testing.T) {
	for _, text := range []string{"", "00", vectorSeed + "00", "zz" + vectorSeed[2:]} {
		if _, err := draw.ParseSeed(text); err == nil {
			t.Errorf("ParseSeed(%q) succeeded", text)
		}
	}
}

func TestNewSeedsDiffer(t *testing.T) {
	a, err := draw.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	b, err := draw.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a == (draw.Seed{}) {
		t.Fatalf("NewSeed gave %s and %s", a, b)
	}
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("ticket-%05d", i)
	}
	return out
}

func fixedSeed(t *testing.T) draw.Seed {
	t.Helper()
	seed, err := draw.ParseSeed(vectorSeed)
	if err != nil {
		t.Fatal(err)
	}
	return seed
}

// The order is a permutation of the entries and depends on the set, never
// on the order the entries are given in.
func TestOrderIsAPermutationOfTheSet(t *testing.T) {
	seed := fixedSeed(t)
	entries := ids(500)
	order := draw.Order(seed, entries)
	if sorted := slices.Sorted(slices.Values(order)); !slices.Equal(sorted, entries) {
		t.Fatal("Order is not a permutation of its entries")
	}
	reversed := slices.Clone(entries)
	slices.Reverse(reversed)
	if again := draw.Order(seed, reversed); !slices.Equal(again, order) {
		t.Fatal("Order depends on the order the entries are given in")
	}
	if empty := draw.Order(seed, nil); len(empty) != 0 {
		t.Fatalf("Order of no entries = %q", empty)
	}
}

// spearman returns the rank correlation of two rankings of the same n
// items without ties: 1 - 6 Σd² / (n(n²-1)).
func spearman(a, b []int) float64 {
	n := float64(len(a))
	var sum float64
	for i := range a {
		d := float64(a[i] - b[i])
		sum += d * d
	}
	return 1 - 6*sum/(n*(n*n-1))
}

// Entries that arrive in a known order come out unrelated to it. The
// seed is fixed, so the figure is always the same one: |ρ| of a uniform
// shuffle of 2,000 is about 0.02 on average, and this one is checked
// against 0.1, five standard deviations.
func TestOrderIsUnrelatedToArrival(t *testing.T) {
	entries := ids(2000)
	order := draw.Order(fixedSeed(t), entries)
	position := make(map[string]int, len(order))
	for i, id := range order {
		position[id] = i
	}
	arrival, drawn := make([]int, len(entries)), make([]int, len(entries))
	for i, id := range entries {
		arrival[i], drawn[i] = i, position[id]
	}
	if rho := spearman(arrival, drawn); math.Abs(rho) >= 0.1 {
		t.Fatalf("Spearman ρ(arrival, draw) = %.3f, want |ρ| < 0.1", rho)
	}
	if rho := spearman(arrival, arrival); rho != 1 {
		t.Fatalf("Spearman of a ranking with itself = %f", rho)
	}
}

// Another seed, or one entry more or less, reorders everyone: nobody can
// aim a place by adding an entry once the seed is known.
func TestOrderChangesWithSeedAndSet(t *testing.T) {
	seed := fixedSeed(t)
	entries := ids(200)
	order := draw.Order(seed, entries)

	other := seed
	other[0] ^= 1
	if slices.Equal(draw.Order(other, entries), order) {
		t.Error("another seed gave the same order")
	}
	fewer := draw.Order(seed, entries[1:])
	if slices.Equal(fewer, slices.DeleteFunc(slices.Clone(order), func(id string) bool { return id == entries[0] })) {
		t.Error("dropping an entry left the others in the same order")
	}
}

func published(t *testing.T) draw.Published {
	t.Helper()
	return draw.Published{
		Commitment:    vectorCommitment,
		Seed:          vectorSeed,
		EntriesDigest: vectorDigest,
		EntryCount:    len(vectorIDs),
		Entries:       slices.Sorted(slices.Values(vectorIDs)),
	}
}

func TestVerify(t *testing.T) {
	order, err := draw.Verify(published(t))
	if err != nil {
		t.Fatalf("Verify of the vector: %v", err)
	}
	if !slices.Equal(order, vectorOrder) {
		t.Fatalf("Verify = %q, want %q", order, vectorOrder)
	}

	tampered := map[string]func(p *draw.Published){
		"an altered id":      func(p *draw.Published) { p.Entries[2] = "carl" },
		"an added id":        func(p *draw.Published) { p.Entries = append(p.Entries, "mallory"); p.EntryCount++ },
		"a dropped id":       func(p *draw.Published) { p.Entries = p.Entries[1:]; p.EntryCount-- },
		"a repeated id":      func(p *draw.Published) { p.Entries[1] = p.Entries[0] },
		"a wrong count":      func(p *draw.Published) { p.EntryCount++ },
		"an altered seed":    func(p *draw.Published) { p.Seed = "01" + p.Seed[2:] },
		"a malformed seed":   func(p *draw.Published) { p.Seed = p.Seed[2:] },
		"another digest":     func(p *draw.Published) { p.EntriesDigest = vectorCommitment },
		"another commitment": func(p *draw.Published) { p.Commitment = vectorDigest },
	}
	for name, tamper := range tampered {
		p := published(t)
		tamper(&p)
		if order, err := draw.Verify(p); err == nil {
			t.Errorf("Verify with %s passed with order %q", name, order)
		}
	}
}

// ParseSeed takes exactly 64 hex digits, in either case, and the seed
// prints as those digits in lower case. Run with -fuzz to search beyond
// the seeds.
func FuzzParseSeed(f *testing.F) {
	for _, s := range []string{
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
		" 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"", "00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seed, err := draw.ParseSeed(s)
		if err != nil {
			return
		}
		if len(s) != 64 || strings.Trim(strings.ToLower(s), "0123456789abcdef") != "" {
			t.Fatalf("ParseSeed(%q) took what is not 64 hex digits", s)
		}
		if seed.String() != strings.ToLower(s) {
			t.Fatalf("ParseSeed(%q) prints as %q", s, seed.String())
		}
	})
}

// Verify accepts only a draw consistent with itself: a seed that parses
// and matches the commitment, as many distinct entries as entry_count, and
// their digest; the order it returns is those entries, each once, in the
// order Order gives. The fuzzer cannot invert SHA-256, so commitment and
// digest may be taken from the fuzzed seed and entries (honest) or from
// the fuzzed text.
func FuzzVerify(f *testing.F) {
	const seed = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	f.Add(seed, true, "", "carol\nalice\némile\nZed\nbob", 0, true, "")
	f.Add(seed, true, "", "alice\nalice", 0, true, "")
	f.Add(seed, true, "", "", 0, true, "")
	f.Add(seed, true, "", "a\nb", 1, true, "")
	f.Add(strings.ToUpper(seed), true, "", "a\nb", 0, true, "")
	f.Add(seed, false, "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd", "a", 0, false,
		"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb")
	f.Add("zz", true, "", "a", 0, true, "")
	f.Fuzz(func(t *testing.T, seedText string, honestCommitment bool, commitment, entries string, countOff int,
		honestDigest bool, digest string) {
		p := draw.Published{Seed: seedText, Commitment: commitment, EntriesDigest: digest}
		if entries != "" {
			p.Entries = strings.Split(entries, "\n")
		}
		p.EntryCount = len(p.Entries) + countOff
		parsed, parseErr := draw.ParseSeed(seedText)
		if honestCommitment && parseErr == nil {
			p.Commitment = parsed.Commitment()
		}
		if honestDigest {
			p.EntriesDigest = draw.Digest(p.Entries)
		}
		order, err := draw.Verify(p)
		if err != nil {
			return
		}
		switch {
		case parseErr != nil:
			t.Fatalf("Verify took seed %q, which ParseSeed refuses: %v", seedText, parseErr)
		case parsed.Commitment() != p.Commitment:
			t.Fatalf("Verify took seed %q against commitment %q", seedText, p.Commitment)
		case len(p.Entries) != p.EntryCount:
			t.Fatalf("Verify took %d entries for entry_count %d", len(p.Entries), p.EntryCount)
		case draw.Digest(p.Entries) != p.EntriesDigest:
			t.Fatalf("Verify took entries %q against digest %q", p.Entries, p.EntriesDigest)
		}
		sorted, want := slices.Sorted(slices.Values(order)), slices.Sorted(slices.Values(p.Entries))
		if !slices.Equal(sorted, want) || len(slices.Compact(sorted)) != len(want) {
			t.Fatalf("Verify of %q gave %q: not each entry once", p.Entries, order)
		}
		if !slices.Equal(order, draw.Order(parsed, p.Entries)) {
			t.Fatalf("Verify of %q gave %q, Order %q", p.Entries, order, draw.Order(parsed, p.Entries))
		}
	})
}
