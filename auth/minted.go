package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"hash"
	"strings"
	"sync"
	"time"
)

// A rush is mostly first requests: every shopper's token is new to the
// verified cache, and the general parser (a header decoded into a map, the
// claims through the library's types) was 16 % of the server's CPU in the
// herd. verifyMinted accepts, faster, the tokens shaped exactly as Mint
// makes them, and nothing Verify's general path (the parser and Verify's
// own rules, such as userIDProblem) would refuse; it decides no refusal
// itself. Any other token, valid or not, goes to the general path, which
// says why it refuses one.

// mintedHeader is the header segment of every token Mint signs. Any other
// header (a kid, a crit, ...) is left to the general path, which knows
// which ones to refuse.
var mintedHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// mintedClaims are the claims Mint writes, and only those: a token with any
// other claim (nbf, aud, ...) is left to the parser, which knows them all.
type mintedClaims struct {
	Subject   string   `json:"sub"`
	ExpiresAt *float64 `json:"exp"`
	IssuedAt  *float64 `json:"iat"`
	Role      string   `json:"role"`
}

// macs holds HMAC-SHA256 states keyed by the secret: keying one costs
// about as much as signing a token.
type macs struct{ pool sync.Pool }

func newMACs(secret []byte) *macs {
	m := &macs{}
	m.pool.New = func() any { return hmac.New(sha256.New, secret) }
	return m
}

// verifyMinted returns the claims of token and its expiry when token is
// shaped as Mint makes them, signed with the secret, valid at now by the
// parser's rules (exp required, iat if present, Leeway on both) and naming
// a user id Verify takes (userIDProblem); ok is false otherwise, whether
// token is invalid or only unusual.
func (a *Authenticator) verifyMinted(token string, now time.Time) (c Claims, expires time.Time, ok bool) {
	header, rest, found := strings.Cut(token, ".")
	if !found || header != mintedHeader {
		return Claims{}, time.Time{}, false
	}
	payload, signature, found := strings.Cut(rest, ".")
	if !found || base64.RawURLEncoding.DecodedLen(len(signature)) != sha256.Size {
		return Claims{}, time.Time{}, false
	}
	var sig [sha256.Size]byte
	if n, err := base64.RawURLEncoding.Decode(sig[:], []byte(signature)); err != nil || n != sha256.Size {
		return Claims{}, time.Time{}, false
	}
	mac := a.macs.pool.Get().(hash.Hash)
	mac.Reset()
	mac.Write([]byte(token[:len(header)+1+len(payload)]))
	var sum [sha256.Size]byte
	valid := hmac.Equal(mac.Sum(sum[:0]), sig[:])
	a.macs.pool.Put(mac)
	if !valid {
		return Claims{}, time.Time{}, false
	}

	decoded, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Claims{}, time.Time{}, false
	}
	var claims mintedClaims
	dec := json.NewDecoder(bytes.NewReader(decoded))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&claims); err != nil || dec.More() || claims.ExpiresAt == nil || userIDProblem(claims.Subject) != "" {
		return Claims{}, time.Time{}, false
	}
	// As the parser reads a NumericDate: whole seconds.
	expires = time.Unix(int64(*claims.ExpiresAt), 0)
	if !now.Before(expires.Add(Leeway)) {
		return Claims{}, time.Time{}, false
	}
	if claims.IssuedAt != nil && now.Before(time.Unix(int64(*claims.IssuedAt), 0).Add(-Leeway)) {
		return Claims{}, time.Time{}, false
	}
	return Claims{UserID: claims.Subject, Admin: claims.Role == adminRole}, expires, true
}
