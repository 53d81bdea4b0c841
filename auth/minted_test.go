package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signedAsMinted signs payload under Mint's header, as any tool holding
// the secret could: the payload need not be anything Mint would write.
func signedAsMinted(payload []byte) string {
	unsigned := mintedHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// The quick check takes what Mint makes.
func TestVerifyMintedTakesMintedTokens(t *testing.T) {
	a := newAuthenticator(t)
	now := time.Now()
	for _, admin := range []bool{false, true} {
		token, err := a.Mint("user-1", admin, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, expires, ok := a.verifyMinted(token, now)
		if !ok || c.UserID != "user-1" || c.Admin != admin || expires.Sub(now.Add(time.Hour)).Abs() > time.Second {
			t.Fatalf("minted token (admin %v): %+v, expires %v, ok %v", admin, c, expires, ok)
		}
	}
}

// The quick check never accepts a token the general parser (with Verify's
// own rule, a user named) refuses, nor with other claims: whatever the claims under Mint's header and a valid
// signature, it either agrees with the parser or leaves the token to it.
// The seeds are the claims of the rejection tests and their neighbours.
func FuzzVerifyMintedAgreesWithTheParser(f *testing.F) {
	now := time.Now().Unix()
	for _, claims := range []string{
		`{"sub":"user-1","exp":%d,"iat":%d}`,
		`{"sub":"user-1","exp":%d,"iat":%d,"role":"admin"}`,
		`{"sub":"user-1","exp":%d.999,"iat":%d.5}`,
		`{"sub":"","exp":%d,"iat":%d}`,
		`{"sub":42,"exp":%d,"iat":%d}`,
		`{"sub":"user-1","exp":"%d","iat":%d}`,
		`{"sub":"user-1","exp":null,"iat":%d}`,
		`{"sub":"user-1","exp":%d,"iat":%d,"role":["admin"]}`,
		`{"sub":"user-1","exp":%d,"iat":%d,"nbf":99999999999}`,
		`{"SUB":"user-1","Exp":%d,"iat":%d}`,
		`{"sub":"user-1","sub":"user-2","exp":%d,"iat":%d}`,
		`{"sub":"user-1","exp":%d,"iat":%d} {"sub":"user-2"}`,
		`{"sub":"user-1","exp":1e300,"iat":%d}`,
		`{"sub":"user-1","exp":-1,"iat":%d}`,
	} {
		leeway := int64(Leeway.Seconds())
		for _, times := range [][2]int64{
			{now + 3600, now},              // fresh
			{now - leeway + 1, now - 3600}, // expired, within the leeway
			{now - leeway - 1, now - 3600}, // expired
			{now + 3600, now + leeway - 1}, // issued ahead, within the leeway
			{now + 3600, now + leeway + 1}, // issued ahead
		} {
			f.Add(fmt.Appendf(nil, claims, times[0], times[1]))
		}
	}
	a, err := NewHS256(secret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		token := signedAsMinted(payload)
		now := time.Now()
		quick, expires, ok := a.verifyMinted(token, now)
		if !ok {
			return
		}
		var parsed tokenClaims
		if _, err := a.parser.ParseWithClaims(token, &parsed, func(*jwt.Token) (any, error) { return a.secret, nil }); err != nil {
			t.Fatalf("the quick check accepted %s, which the parser refuses: %v", payload, err)
		}
		if parsed.Subject == "" {
			t.Fatalf("the quick check accepted %s, which names no user", payload)
		}
		if parsed.Subject != quick.UserID || (parsed.Role == adminRole) != quick.Admin || !parsed.ExpiresAt.Time.Equal(expires) {
			t.Fatalf("claims of %s: quick %+v (expires %v), parser %+v", payload, quick, expires, parsed)
		}
	})
}
