package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

// signedAsMinted signs payload under Mint's header, as any tool holding
// the secret could: the payload need not be anything Mint would write.
func signedAsMinted(payload []byte) string {
	header, _ := base64.RawURLEncoding.DecodeString(mintedHeader)
	return signedWith(header, payload)
}

// signedWith signs header and payload, whatever they hold, with the secret.
func signedWith(header, payload []byte) string {
	unsigned := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
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

// The quick check never accepts a token Verify's general path (the parser
// and Verify's own rules) refuses: whatever the header and claims under a
// valid signature, it either agrees with the general path or leaves the
// token to it. The seeds are the headers and claims of the rejection tests
// and their neighbours.
func FuzzVerifyMintedAgreesWithTheParser(f *testing.F) {
	now := time.Now().Unix()
	headers := []string{
		`{"alg":"HS256","typ":"JWT"}`, // Mint's
		`{"typ":"JWT","alg":"HS256"}`,
		`{"alg":"HS256"}`,
		`{"alg":"HS256","typ":"JWT","kid":"1"}`,
		`{"alg":"none","typ":"JWT"}`,
		`{"alg":"HS256","typ":"JWT","crit":["exp"]}`,
		`{"alg":"HS256","crit":["b64"],"b64":false,"typ":"JWT"}`,
	}
	claimsSeeds := []string{
		`{"sub":"user-1","exp":%d,"iat":%d}`,
		`{"sub":"user-1","exp":%d,"iat":%d,"role":"admin"}`,
		`{"sub":"user-1","exp":%d.999,"iat":%d.5}`,
		`{"sub":"","exp":%d,"iat":%d}`,
		`{"sub":42,"exp":%d,"iat":%d}`,
		`{"sub":"user-1","exp":"%d","iat":%d}`,
		`{"sub":"user-1","exp":null,"iat":%[2]d}`,
		`{"sub":"user-1","exp":%d,"iat":"%d"}`,
		`{"sub":"user-1","exp":%d,"nbf":"%d"}`,
		`{"sub":"user-1","exp":true,"iat":%[2]d}`,
		`{"sub":"user-1","exp":" %d","iat":%d}`,
		`{"sub":"user-1","exp":%d,"iat":%d,"role":["admin"]}`,
		`{"sub":"user-1","exp":%d,"iat":%d,"nbf":99999999999}`,
		`{"SUB":"user-1","Exp":%d,"iat":%d}`,
		`{"sub":"user-1","sub":"user-2","exp":%d,"iat":%d}`,
		`{"sub":"user-1","exp":%d,"iat":%d} {"sub":"user-2"}`,
		`{"sub":"user-1","exp":1e300,"iat":%[2]d}`,
		`{"sub":"user-1","exp":-1,"iat":%[2]d}`,
		`{"sub":"` + strings.Repeat("u", MaxUserIDLength) + `","exp":%d,"iat":%d}`,
		`{"sub":"` + strings.Repeat("u", MaxUserIDLength+1) + `","exp":%d,"iat":%d}`,
		`{"sub":"` + strings.Repeat("u", 3000) + `","exp":%d,"iat":%d}`,
		`{"sub":"` + strings.Repeat("é", MaxUserIDLength/2+1) + `","exp":%d,"iat":%d}`,
		`{"sub":"user\u0000","exp":%d,"iat":%d}`,
		`{"sub":"user\n1","exp":%d,"iat":%d}`,
		"{\"sub\":\"user\x7f\",\"exp\":%d,\"iat\":%d}",
		`{"sub":"user\u0085","exp":%d,"iat":%d}`,
		"{\"sub\":\"user\xff\",\"exp\":%d,\"iat\":%d}",
		`{"sub":"user\ud800","exp":%d,"iat":%d}`,
		`{"sub":"user\ufffd","exp":%d,"iat":%d}`,
	}
	leeway := int64(Leeway.Seconds())
	for _, header := range headers {
		for _, claims := range claimsSeeds {
			for _, times := range [][2]int64{
				{now + 3600, now},              // fresh
				{now - leeway + 1, now - 3600}, // expired, within the leeway
				{now - leeway - 1, now - 3600}, // expired
				{now + 3600, now + leeway - 1}, // issued ahead, within the leeway
				{now + 3600, now + leeway + 1}, // issued ahead
			} {
				f.Add([]byte(header), fmt.Appendf(nil, claims, times[0], times[1]))
			}
		}
	}
	a, err := NewHS256(secret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header, payload []byte) {
		token := signedWith(header, payload)
		quick, expires, ok := a.verifyMinted(token, time.Now())
		if !ok {
			return
		}
		general, generalExpires, err := a.verifyParsed(token)
		if err != nil {
			t.Fatalf("the quick check accepted %s %s, which the general path refuses: %v", header, payload, err)
		}
		if quick != general || !expires.Equal(generalExpires) {
			t.Fatalf("claims of %s %s: quick %+v (expires %v), general %+v (expires %v)", header, payload, quick, expires, general, generalExpires)
		}
	})
}
