// Package challenge issues and checks the proof-of-work challenges a sale
// may ask of its shoppers, in ALTCHA's format (flashsale.Challenge), so that
// ALTCHA's widget and its libraries in many languages solve them.
//
// A challenge is stateless: its salt carries the sale, the user, the
// expiry and, for a paced sale, the instant it may first be used as
// ALTCHA's salt parameters
// ("<random hex>?expires=…&notbefore=…&sale=…&user=…&"),
// the challenge is the SHA-256 of the salt and a secret number, and the
// signature is an HMAC of the challenge under a key derived from the
// service's secret. Any instance of a fleet checks what any other issued;
// only spending a solution (once) needs shared state, a flashsale.OnceLedger.
package challenge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
)

// Algorithm is the only hash the issuer uses and accepts.
const Algorithm = "SHA-256"

// keyLabel separates the challenges' key from every other use of the
// secret.
const keyLabel = "flashsale challenge key v1"

// Issuer issues and checks challenges.
type Issuer struct {
	key string
}

// NewIssuer returns an issuer keyed by a key derived from secret (the
// bytes of FLASHSALE_JWT_SECRET).
func NewIssuer(secret []byte) *Issuer {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(keyLabel))
	return &Issuer{key: hex.EncodeToString(mac.Sum(nil))}
}

// Issue returns a challenge for userID in saleID whose number is drawn
// from [0, maxNumber], to be used from notBefore (the zero time: at once)
// until expires.
func (i *Issuer) Issue(saleID, userID string, maxNumber int64, notBefore, expires time.Time) (flashsale.Challenge, error) {
	random := make([]byte, 12)
	if _, err := rand.Read(random); err != nil {
		return flashsale.Challenge{}, err
	}
	number, err := rand.Int(rand.Reader, big.NewInt(maxNumber+1))
	if err != nil {
		return flashsale.Challenge{}, err
	}
	params := url.Values{"expires": {strconv.FormatInt(expires.Unix(), 10)}, "sale": {saleID}, "user": {userID}}
	if !notBefore.IsZero() {
		// Milliseconds: the wait it enforces is often well under a second.
		params.Set("notbefore", strconv.FormatInt(notBefore.UnixMilli(), 10))
	}
	// The trailing "&" is ALTCHA's: no parameter can be spliced onto the
	// salt's end to make another valid salt.
	salt := hex.EncodeToString(random) + "?" + params.Encode() + "&"
	challenge := hashHex(salt, number.Int64())
	return flashsale.Challenge{Algorithm: Algorithm, Challenge: challenge, MaxNumber: maxNumber,
		Salt: salt, Signature: i.sign(challenge)}, nil
}

// Solution is a solved challenge as ALTCHA's widget sends it: standard
// base64 of this JSON.
type Solution struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	Number    int64  `json:"number"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// Encode is the solution as the Flashsale-Challenge header carries it.
func (s Solution) Encode() string {
	b, _ := json.Marshal(s) // a struct of strings and a number always marshals
	return base64.StdEncoding.EncodeToString(b)
}

// Check reports whether header is a solution of a challenge this issuer
// gave userID in saleID, unexpired at now. Whether now is before the
// solution's NotBefore is the caller's to ask: an early solution is good,
// and good again later.
func (i *Issuer) Check(header, saleID, userID string, now time.Time) (flashsale.SolvedChallenge, bool) {
	raw, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return flashsale.SolvedChallenge{}, false
	}
	var s Solution
	if err := json.Unmarshal(raw, &s); err != nil || s.Algorithm != Algorithm || s.Number < 0 {
		return flashsale.SolvedChallenge{}, false
	}
	params, ok := saltParams(s.Salt)
	if !ok || params.Get("sale") != saleID || params.Get("user") != userID {
		return flashsale.SolvedChallenge{}, false
	}
	unix, err := strconv.ParseInt(params.Get("expires"), 10, 64)
	if err != nil || !now.Before(time.Unix(unix, 0)) {
		return flashsale.SolvedChallenge{}, false
	}
	notBefore, ok := notBeforeOf(params)
	if !ok {
		return flashsale.SolvedChallenge{}, false
	}
	if !hmac.Equal([]byte(hashHex(s.Salt, s.Number)), []byte(s.Challenge)) || !hmac.Equal([]byte(i.sign(s.Challenge)), []byte(s.Signature)) {
		return flashsale.SolvedChallenge{}, false
	}
	return flashsale.SolvedChallenge{ID: s.Challenge, NotBefore: notBefore, Expires: time.Unix(unix, 0)}, true
}

// NotBefore is the instant from which the service accepts a solution of c,
// as its salt says; the zero time when at once (or the salt says nothing
// the service would take). A solver sends its solution no sooner.
func NotBefore(c flashsale.Challenge) time.Time {
	params, ok := saltParams(c.Salt)
	if !ok {
		return time.Time{}
	}
	notBefore, _ := notBeforeOf(params)
	return notBefore
}

// saltParams reads ALTCHA's salt parameters.
func saltParams(salt string) (url.Values, bool) {
	_, query, found := strings.Cut(salt, "?")
	if !found {
		return nil, false
	}
	params, err := url.ParseQuery(strings.TrimSuffix(query, "&"))
	return params, err == nil
}

// notBeforeOf reads a paced challenge's notbefore (Unix milliseconds);
// false when the salt's is not one such instant.
func notBeforeOf(params url.Values) (time.Time, bool) {
	text, paced := params["notbefore"]
	if !paced {
		return time.Time{}, true
	}
	ms, err := strconv.ParseInt(text[0], 10, 64)
	if err != nil || len(text) != 1 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// Solve finds the number of c by trying every one in turn, as a client
// does, and returns the solution; false when none in [0, MaxNumber] fits.
func Solve(c flashsale.Challenge) (Solution, bool) {
	return SolveRange(c, 0, c.MaxNumber)
}

// SolveRange tries the numbers from first to last (within [0, MaxNumber])
// in turn, as Solve does: a solver that shares its core with other work
// solves a range at a time and lets that work run in between.
func SolveRange(c flashsale.Challenge, first, last int64) (Solution, bool) {
	for n := max(first, 0); n <= min(last, c.MaxNumber); n++ {
		if hashHex(c.Salt, n) == c.Challenge {
			return Solution{Algorithm: c.Algorithm, Challenge: c.Challenge, Number: n, Salt: c.Salt, Signature: c.Signature}, true
		}
	}
	return Solution{}, false
}

func (i *Issuer) sign(challenge string) string {
	mac := hmac.New(sha256.New, []byte(i.key))
	mac.Write([]byte(challenge))
	return hex.EncodeToString(mac.Sum(nil))
}

func hashHex(salt string, number int64) string {
	sum := sha256.Sum256([]byte(salt + strconv.FormatInt(number, 10)))
	return hex.EncodeToString(sum[:])
}
