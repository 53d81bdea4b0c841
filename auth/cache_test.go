package auth

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// len returns the number of tokens held, expired ones included.
func (c *verifiedCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.current) + len(s.previous)
		s.mu.Unlock()
	}
	return n
}

func TestVerifyRemembersAcceptedTokens(t *testing.T) {
	a := newAuthenticator(t)
	token, _ := a.Mint("user-1", true, time.Hour)
	for range 2 {
		claims, err := a.Verify(token)
		if err != nil {
			t.Fatal(err)
		}
		if want := (Claims{UserID: "user-1", Admin: true}); claims != want {
			t.Fatalf("Verify = %+v, want %+v", claims, want)
		}
	}
	if n := a.verified.len(); n != 1 {
		t.Fatalf("cache holds %d tokens after verifying one twice, want 1", n)
	}
	if c, ok := a.verified.get(token, time.Now()); !ok || c != (Claims{UserID: "user-1", Admin: true}) {
		t.Fatalf("cache has %+v, %v for the verified token", c, ok)
	}
}

func TestVerifyRemembersNoRejectedToken(t *testing.T) {
	a := newAuthenticator(t)
	token, _ := a.Mint("user-1", false, time.Hour)
	exp := expiresIn(time.Hour)
	for _, bad := range []string{
		"not-a-token", promoteToAdmin(t, token), token[:len(token)-1],
		signedAsMinted(fmt.Appendf(nil, `{"sub":"%s","exp":%d}`, strings.Repeat("u", MaxUserIDLength+1), exp)),
		signedAsMinted(fmt.Appendf(nil, `{"sub":"user\u0000","exp":%d}`, exp)),
		signedWith([]byte(otherHeader), fmt.Appendf(nil, `{"sub":"user\u0000","exp":%d}`, exp)),
		signedAsMinted(fmt.Appendf(nil, `{"sub":"user-1","exp":"%d"}`, exp)),
		signedWith([]byte(otherHeader), fmt.Appendf(nil, `{"sub":"user-1","exp":"%d"}`, exp)),
		signedWith([]byte(`{"alg":"HS256","typ":"JWT","crit":["exp"]}`), fmt.Appendf(nil, `{"sub":"user-1","exp":%d}`, exp)),
	} {
		for range 2 {
			if _, err := a.Verify(bad); err == nil {
				t.Fatalf("accepted %q", bad)
			}
		}
	}
	if n := a.verified.len(); n != 0 {
		t.Fatalf("cache holds %d tokens after only rejections", n)
	}
}

// A cached token must not open the door to any other string: a tampered
// copy, a prefix, or the token with something appended.
func TestVerifyAcceptsOnlyTheCachedTokenItself(t *testing.T) {
	a := newAuthenticator(t)
	token, _ := a.Mint("user-1", false, time.Hour)
	if _, err := a.Verify(token); err != nil {
		t.Fatal(err)
	}
	sig := strings.LastIndexByte(token, '.') + 1
	flipped := []byte(token)
	flipped[sig] ^= 1
	for _, other := range []string{promoteToAdmin(t, token), string(flipped), token[:len(token)-1], token + "A", " " + token} {
		if claims, err := a.Verify(other); err == nil {
			t.Errorf("accepted %q as %+v after caching %q", other, claims, token)
		}
	}
}

// Verify answers from the cache only while the entry's exp is ahead: an
// entry whose exp has passed is never served, even though its string is
// in the cache.
func TestVerifyServesNoExpiredEntry(t *testing.T) {
	a := newAuthenticator(t)
	now := time.Now()
	a.verified.put("not-a-token-but-cached", Claims{UserID: "ghost"}, now.Add(time.Hour), now)
	if c, err := a.Verify("not-a-token-but-cached"); err != nil || c.UserID != "ghost" {
		t.Fatalf("Verify did not answer from the cache: %+v, %v", c, err)
	}
	a.verified.put("expired-but-cached", Claims{UserID: "ghost"}, now.Add(time.Hour), now)
	s := a.verified.shard("expired-but-cached")
	s.mu.Lock()
	s.current["expired-but-cached"] = verified{claims: Claims{UserID: "ghost"}, expires: now.Unix()}
	s.mu.Unlock()
	if c, err := a.Verify("expired-but-cached"); err == nil {
		t.Fatalf("an expired cache entry was served: %+v", c)
	}
}

