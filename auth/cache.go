package auth

import (
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// During a rush each shopper retries with the same token, and verifying it
// again (base64, JSON of the claims, HMAC-SHA256) was about a fifth of the
// CPU of a sold-out answer. Verify therefore remembers the tokens it has
// accepted until they expire.
//
// The cache is keyed by the whole token and compares it whole, so only the
// very bytes that were verified are ever accepted from it. It serves an
// entry only while the token's exp is still ahead: the leeway Verify
// grants past exp goes through full verification, so the cache never
// accepts what Verify would not. A token's other claims cannot turn an
// accepted token into a refused one as time passes (nbf and iat only ever
// become more valid). Only accepted tokens are stored, and only the
// service's secret makes one, so no one without it can add entries; the
// size is bounded all the same.
const (
	// cacheEntries bounds the verified tokens held at once. A token of
	// ~200 bytes costs ~300 bytes with its entry: ~20 MiB when full, ~40
	// MiB if every token were as long as maxCachedToken. A rush of more
	// users than half of it (each shard turns its generations over when
	// half is current) verifies some tokens more than once.
	cacheEntries = 1 << 16
	// cacheShards spreads the lock: each shard has its own.
	cacheShards = 16
	// maxCachedToken keeps oversized tokens out, so the bound in entries
	// is a bound in bytes too. The service's tokens are ~200 bytes; a
	// longer one is verified every time.
	maxCachedToken = 512
)

// verifiedCache maps tokens to their claims until their expiry. Each shard
// keeps two generations: new and used entries go into the current one;
// when it is full it becomes the previous one and the old previous one is
// dropped whole. A token found in the previous generation moves to the
// current one, so a token in use survives and one not used for a full
// generation goes: least recently used eviction, near enough, at the cost
// of a map write per hit in the previous generation and none per hit in the
// current one. It is safe for concurrent use.
type verifiedCache struct {
	seed   maphash.Seed
	perGen int // entries in one generation of one shard
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu       sync.Mutex
	current  map[string]verified
	previous map[string]verified
}

type verified struct {
	claims  Claims
	expires int64 // Unix seconds of exp, rounded down: served while now is before it
}

// newVerifiedCache returns a cache holding at most capacity tokens.
func newVerifiedCache(capacity int) *verifiedCache {
	c := &verifiedCache{seed: maphash.MakeSeed(), perGen: max(1, capacity/(2*cacheShards))}
	for i := range c.shards {
		c.shards[i].current = make(map[string]verified)
	}
	return c
}

func (c *verifiedCache) shard(token string) *cacheShard {
	return &c.shards[maphash.String(c.seed, token)%cacheShards]
}

// get returns the claims of token if it was verified and its exp is after
// now.
func (c *verifiedCache) get(token string, now time.Time) (Claims, bool) {
	s := c.shard(token)
	unix := now.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.current[token]; ok {
		if unix < v.expires {
			return v.claims, true
		}
		delete(s.current, token)
		return Claims{}, false
	}
	v, ok := s.previous[token]
	if !ok {
		return Claims{}, false
	}
	delete(s.previous, token)
	if unix >= v.expires {
		return Claims{}, false
	}
	c.insert(s, token, v)
	return v.claims, true
}

// put remembers that token was verified with claims and expires at exp.
func (c *verifiedCache) put(token string, claims Claims, exp, now time.Time) {
	v := verified{claims: claims, expires: exp.Unix()}
	if len(token) > maxCachedToken || now.Unix() >= v.expires {
		return
	}
	// A copy, so the key does not hold on to the memory of the request
	// the token came in.
	token = strings.Clone(token)
	s := c.shard(token)
	s.mu.Lock()
	c.insert(s, token, v)
	s.mu.Unlock()
}

// insert adds an entry to the shard's current generation, starting a new
// generation first when it is full. The caller holds s.mu.
func (c *verifiedCache) insert(s *cacheShard, token string, v verified) {
	if _, ok := s.current[token]; !ok && len(s.current) >= c.perGen {
		s.previous = s.current
		s.current = make(map[string]verified, c.perGen)
	}
	s.current[token] = v
}
