package http_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flashsale/flashsale/auth"
)

// Each refused token is told why, in words the client can act on.
func TestUnauthenticatedSaysWhy(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	s := h.createSale(saleSpec{})
	other, err := auth.NewHS256([]byte("another service's secret entirely"))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Mint("alice", false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Past the 30 s of clock skew Verify tolerates.
	expired, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "exp": time.Now().Add(-time.Hour).Unix(), "iat": time.Now().Add(-2 * time.Hour).Unix(),
	}).SignedString([]byte(harnessSecret))
	if err != nil {
		t.Fatal(err)
	}
	for token, says := range map[string]string{
		"":          "send a token",
		"not-a-jwt": "not a well-formed JWT",
		foreign:     "not signed with HS256 by this service",
		expired:     "expired",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + ".e30.": "",
	} {
		r := h.do("POST", "/flash-sales/"+s.ID+"/orders", token, map[string]any{"item_id": s.Items[0], "quantity": 1})
		expect(t, r, 401, "unauthenticated")
		message := r.JSON(t)["error"].(map[string]any)["message"].(string)
		if !strings.Contains(message, says) {
			t.Errorf("token %.20q: %q, want it to say %q", token, message, says)
		}
	}
}
