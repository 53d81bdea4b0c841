package challenge_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/challenge"
)

func TestSolvedChallengeChecksForItsUserAndSaleOnly(t *testing.T) {
	issuer := challenge.NewIssuer([]byte("fleet secret"))
	now := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	c, err := issuer.Issue("sale-1", "alice", 5000, time.Time{}, now.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c.Algorithm != "SHA-256" || c.MaxNumber != 5000 || !strings.HasSuffix(c.Salt, "&") || !strings.Contains(c.Salt, "?expires=") {
		t.Fatalf("challenge %+v is not in ALTCHA's shape", c)
	}
	if strings.Contains(c.Salt, "notbefore") || !challenge.NotBefore(c).IsZero() {
		t.Fatalf("an unpaced challenge's salt %q names a notbefore", c.Salt)
	}
	solution, ok := challenge.Solve(c)
	if !ok {
		t.Fatal("no number solves the challenge")
	}
	got, ok := issuer.Check(solution.Encode(), "sale-1", "alice", now)
	if !ok || got.ID != c.Challenge || !got.Expires.Equal(now.Add(5*time.Minute)) || !got.NotBefore.IsZero() {
		t.Fatalf("the solution: %+v %v", got, ok)
	}
	if _, ok := challenge.NewIssuer([]byte("fleet secret")).Check(solution.Encode(), "sale-1", "alice", now); !ok {
		t.Fatal("another instance with the same secret refuses the solution")
	}

	wrong := solution
	wrong.Number = (solution.Number + 1) % (c.MaxNumber + 1)
	spliced := solution
	spliced.Salt = strings.Replace(solution.Salt, "user=alice", "user=bob", 1)
	later := solution
	later.Salt = strings.Replace(solution.Salt, "expires=", "expires=9", 1)
	resigned := solution
	resigned.Signature = strings.Repeat("0", 64)
	sha1 := solution
	sha1.Algorithm = "SHA-1"
	for name, check := range map[string]struct {
		header, sale, user string
		at                 time.Time
		issuer             *challenge.Issuer
	}{
		"expired":              {solution.Encode(), "sale-1", "alice", now.Add(5 * time.Minute), issuer},
		"another user's":       {solution.Encode(), "sale-1", "bob", now, issuer},
		"another sale's":       {solution.Encode(), "sale-2", "alice", now, issuer},
		"another secret's":     {solution.Encode(), "sale-1", "alice", now, challenge.NewIssuer([]byte("other"))},
		"a wrong number":       {wrong.Encode(), "sale-1", "alice", now, issuer},
		"a salt for bob":       {spliced.Encode(), "sale-1", "bob", now, issuer},
		"a later expiry":       {later.Encode(), "sale-1", "alice", now, issuer},
		"a forged signature":   {resigned.Encode(), "sale-1", "alice", now, issuer},
		"another algorithm":    {sha1.Encode(), "sale-1", "alice", now, issuer},
		"not base64":           {"%%%", "sale-1", "alice", now, issuer},
		"base64 of not JSON":   {base64.StdEncoding.EncodeToString([]byte("number=1")), "sale-1", "alice", now, issuer},
		"the challenge itself": {mustJSON(t, c), "sale-1", "alice", now, issuer},
	} {
		if _, ok := check.issuer.Check(check.header, check.sale, check.user, check.at); ok {
			t.Errorf("%s solution checks", name)
		}
	}
}

// A paced challenge's salt carries the instant it may first be used, to
// the millisecond, signed with the rest: Check returns it, and a solution
// whose salt names an earlier one does not check.
func TestPacedChallengeCarriesItsNotBefore(t *testing.T) {
	issuer := challenge.NewIssuer([]byte("fleet secret"))
	now := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	notBefore := now.Add(1234 * time.Millisecond)
	c, err := issuer.Issue("sale-1", "alice", 5000, notBefore, notBefore.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Salt, "&notbefore=1898586001234&") {
		t.Fatalf("salt %q does not carry notbefore in Unix milliseconds", c.Salt)
	}
	if got := challenge.NotBefore(c); !got.Equal(notBefore) {
		t.Errorf("a solver reads notbefore %v, want %v", got, notBefore)
	}
	solution, ok := challenge.Solve(c)
	if !ok {
		t.Fatal("no number solves the challenge")
	}
	got, ok := issuer.Check(solution.Encode(), "sale-1", "alice", now)
	if !ok || !got.NotBefore.Equal(notBefore) || !got.Expires.Equal(notBefore.Add(5*time.Minute).Truncate(time.Second)) {
		t.Fatalf("the solution: %+v %v", got, ok)
	}
	sooner := solution
	sooner.Salt = strings.Replace(solution.Salt, "notbefore=1898586001234", "notbefore=1898586000000", 1)
	unpaced := solution
	unpaced.Salt = strings.Replace(solution.Salt, "&notbefore=1898586001234", "", 1)
	for name, s := range map[string]challenge.Solution{"an earlier notbefore": sooner, "no notbefore": unpaced} {
		if _, ok := issuer.Check(s.Encode(), "sale-1", "alice", now); ok {
			t.Errorf("a solution whose salt has %s checks", name)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func BenchmarkCheck(b *testing.B) {
	issuer := challenge.NewIssuer([]byte("fleet secret"))
	now := time.Now()
	c, _ := issuer.Issue("sale-1", "alice", 1000, now, now.Add(time.Minute))
	solution, _ := challenge.Solve(c)
	header := solution.Encode()
	for b.Loop() {
		if _, ok := issuer.Check(header, "sale-1", "alice", now); !ok {
			b.Fatal("refused")
		}
	}
}

// Check takes a Flashsale-Challenge header only as a solution of a
// challenge issued under the key, for the sale and user it was issued for,
// with its expiry and the instant it may first be used, and names it by
// that challenge: whatever the header's base64, JSON, salt parameters and
// number. Every challenge issued under this key is for sale-1 and alice,
// usable from 09:00:00.250 and expiring at 09:05 (each fuzzing
// process issues its own, at random, so the one issued here need not be
// the seed's). The fuzzer gets the header as sent (encode false) or the
// JSON inside it (encode true).
func FuzzCheckTakesOnlyTheIssuedChallenge(f *testing.F) {
	issuer := challenge.NewIssuer([]byte("fleet secret"))
	now := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	expires := now.Add(5 * time.Minute)
	notBefore := now.Add(250 * time.Millisecond)
	c, err := issuer.Issue("sale-1", "alice", 50, notBefore, expires)
	if err != nil {
		f.Fatal(err)
	}
	solution, ok := challenge.Solve(c)
	if !ok {
		f.Fatal("no number solves the challenge")
	}
	header := solution.Encode()
	raw, _ := base64.StdEncoding.DecodeString(header)
	f.Add(header, false, "sale-1", "alice")
	f.Add(string(raw), true, "sale-1", "alice")
	f.Add(string(raw), true, "sale-2", "alice")
	f.Add(strings.Replace(string(raw), "&\"", "&sale=sale-2&\"", 1), true, "sale-2", "alice")
	f.Add(strings.Replace(string(raw), "user=alice", "user=alice&user=bob", 1), true, "sale-1", "bob")
	f.Add(strings.Replace(string(raw), `"number":`, `"number":-`, 1), true, "sale-1", "alice")
	f.Add(strings.Replace(string(raw), "notbefore=", "notbefore=1&notbefore=", 1), true, "sale-1", "alice")
	f.Add(strings.TrimRight(header, "="), false, "sale-1", "alice")
	f.Add("", false, "", "")
	f.Add("{}", true, "", "")
	f.Fuzz(func(t *testing.T, text string, encode bool, sale, user string) {
		h := text
		if encode {
			h = base64.StdEncoding.EncodeToString([]byte(text))
		}
		got, ok := issuer.Check(h, sale, user, now)
		if !ok {
			return
		}
		raw, _ := base64.StdEncoding.DecodeString(h)
		var sent challenge.Solution
		json.Unmarshal(raw, &sent)
		if got.ID != sent.Challenge || sale != "sale-1" || user != "alice" || !got.Expires.Equal(expires) || !got.NotBefore.Equal(notBefore) {
			t.Fatalf("%q (challenge %q) checks for sale %q, user %q as %+v; issued for sale-1, alice, usable from %v, expiring %v",
				h, sent.Challenge, sale, user, got, notBefore, expires)
		}
	})
}

// A range finds the number only when it holds it, and ranges that cover
// [0, MaxNumber] find what Solve finds.
func TestSolveRangeFindsTheNumberInItsRange(t *testing.T) {
	issuer := challenge.NewIssuer([]byte("fleet secret"))
	c, err := issuer.Issue("sale-1", "alice", 5000, time.Time{}, time.Date(2030, 3, 1, 9, 5, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want, ok := challenge.Solve(c)
	if !ok {
		t.Fatal("no number solves the challenge")
	}
	n := want.Number
	for _, r := range []struct {
		first, last int64
		found       bool
	}{{n, n, true}, {0, n - 1, false}, {n + 1, c.MaxNumber + 10, false}, {-10, n, true}, {n, c.MaxNumber + 10, true}} {
		got, ok := challenge.SolveRange(c, r.first, r.last)
		if ok != r.found || ok && got != want {
			t.Errorf("[%d, %d] with the number %d: %+v, %v", r.first, r.last, n, got, ok)
		}
	}
	var found []int64
	for first := int64(0); first <= c.MaxNumber; first += 700 {
		if got, ok := challenge.SolveRange(c, first, first+699); ok {
			found = append(found, got.Number)
		}
	}
	if len(found) != 1 || found[0] != n {
		t.Errorf("ranges of 700 found %v, want [%d]", found, n)
	}
}
