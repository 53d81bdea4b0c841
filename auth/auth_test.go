package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flashsale/flashsale"
)

var secret = []byte("test-secret-of-thirty-two-bytes!")

func newAuthenticator(t *testing.T) *Authenticator {
	t.Helper()
	a, err := NewHS256(secret)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// sign builds a token the way another tool would, from raw claims.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	token, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func expiresIn(d time.Duration) int64 { return time.Now().Add(d).Unix() }

func TestMintAndVerify(t *testing.T) {
	a := newAuthenticator(t)
	for _, admin := range []bool{false, true} {
		token, err := a.Mint("user-1", admin, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		claims, err := a.Verify(token)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if want := (Claims{UserID: "user-1", Admin: admin}); claims != want {
			t.Fatalf("Verify = %+v, want %+v", claims, want)
		}
	}
}

func TestMintRefusesBadInput(t *testing.T) {
	a := newAuthenticator(t)
	if _, err := a.Mint("", false, time.Minute); err == nil {
		t.Error("minted a token without a user id")
	}
	if _, err := a.Mint("user-1", false, 0); err == nil {
		t.Error("minted a token that is already expired")
	}
	for _, id := range []string{
		strings.Repeat("u", MaxUserIDLength+1),
		"user\x00", "user\n1", "user\x7f", "user\u0085", "user\xff", "user\ufffd",
	} {
		if token, err := a.Mint(id, false, time.Minute); err == nil {
			t.Errorf("minted %q for user id %q", token, id)
		}
	}
}

// otherHeader is a header Mint does not write, so a token under it goes to
// Verify's general path only; under Mint's header it meets the quick check
// first.
const otherHeader = `{"alg":"HS256","typ":"JWT","kid":"k1"}`

// signedBothWays returns a token of payload under Mint's header and one
// under otherHeader, by name.
// A token carries its account's claims, minted here or by another tool;
// a phone number longer than the bound is refused.
func TestAccountClaims(t *testing.T) {
	a := newAuthenticator(t)
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	want := Claims{UserID: "user-1", Account: flashsale.Account{Phone: "+15550100", PhoneVerified: true, CreatedAt: created}}
	minted, err := a.MintClaims(want, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other := sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "user-1", "exp": expiresIn(time.Minute),
		"phone_number": "+15550100", "phone_number_verified": true, "account_created_at": created.Unix()})
	for how, token := range map[string]string{"minted": minted, "another tool's": other} {
		got, err := a.Verify(token)
		if err != nil || got != want {
			t.Errorf("%s token: Verify = %+v, %v; want %+v", how, got, err, want)
		}
	}
	long := "+" + strings.Repeat("1", MaxPhoneLength)
	refusedAs(t, a, sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "user-1", "exp": expiresIn(time.Minute),
		"phone_number": long}), "phone_number is longer than")
	if _, err := a.MintClaims(Claims{UserID: "user-1", Account: flashsale.Account{Phone: long}}, time.Minute); err == nil {
		t.Error("minted a token with a phone number over the bound")
	}
}

func signedBothWays(payload string) map[string]string {
	return map[string]string{
		"Mint's header":  signedAsMinted([]byte(payload)),
		"another header": signedWith([]byte(otherHeader), []byte(payload)),
	}
}

// refusedAs checks that Verify refuses token as unauthenticated, saying
// reason.
func refusedAs(t *testing.T, a *Authenticator, token, reason string) {
	t.Helper()
	claims, err := a.Verify(token)
	if err == nil {
		t.Fatalf("accepted with claims %+v", claims)
	}
	if !flashsale.IsCode(err, flashsale.EUnauthenticated) {
		t.Fatalf("error %v has code %q, want unauthenticated", err, flashsale.ErrorCode(err))
	}
	if !strings.Contains(err.Error(), reason) {
		t.Fatalf("error %q does not say %q", err, reason)
	}
}

