package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flashsale/flashsale/auth/authtest"
)

// serve --jwks-url takes a shop's identity provider's tokens (RS256 and
// ES256, keys read from its JWK Set URL) beside the service's own; a
// token its keys did not sign, or naming a key it does not publish, is a
// 401 answered at once.
func TestServeAcceptsAnIdentityProvidersTokens(t *testing.T) {
	provider := authtest.NewProvider(t)
	base, _ := startInProcess(t, t.TempDir(), "--jwks-url", provider.Serve(t))
	c := client{t, base}
	claims := func(user string) jwt.MapClaims {
		return jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}
	}
	// A route that needs a shopper: an unknown sale is 404 once the token
	// passes, 401 when it does not.
	const path = "/flash-sales/no-such-sale/entries"
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"the provider's RS256", authtest.Sign(t, jwt.SigningMethodRS256, "rsa-1", provider.RSA, claims("ada")), http.StatusNotFound},
		{"the provider's ES256", authtest.Sign(t, jwt.SigningMethodES256, "ec-1", provider.EC, claims("bea")), http.StatusNotFound},
		{"the service's own HS256", mint(t, "cy", false), http.StatusNotFound},
		{"a key the provider does not publish", authtest.Sign(t, jwt.SigningMethodRS256, "rsa-9", provider.RSA, claims("dan")), http.StatusUnauthorized},
		{"another provider's key", authtest.Sign(t, jwt.SigningMethodRS256, "rsa-1", authtest.NewProvider(t).RSA, claims("eve")), http.StatusUnauthorized},
	} {
		if status, body := c.call("GET", path, tc.token, nil); status != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.name, status, body, tc.want)
		}
	}
	// Made-up kids do not wait for the set's next reading: each is refused.
	for range 3 {
		if status, _ := c.call("GET", path, authtest.Sign(t, jwt.SigningMethodRS256, "made-up", provider.RSA, claims("fay")), nil); status != http.StatusUnauthorized {
			t.Errorf("a made-up kid: %d, want 401", status)
		}
	}
}
