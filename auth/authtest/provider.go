// Package authtest gives tests an identity provider: signing keys and the
// JWK Set that publishes them, as a shop's sign-in service would.
package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Provider is an identity provider's RSA key (kid "rsa-1", RS256) and
// ECDSA key (kid "ec-1", ES256), and its JWK Set of their public halves.
type Provider struct {
	RSA    *rsa.PrivateKey
	EC     *ecdsa.PrivateKey
	JWKSet []byte
}

// NewProvider makes a provider with keys of its own.
func NewProvider(tb testing.TB) Provider {
	tb.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	point, err := ecKey.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		tb.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	set, err := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
			"n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
			"x": b64(point[1:33]), "y": b64(point[33:])},
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return Provider{RSA: rsaKey, EC: ecKey, JWKSet: set}
}

// Serve publishes the JWK Set over HTTP until the test ends, and returns
// its URL.
func (p Provider) Serve(tb testing.TB) string {
	tb.Helper()
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(p.JWKSet)
	}))
	tb.Cleanup(server.Close)
	return server.URL
}

// Sign returns a token of claims signed by method with key, its header's
// kid set unless empty.
func Sign(tb testing.TB, method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	tb.Helper()
	token := jwt.NewWithClaims(method, claims)
	if kid != "" {
		token.Header["kid"] = kid
	}
	s, err := token.SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