// A user id that Redis keys and SQL indexes cannot hold, or that two
// signed ids would share, is refused by both paths of Verify.
func TestVerifyRefusesUnusableUserIDs(t *testing.T) {
	a := newAuthenticator(t)
	exp := expiresIn(time.Hour)
	tests := []struct {
		name, sub, reason string // sub as JSON text, with its quotes
	}{
		{"one byte over the bound", `"` + strings.Repeat("u", MaxUserIDLength+1) + `"`, "is longer than 128 bytes"},
		{"over the bound in two-byte characters", `"` + strings.Repeat("é", MaxUserIDLength/2+1) + `"`, "is longer than 128 bytes"},
		{"too long for a PostgreSQL index", `"` + strings.Repeat("u", 3000) + `"`, "is longer than 128 bytes"},
		{"NUL", `"user\u0000"`, "contains a control character"},
		{"newline", `"user\n1"`, "contains a control character"},
		{"DEL", "\"user\x7f\"", "contains a control character"},
		{"C1 control", `"user\u0085"`, "contains a control character"},
		{"invalid UTF-8", "\"user\xff\"", "is not valid UTF-8"},
		{"truncated UTF-8", "\"user\xc3\"", "is not valid UTF-8"},
		{"lone surrogate", `"user\ud800"`, "is not valid UTF-8"},
		{"replacement character", `"user\ufffd"`, "is not valid UTF-8"},
	}
	for _, tc := range tests {
		for how, token := range signedBothWays(fmt.Sprintf(`{"sub":%s,"exp":%d}`, tc.sub, exp)) {
			t.Run(tc.name+", "+how, func(t *testing.T) {
				refusedAs(t, a, token, "user id (sub) "+tc.reason)
			})
		}
	}
}

// RFC 7519's times are JSON numbers; the library would also read a string
// holding one, which is refused, by both paths of Verify.
func TestVerifyRefusesTimesThatAreNotNumbers(t *testing.T) {
	a := newAuthenticator(t)
	exp, now := expiresIn(time.Hour), time.Now().Unix()
	for name, payload := range map[string]string{
		"exp as a string":           fmt.Sprintf(`{"sub":"user-1","exp":"%d"}`, exp),
		"exp far ahead as a string": `{"sub":"user-1","exp":"9999999999"}`,
		"exp as a boolean":          `{"sub":"user-1","exp":true}`,
		"exp as an object":          `{"sub":"user-1","exp":{"n":9999999999}}`,
		"iat as a string":           fmt.Sprintf(`{"sub":"user-1","exp":%d,"iat":"%d"}`, exp, now),
		"nbf as a string":           fmt.Sprintf(`{"sub":"user-1","exp":%d,"nbf":"%d"}`, exp, now),
		"account age as a string":   fmt.Sprintf(`{"sub":"user-1","exp":%d,"account_created_at":"%d"}`, exp, now),
	} {
		for how, token := range signedBothWays(payload) {
			t.Run(name+", "+how, func(t *testing.T) {
				refusedAs(t, a, token, "exp, nbf, iat or account_created_at is not a number")
			})
		}
	}
	// A number is still a number, whatever its spelling, and null is absent.
	for _, payload := range []string{
		fmt.Sprintf(`{"sub":"user-1","exp":%d.5,"iat":%d}`, exp, now),
		fmt.Sprintf(`{"sub":"user-1","exp":%de0,"nbf":-1}`, exp),
		fmt.Sprintf(`{"sub":"user-1","exp": %d ,"iat":null}`, exp),
	} {
		for how, token := range signedBothWays(payload) {
			if _, err := a.Verify(token); err != nil {
				t.Errorf("%s, %s: %v", payload, how, err)
			}
		}
	}
	refusedAs(t, a, signedAsMinted([]byte(`{"sub":"user-1","exp":null}`)), "no expiry")
}

// Mint writes the claims it always wrote, in the same order.
func TestMintWritesNumbers(t *testing.T) {
	a := newAuthenticator(t)
	token, _ := a.Mint("user-1", true, time.Hour)
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var exp, iat int64
	if _, err := fmt.Sscanf(string(payload), `{"role":"admin","sub":"user-1","exp":%d,"iat":%d}`, &exp, &iat); err != nil || exp-iat != 3600 {
		t.Fatalf("Mint wrote %s (%v)", payload, err)
	}
}

