// Package draw is flashsale-draw-v1, the one way this service puts people
// in a random order that anyone can check afterwards: the lottery's
// winners and waitlist, and the waiting room's pre-queue at the start.
//
// Before anyone can enter, the service picks a secret seed of 32 random
// bytes and publishes its commitment, the lowercase hex SHA-256 of those
// bytes. Once the entries are closed it publishes the seed and the entry
// ids, and the order follows from them alone:
//
//	entries_digest = hex(SHA-256(id₁ "\n" id₂ "\n" … idₙ "\n"))
//	                 over the ids sorted by their bytes
//	score(id)      = hex(HMAC-SHA256(key = seed, message = entries_digest + id))
//
// Entries go in ascending order of their score (compared as strings, which
// for lowercase hex is the order of the numbers). A customer can recompute
// it with any SHA-256 and HMAC tool, for example with the ids one per
// line in entries.txt, the last one ending in a newline too:
//
//	printf %s "$SEED" | xxd -r -p | sha256sum        # the commitment
//	LC_ALL=C sort entries.txt | sha256sum            # entries_digest
//	printf %s "$DIGEST$ID" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$SEED
//
// The commitment keeps the service from choosing the seed after seeing
// the entries; the digest inside every score keeps it from adding or
// dropping an entry after seeing the seed, since any change to the set
// changes every score.
package draw

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Algorithm is the name the draw documents carry.
const Algorithm = "flashsale-draw-v1"

// Seed is a draw's secret until its entries are closed.
type Seed [32]byte

// NewSeed returns a seed from the system's secure random source, to be
// committed to before the first entry.
func NewSeed() (Seed, error) {
	var s Seed
	if _, err := rand.Read(s[:]); err != nil {
		return Seed{}, fmt.Errorf("draw seed: %w", err)
	}
	return s, nil
}

// ParseSeed reads a seed as published: 64 hex digits.
func ParseSeed(text string) (Seed, error) {
	var s Seed
	b, err := hex.DecodeString(text)
	if err != nil || len(b) != len(s) {
		return Seed{}, fmt.Errorf("draw seed %q: want 64 hex digits", text)
	}
	copy(s[:], b)
	return s, nil
}

// String is the seed as published: lowercase hex.
func (s Seed) String() string { return hex.EncodeToString(s[:]) }

// Commitment is what is published before the entries open: the lowercase
// hex SHA-256 of the seed's 32 bytes.
func (s Seed) Commitment() string {
	sum := sha256.Sum256(s[:])
	return hex.EncodeToString(sum[:])
}

// Digest is the entries_digest of a set of entry ids, in whatever order
// they are given.
func Digest(ids []string) string {
	sorted := slices.Clone(ids)
	slices.Sort(sorted) // Go compares strings byte by byte
	h := sha256.New()
	for _, id := range sorted {
		h.Write([]byte(id))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Score is one entry's score in a draw whose entries have the given digest.
func Score(seed Seed, digest, id string) string {
	mac := hmac.New(sha256.New, seed[:])
	mac.Write([]byte(digest))
	mac.Write([]byte(id))
	return hex.EncodeToString(mac.Sum(nil))
}

// Order returns the entry ids in draw order, first winner first. The ids
// must be distinct; ids is not changed.
func Order(seed Seed, ids []string) []string {
	digest := Digest(ids)
	type scored struct{ id, score string }
	entries := make([]scored, len(ids))
	for i, id := range ids {
		entries[i] = scored{id, Score(seed, digest, id)}
	}
	slices.SortFunc(entries, func(a, b scored) int {
		// Two equal scores would take a collision of HMAC-SHA256; the
		// id only makes the order total.
		if c := strings.Compare(a.score, b.score); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	order := make([]string, len(entries))
	for i, e := range entries {
		order[i] = e.id
	}
	return order
}

// Published is a draw as its document shows it after the entries close.
type Published struct {
	Commitment    string
	Seed          string
	EntriesDigest string
	EntryCount    int
	// Entries are the ids as listed at entries_url.
	Entries []string
}

// Verify checks a published draw against itself, the way a customer
// would: the seed must match the commitment made before the entries
// opened, and the listed entries must be the ones the digest and count
// name. It returns the draw order those entries and that seed make, for
// the caller to compare with the outcome it was shown.
func Verify(p Published) ([]string, error) {
	seed, err := ParseSeed(p.Seed)
	if err != nil {
		return nil, err
	}
	if got := seed.Commitment(); got != p.Commitment {
		return nil, fmt.Errorf("the seed's SHA-256 is %s, but the commitment published before the entries opened is %s", got, p.Commitment)
	}
	if len(p.Entries) != p.EntryCount {
		return nil, fmt.Errorf("%d entries are listed, but entry_count is %d", len(p.Entries), p.EntryCount)
	}
	seen := make(map[string]bool, len(p.Entries))
	for _, id := range p.Entries {
		if seen[id] {
			return nil, fmt.Errorf("entry %q is listed twice", id)
		}
		seen[id] = true
	}
	if got := Digest(p.Entries); got != p.EntriesDigest {
		return nil, fmt.Errorf("the listed entries' digest is %s, but entries_digest is %s", got, p.EntriesDigest)
	}
	return Order(seed, p.Entries), nil
}
