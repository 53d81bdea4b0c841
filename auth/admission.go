package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// AdmissionSigner mints and checks the waiting room's admission tokens:
// the pass an admitted shopper shows at place-order (header
// Flashsale-Admission). A token is bound to one user and one sale and
// carries its expiry; the signature is HMAC-SHA256 under a key derived
// from the service's secret, so every instance of a fleet checks what any
// other minted, and a token is no bearer token (nor the reverse).
//
// The format is "a1.<expiry in Unix seconds>.<base64url signature>": the
// user and the sale are not in it, since the request that shows it names
// both, and a token shown by another user or for another sale does not
// check.
type AdmissionSigner struct {
	key []byte
}

// admissionKeyLabel separates the admission key from every other use of
// the secret.
const admissionKeyLabel = "flashsale admission token key v1"

// NewAdmissionSigner returns a signer keyed by a key derived from secret
// (the bytes of FLASHSALE_JWT_SECRET, as NewHS256 takes them).
func NewAdmissionSigner(secret []byte) *AdmissionSigner {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(admissionKeyLabel))
	return &AdmissionSigner{key: mac.Sum(nil)}
}

// Mint returns the token admitting userID to saleID until expires (a
// whole second: the format keeps seconds).
func (s *AdmissionSigner) Mint(saleID, userID string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return "a1." + exp + "." + base64.RawURLEncoding.EncodeToString(s.sign(saleID, userID, exp))
}

// Check reports whether token admits userID to saleID at now: minted by
// this service's key for them, and not expired.
func (s *AdmissionSigner) Check(token, saleID, userID string, now time.Time) bool {
	rest, ok := strings.CutPrefix(token, "a1.")
	if !ok {
		return false
	}
	exp, signature, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	expires, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || strconv.FormatInt(expires, 10) != exp || now.Unix() >= expires {
		return false
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(signature)
	return err == nil && hmac.Equal(got, s.sign(saleID, userID, exp))
}

// sign is the MAC of one admission. The fields are length-prefixed, so
// that no two (sale, user) pairs sign the same bytes.
func (s *AdmissionSigner) sign(saleID, userID, exp string) []byte {
	mac := hmac.New(sha256.New, s.key)
	for _, field := range []string{saleID, userID, exp} {
		mac.Write([]byte(strconv.Itoa(len(field))))
		mac.Write([]byte{':'})
		mac.Write([]byte(field))
	}
	return mac.Sum(nil)
}