// A header naming critical extensions (RFC 7515, section 4.1.11) is
// refused: this service implements none, so it cannot honour one.
func TestVerifyRefusesCriticalExtensions(t *testing.T) {
	a := newAuthenticator(t)
	payload := fmt.Appendf(nil, `{"sub":"user-1","exp":%d,"iat":%d}`, expiresIn(time.Hour), time.Now().Unix())
	for _, header := range []string{
		`{"alg":"HS256","typ":"JWT","crit":["exp"]}`,
		`{"alg":"HS256","typ":"JWT","crit":["urn:example:binding"],"urn:example:binding":true}`,
		`{"crit":["b64"],"alg":"HS256","b64":true}`,
		`{"alg":"HS256","typ":"JWT","crit":[]}`,
		`{"alg":"HS256","typ":"JWT","crit":null}`,
		`{"alg":"HS256","typ":"JWT","crit":"exp"}`,
	} {
		t.Run(header, func(t *testing.T) {
			refusedAs(t, a, signedWith([]byte(header), payload), "does not implement (crit)")
		})
	}
	// The same claims under a header without crit pass.
	if _, err := a.Verify(signedWith([]byte(`{"alg":"HS256","typ":"JWT","kid":"crit"}`), payload)); err != nil {
		t.Fatal(err)
	}
}

// The bound is in bytes and inclusive; ordinary ids of every script pass.
func TestVerifyAcceptsUserIDsWithinTheBound(t *testing.T) {
	a := newAuthenticator(t)
	exp := expiresIn(time.Hour)
	for _, id := range []string{
		strings.Repeat("u", MaxUserIDLength),
		strings.Repeat("é", MaxUserIDLength/2),
		"ユーザー-1",
		"alice@example.com",
		"user 1",
		"u",
	} {
		minted, err := a.Mint(id, false, time.Hour)
		if err != nil {
			t.Fatalf("Mint(%q): %v", id, err)
		}
		tokens := signedBothWays(fmt.Sprintf(`{"sub":%q,"exp":%d}`, id, exp))
		tokens["Mint"] = minted
		for how, token := range tokens {
			got, err := a.Verify(token)
			if err != nil || got.UserID != id {
				t.Fatalf("user id %q, %s: Verify = %+v, %v", id, how, got, err)
			}
		}
	}
}

func TestNewHS256RefusesEmptySecret(t *testing.T) {
	if _, err := NewHS256(nil); err == nil {
		t.Fatal("an empty secret was accepted")
	}
}

func TestSecretIsCopied(t *testing.T) {
	key := []byte("a-secret-that-the-caller-reuses!")
	a, _ := NewHS256(key)
	token, _ := a.Mint("user-1", false, time.Minute)
	key[0] = 'X'
	if _, err := a.Verify(token); err != nil {
		t.Fatalf("changing the caller's slice changed the secret: %v", err)
	}
}

func TestVerifyAcceptsTokensFromOtherTools(t *testing.T) {
	a := newAuthenticator(t)
	tests := []struct {
		role  any
		admin bool
	}{
		{"admin", true},
		{"user", false},
		{nil, false},
	}
	for _, tt := range tests {
		claims := jwt.MapClaims{"sub": "user-7", "exp": expiresIn(time.Hour)}
		if tt.role != nil {
			claims["role"] = tt.role
		}
		got, err := a.Verify(sign(t, jwt.SigningMethodHS256, secret, claims))
		if err != nil {
			t.Fatalf("role %v: %v", tt.role, err)
		}
		if want := (Claims{UserID: "user-7", Admin: tt.admin}); got != want {
			t.Fatalf("role %v: Verify = %+v, want %+v", tt.role, got, want)
		}
	}
}