func TestCacheExpiry(t *testing.T) {
	c := newVerifiedCache(64)
	exp := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	// Another tool may write an exp with a fraction of a second: the entry
	// is served only before the whole second.
	c.put("tok", Claims{UserID: "u"}, exp.Add(700*time.Millisecond), exp.Add(-time.Hour))
	for _, tt := range []struct {
		at  time.Time
		hit bool
	}{
		{exp.Add(-time.Hour), true},
		{exp.Add(-time.Nanosecond), true},
		{exp, false}, // within the fractional second: left to Verify
	} {
		if _, ok := c.get("tok", tt.at); ok != tt.hit {
			t.Errorf("get at exp%+v: hit %v, want %v", tt.at.Sub(exp), ok, tt.hit)
		}
	}
	if n := c.len(); n != 0 {
		t.Errorf("an expired entry stayed after a miss: %d held", n)
	}
	if _, ok := c.get("tok", exp.Add(-time.Hour)); ok {
		t.Error("an entry dropped at its expiry came back for an earlier clock")
	}
	c.put("late", Claims{UserID: "u"}, exp, exp)
	if n := c.len(); n != 0 {
		t.Errorf("put stored a token already expired: %d held", n)
	}
}

func TestCacheExpiryInPreviousGeneration(t *testing.T) {
	c := newVerifiedCache(2 * cacheShards) // one entry a generation a shard
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	c.put("old", Claims{UserID: "u"}, now.Add(time.Minute), now)
	// Push "old" into its shard's previous generation.
	s := c.shard("old")
	for i := 0; len(s.previous) == 0; i++ {
		c.put(fmt.Sprint("filler-", i), Claims{UserID: "f"}, now.Add(time.Hour), now)
	}
	if _, ok := s.previous["old"]; !ok {
		t.Fatal("old is not in the previous generation")
	}
	if _, ok := c.get("old", now.Add(time.Minute)); ok {
		t.Fatal("an expired entry of the previous generation was served")
	}
	if _, ok := s.current["old"]; ok {
		t.Fatal("an expired entry was moved into the current generation")
	}
}

func TestCacheIsBounded(t *testing.T) {
	const capacity = 256
	c := newVerifiedCache(capacity)
	now := time.Now()
	for i := range 100 * capacity {
		c.put(fmt.Sprintf("token-%d", i), Claims{UserID: "u"}, now.Add(time.Hour), now)
		if i%1000 == 0 || i == 100*capacity-1 {
			if n := c.len(); n > capacity {
				t.Fatalf("after %d puts the cache holds %d tokens, more than %d", i+1, n, capacity)
			}
		}
	}
	c.put(strings.Repeat("x", maxCachedToken+1), Claims{UserID: "u"}, now.Add(time.Hour), now)
	if _, ok := c.get(strings.Repeat("x", maxCachedToken+1), now); ok {
		t.Error("an oversized token was cached")
	}
}

// A token in use stays while a flood of other tokens passes through: each
// use moves it into the current generation.
func TestCacheKeepsTokensInUse(t *testing.T) {
	c := newVerifiedCache(64)
	now := time.Now()
	c.put("regular", Claims{UserID: "regular"}, now.Add(time.Hour), now)
	for i := range 10000 {
		c.put(fmt.Sprint("bot-", i), Claims{UserID: "bot"}, now.Add(time.Hour), now)
		if _, ok := c.get("regular", now); !ok {
			t.Fatalf("the token in use was evicted after %d others", i+1)
		}
	}
}

func TestCacheConcurrentUse(t *testing.T) {
	a := newAuthenticator(t)
	a.verified = newVerifiedCache(64) // small, so generations turn over under the race detector
	tokens := make([]string, 200)
	for i := range tokens {
		tokens[i], _ = a.Mint(fmt.Sprint("user-", i), false, time.Hour)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := (g*31 + i*7) % len(tokens)
				claims, err := a.Verify(tokens[k])
				if err != nil || claims.UserID != fmt.Sprint("user-", k) {
					t.Errorf("Verify(token %d) = %+v, %v", k, claims, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The cache must not make Verify accept what it refused before: a token
// past its exp but within the leeway is still accepted by full
// verification, and not stored, since the cache serves only before exp.
func TestVerifyDoesNotCacheWithinLeeway(t *testing.T) {
	a := newAuthenticator(t)
	token := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "user-1", "exp": expiresIn(-Leeway / 2)})
	if _, err := a.Verify(token); err != nil {
		t.Fatalf("a token within the leeway was rejected: %v", err)
	}
	if n := a.verified.len(); n != 0 {
		t.Fatalf("a token past its exp was cached (%d held)", n)
	}
}

// BenchmarkVerify compares a token's first verification (the full parse,
// then the cache insert) with its repeats (the cache).
func BenchmarkVerify(b *testing.B) {
	a, _ := NewHS256(secret)
	b.Run("first", func(b *testing.B) {
		tokens := make([]string, b.N)
		for i := range tokens {
			tokens[i], _ = a.Mint(fmt.Sprint("user-", i), false, time.Hour)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := a.Verify(tokens[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("repeat", func(b *testing.B) {
		tokens := make([]string, 1000)
		for i := range tokens {
			tokens[i], _ = a.Mint(fmt.Sprint("user-", i), false, time.Hour)
			_, _ = a.Verify(tokens[i])
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := a.Verify(tokens[i%len(tokens)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
