package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/auth/authtest"
)

// keyFunc is the provider's JWK Set as serve reads it, without the HTTP.
func keyFunc(t *testing.T, p authtest.Provider) jwt.Keyfunc {
	t.Helper()
	k, err := keyfunc.NewJWKSetJSON(p.JWKSet)
	if err != nil {
		t.Fatal(err)
	}
	return k.Keyfunc
}

// An identity provider's RS256 and ES256 tokens are accepted with their
// claims, beside the service's own HS256 ones; a token its keys did not
// sign, a kid it does not publish, another algorithm, an HMAC made with a
// public key of the set (the HS/RS confusion) and alg none are refused.
func TestProviderKeys(t *testing.T) {
	keys := authtest.NewProvider(t)
	a, err := NewWithKeys(secret, keyFunc(t, keys))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	claims := jwt.MapClaims{"sub": "ada", "exp": exp, "role": "admin", "phone_number": "+15550100", "phone_number_verified": true}

	for _, tc := range []struct {
		name   string
		method jwt.SigningMethod
		kid    string
		key    any
	}{
		{"RS256", jwt.SigningMethodRS256, "rsa-1", keys.RSA},
		{"ES256", jwt.SigningMethodES256, "ec-1", keys.EC},
		{"RS256 without a kid", jwt.SigningMethodRS256, "", keys.RSA},
	} {
		c, err := a.Verify(authtest.Sign(t, tc.method, tc.kid, tc.key, claims))
		if err != nil || c.UserID != "ada" || !c.Admin || c.Account.VerifiedPhone() != "+15550100" {
			t.Errorf("%s: %+v, %v; want ada, admin, her verified phone", tc.name, c, err)
		}
	}
	own, err := a.Mint("bob", false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := a.Verify(own); err != nil || c.UserID != "bob" {
		t.Errorf("the service's own token: %+v, %v", c, err)
	}

	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	publicDER, err := x509.MarshalPKIXPublicKey(&keys.RSA.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicDER})
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"signed by another key", authtest.Sign(t, jwt.SigningMethodRS256, "rsa-1", stranger, claims)},
		{"a kid the provider does not publish", authtest.Sign(t, jwt.SigningMethodRS256, "rsa-9", keys.RSA, claims)},
		{"RS384", authtest.Sign(t, jwt.SigningMethodRS384, "rsa-1", keys.RSA, claims)},
		{"HS256 keyed by the provider's public key", authtest.Sign(t, jwt.SigningMethodHS256, "rsa-1", publicPEM, claims)},
		{"HS256 keyed by its modulus", authtest.Sign(t, jwt.SigningMethodHS256, "rsa-1", keys.RSA.N.Bytes(), claims)},
		{"alg none", authtest.Sign(t, jwt.SigningMethodNone, "rsa-1", jwt.UnsafeAllowNoneSignatureType, claims)},
		{"no exp", authtest.Sign(t, jwt.SigningMethodRS256, "rsa-1", keys.RSA, jwt.MapClaims{"sub": "ada"})},
		{"expired", authtest.Sign(t, jwt.SigningMethodES256, "ec-1", keys.EC, jwt.MapClaims{"sub": "ada", "exp": time.Now().Add(-time.Hour).Unix()})},
	} {
		if c, err := a.Verify(tc.token); !flashsale.IsCode(err, flashsale.EUnauthenticated) {
			t.Errorf("%s: %+v, %v; want unauthenticated", tc.name, c, err)
		}
	}

	// Without the provider's keys, its tokens are refused.
	if _, err := newAuthenticator(t).Verify(authtest.Sign(t, jwt.SigningMethodRS256, "rsa-1", keys.RSA, claims)); err == nil {
		t.Error("an Authenticator without keys accepted an RS256 token")
	}
	if _, err := NewWithKeys(secret, nil); err == nil {
		t.Error("NewWithKeys took no keys")
	}
}