func TestVerifyToleratesClockSkewWithinLeeway(t *testing.T) {
	a := newAuthenticator(t)
	claims := jwt.MapClaims{
		"sub": "user-1",
		"exp": expiresIn(-Leeway / 2),
		"iat": expiresIn(Leeway / 2),
		"nbf": expiresIn(Leeway / 2),
	}
	if _, err := a.Verify(sign(t, jwt.SigningMethodHS256, secret, claims)); err != nil {
		t.Fatalf("a token within the leeway was rejected: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	a := newAuthenticator(t)
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "user-1", "exp": expiresIn(time.Hour), "role": "admin"}
	}
	with := func(key string, value any) jwt.MapClaims {
		c := valid()
		if value == nil {
			delete(c, key)
		} else {
			c[key] = value
		}
		return c
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	userToken, _ := a.Mint("user-1", false, time.Hour)

	tests := []struct {
		name, token, reason string
	}{
		{"alg none by hand", handBuiltNone(valid()), "not signed with HS256"},
		{"alg none by library", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid()), "not signed with HS256"},
		{"HS512 with the right secret", sign(t, jwt.SigningMethodHS512, secret, valid()), "not signed with HS256"},
		{"HS384 with the right secret", sign(t, jwt.SigningMethodHS384, secret, valid()), "not signed with HS256"},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, valid()), "not signed with HS256"},
		{"ES256", sign(t, jwt.SigningMethodES256, ecKey, valid()), "not signed with HS256"},
		{"another secret", sign(t, jwt.SigningMethodHS256, []byte("some-other-secret-of-32-bytes!!!"), valid()), "not signed with HS256"},
		{"tampered payload", promoteToAdmin(t, userToken), "not signed with HS256"},
		{"missing exp", sign(t, jwt.SigningMethodHS256, secret, with("exp", nil)), "no expiry"},
		{"past exp", sign(t, jwt.SigningMethodHS256, secret, with("exp", expiresIn(-2*Leeway))), "expired"},
		{"exp as text", sign(t, jwt.SigningMethodHS256, secret, with("exp", "tomorrow")), "not a number"},
		{"nbf in the future", sign(t, jwt.SigningMethodHS256, secret, with("nbf", expiresIn(2*Leeway))), "not valid yet"},
		{"iat in the future", sign(t, jwt.SigningMethodHS256, secret, with("iat", expiresIn(2*Leeway))), "not valid yet"},
		{"missing sub", sign(t, jwt.SigningMethodHS256, secret, with("sub", nil)), "names no user"},
		{"empty sub", sign(t, jwt.SigningMethodHS256, secret, with("sub", "")), "names no user"},
		{"numeric sub", sign(t, jwt.SigningMethodHS256, secret, with("sub", 42)), "well-formed"},
		{"role not a string", sign(t, jwt.SigningMethodHS256, secret, with("role", []string{"admin"})), "well-formed"},
		{"empty", "", "well-formed"},
		{"garbage", "not-a-token", "well-formed"},
		{"three empty parts", "..", "well-formed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := a.Verify(tt.token)
			if err == nil {
				t.Fatalf("accepted with claims %+v", claims)
			}
			if !flashsale.IsCode(err, flashsale.EUnauthenticated) {
				t.Fatalf("error %v has code %q, want unauthenticated", err, flashsale.ErrorCode(err))
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("error %q does not say %q", err, tt.reason)
			}
		})
	}
}

// handBuiltNone writes an unsigned "alg: none" token without the library's
// help, as an attacker would.
func handBuiltNone(claims jwt.MapClaims) string {
	encode := base64.RawURLEncoding.EncodeToString
	payload := `{"sub":"` + claims["sub"].(string) + `","role":"admin","exp":` +
		strconv.FormatInt(claims["exp"].(int64), 10) + `}`
	return encode([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + encode([]byte(payload)) + "."
}

// promoteToAdmin swaps the payload of a signed user token for one with the
// admin role, keeping the original signature.
func promoteToAdmin(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	promoted := strings.Replace(string(payload), `{`, `{"role":"admin",`, 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(promoted))
	return strings.Join(parts, ".")
}

func TestGenerateSecret(t *testing.T) {
	first, err := GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(first)
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret %q decodes to %d bytes (%v), want 32", first, len(raw), err)
	}
	second, _ := GenerateSecret()
	if first == second {
		t.Fatal("two generated secrets are equal")
	}
	if _, err := NewHS256([]byte(first)); err != nil {
		t.Fatalf("a generated secret is refused: %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		token  string
		ok     bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"Bearer   abc  ", "abc", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearerabc", "", false},
		{"Bearer abc def", "", false},
		{"Token abc", "", false},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Authorization", tt.header)
		}
		token, ok := BearerToken(h)
		if token != tt.token || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, token, ok, tt.token, tt.ok)
		}
	}
}
