// Package auth mints and verifies the bearer tokens of users and admins:
// HS256 JWTs whose sub is the user id and whose role "admin" opens the admin
// endpoints.
package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/flashsale/flashsale"
)

// Leeway is the clock skew tolerated on exp, nbf and iat. The API allows at
// most 60 s; half of that covers ordinary drift without stretching the
// life of a stolen token much.
const Leeway = 30 * time.Second

// adminRole is the role claim value that grants admin rights.
const adminRole = "admin"

// MaxUserIDLength bounds, in bytes, the user id a token names (its sub).
// The id goes into Redis keys and into PostgreSQL and SQLite index
// entries, and PostgreSQL refuses an index row over about 2.7 KB: a user
// with a longer id would get 503 "retry" on every order, forever. Verify
// refuses such a token at once (401), in the one place both deployments
// share, and Mint will not make one. 128 bytes holds a UUID, a ULID or any
// ordinary account name.
const MaxUserIDLength = 128

// userIDTooLong is what userIDProblem says of an id over the bound.
var userIDTooLong = fmt.Sprintf("is longer than %d bytes", MaxUserIDLength)

// userIDProblem says what makes id unusable as a user id, or "" if nothing
// does. An id is 1 to MaxUserIDLength bytes of UTF-8 without control
// characters (C0, DEL, C1), since it reaches Redis keys, SQL rows (where
// PostgreSQL refuses NUL and invalid UTF-8) and logs. U+FFFD is refused
// too: the JSON decoder puts it in place of invalid UTF-8 and of lone
// surrogate escapes ("\ud800"), so different signed ids would otherwise
// come out as one user.
func userIDProblem(id string) string {
	if id == "" {
		return "is empty"
	}
	if len(id) > MaxUserIDLength {
		return userIDTooLong
	}
	for i := 0; i < len(id); {
		if b := id[i]; b < utf8.RuneSelf {
			if b < 0x20 || b == 0x7f {
				return "contains a control character"
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(id[i:])
		if r == utf8.RuneError {
			return "is not valid UTF-8 (or contains U+FFFD)"
		}
		if unicode.IsControl(r) {
			return "contains a control character"
		}
		i += size
	}
	return ""
}

// Claims is what a verified token says about its bearer.
type Claims struct {
	UserID string
	Admin  bool
	// Account is what the token says of the account behind the user id,
	// for the sales that limit purchases across accounts: the OIDC claims
	// phone_number and phone_number_verified, and account_created_at.
	Account flashsale.Account
}

// MaxPhoneLength bounds, in bytes, a token's phone_number: E.164 numbers
// have at most 15 digits, and the number goes into keys the way a user id
// does.
const MaxPhoneLength = 32

// tokenClaims is the token's JSON payload: jwt.RegisteredClaims, in the
// same order, with the times read as numericDate, and the role.
type tokenClaims struct {
	Role      string           `json:"role,omitempty"`
	Issuer    string           `json:"iss,omitempty"`
	Subject   string           `json:"sub,omitempty"`
	Audience  jwt.ClaimStrings `json:"aud,omitempty"`
	ExpiresAt *numericDate     `json:"exp,omitempty"`
	NotBefore *numericDate     `json:"nbf,omitempty"`
	IssuedAt  *numericDate     `json:"iat,omitempty"`
	ID        string           `json:"jti,omitempty"`
	// The account's claims (Claims.Account).
	PhoneNumber         string       `json:"phone_number,omitempty"`
	PhoneNumberVerified bool         `json:"phone_number_verified,omitempty"`
	AccountCreatedAt    *numericDate `json:"account_created_at,omitempty"`
}

// tokenClaims is a jwt.Claims.
func (c tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.get(), nil }
func (c tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.get(), nil }
func (c tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.get(), nil }
func (c tokenClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c tokenClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c tokenClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }

// numericDate is a jwt.NumericDate that must be a JSON number, as RFC 7519
// (section 2) has it. The library also reads a string holding a number
// ("exp":"9999999999"), which no token of ours carries and which other
// verifiers refuse: a token valid here and nowhere else is a token someone
// made by hand.
type numericDate struct{ jwt.NumericDate }

// errDateNotNumber is what numericDate says of anything but a number.
var errDateNotNumber = errors.New("a time claim is not a JSON number")

func newNumericDate(t time.Time) *numericDate { return &numericDate{*jwt.NewNumericDate(t)} }

func (d *numericDate) get() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

func (d numericDate) MarshalJSON() ([]byte, error) { return d.NumericDate.MarshalJSON() }

// UnmarshalJSON reads a JSON number (null never gets here: it leaves the
// pointer nil, a claim absent).
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errDateNotNumber
	}
	return d.NumericDate.UnmarshalJSON(b)
}

// Authenticator mints and verifies HS256 tokens with one secret, and may
// also verify an identity provider's RS256 and ES256 tokens (NewWithKeys).
// It is safe for concurrent use.
type Authenticator struct {
	secret   []byte
	keys     jwt.Keyfunc // the provider's public keys; nil: HS256 alone
	parser   *jwt.Parser
	macs     *macs // for verifyMinted
	verified *verifiedCache
}

// ProviderMethods are the signatures NewWithKeys accepts from an identity
// provider: RSA and ECDSA, never HMAC, so that no public key of the set
// can be taken for a shared secret (the HS/RS confusion).
var ProviderMethods = []string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg()}

// NewWithKeys returns an Authenticator keyed by secret, as NewHS256, that
// also accepts tokens signed with ProviderMethods by a key that keys finds
// for them: an identity provider's JWK Set (keyfunc), so that a shop's own
// sign-in issues the shoppers' tokens. The claims are read as in HS256
// tokens (sub, exp, role, the account's claims).
func NewWithKeys(secret []byte, keys jwt.Keyfunc) (*Authenticator, error) {
	if keys == nil {
		return nil, errors.New("auth: no key set")
	}
	a, err := NewHS256(secret)
	if err != nil {
		return nil, err
	}
	a.keys = keys
	a.parser = newParser(append([]string{jwt.SigningMethodHS256.Alg()}, ProviderMethods...))
	return a, nil
}

// newParser is the general parser of tokens signed by one of methods.
func newParser(methods []string) *jwt.Parser {
	return jwt.NewParser(
		// Pinning the algorithms shuts out "alg: none" and any token
		// signed by other means.
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
	)
}

// NewHS256 returns an Authenticator keyed by secret, used as given: pass the
// bytes of the configured secret string (GenerateSecret's text included)
// without decoding them, so that any tool holding the same string can mint
// tokens. An empty secret is refused, since anyone could forge with it.
func NewHS256(secret []byte) (*Authenticator, error) {
	if len(secret) == 0 {
		return nil, errors.New("auth: empty HS256 secret")
	}
	secret = bytes.Clone(secret)
	return &Authenticator{
		secret:   secret,
		parser:   newParser([]string{jwt.SigningMethodHS256.Alg()}),
		macs:     newMACs(secret),
		verified: newVerifiedCache(cacheEntries),
	}, nil
}

// Mint returns a token for userID that expires after ttl; admin adds the
// admin role.
func (a *Authenticator) Mint(userID string, admin bool, ttl time.Duration) (string, error) {
	return a.MintClaims(Claims{UserID: userID, Admin: admin}, ttl)
}

// MintClaims returns a token with the claims c that expires after ttl.
func (a *Authenticator) MintClaims(c Claims, ttl time.Duration) (string, error) {
	if problem := userIDProblem(c.UserID); problem != "" {
		return "", errors.New("auth: minting a token whose user id " + problem)
	}
	if problem := phoneProblem(c.Account.Phone); problem != "" {
		return "", errors.New("auth: minting a token whose phone_number " + problem)
	}
	if ttl <= 0 {
		return "", errors.New("auth: minting a token with a non-positive lifetime")
	}
	now := time.Now()
	claims := tokenClaims{
		Subject:             c.UserID,
		IssuedAt:            newNumericDate(now),
		ExpiresAt:           newNumericDate(now.Add(ttl)),
		PhoneNumber:         c.Account.Phone,
		PhoneNumberVerified: c.Account.PhoneVerified,
	}
	if c.Admin {
		claims.Role = adminRole
	}
	if !c.Account.CreatedAt.IsZero() {
		claims.AccountCreatedAt = newNumericDate(c.Account.CreatedAt)
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.secret)
}

// phoneProblem says what makes a phone_number claim unusable, or "" if
// nothing does: the rules of a user id, with a shorter bound. No claim is
// no problem.
func phoneProblem(phone string) string {
	if phone == "" {
		return ""
	}
	if len(phone) > MaxPhoneLength {
		return fmt.Sprintf("is longer than %d bytes", MaxPhoneLength)
	}
	return userIDProblem(phone)
}

// Verify checks token and returns its claims. Every failure is a
// *flashsale.Error with code unauthenticated, whose message says what is
// wrong without echoing the token. A token verified before and not expired
// yet is answered from memory (cache.go), and one shaped as Mint makes them
// is checked without the general parser (minted.go).
func (a *Authenticator) Verify(token string) (Claims, error) {
	now := time.Now()
	if c, ok := a.verified.get(token, now); ok {
		return c, nil
	}
	c, expires, ok := a.verifyMinted(token, now)
	if !ok {
		var err error
		if c, expires, err = a.verifyParsed(token); err != nil {
			return Claims{}, err
		}
	}
	a.verified.put(token, c, expires, now)
	return c, nil
}

// verifyParsed is Verify without its shortcuts: the general parser and
// Verify's own rules. It returns the claims of token and its expiry, or
// why it refuses token.
func (a *Authenticator) verifyParsed(token string) (Claims, time.Time, error) {
	var claims tokenClaims
	parsed, err := a.parser.ParseWithClaims(token, &claims, a.key)
	if err != nil {
		return Claims{}, time.Time{}, flashsale.Errorf(flashsale.EUnauthenticated, "%s", a.rejection(err))
	}
	// RFC 7515, section 4.1.11: a token whose crit names an extension the
	// recipient does not understand is invalid, and this service
	// understands none (the library ignores crit).
	if _, ok := parsed.Header["crit"]; ok {
		return Claims{}, time.Time{}, flashsale.Errorf(flashsale.EUnauthenticated, "the token's header requires extensions this service does not implement (crit)")
	}
	if claims.Subject == "" {
		return Claims{}, time.Time{}, flashsale.Errorf(flashsale.EUnauthenticated, "the token names no user (sub)")
	}
	if problem := userIDProblem(claims.Subject); problem != "" {
		return Claims{}, time.Time{}, flashsale.Errorf(flashsale.EUnauthenticated, "the token's user id (sub) %s", problem)
	}
	if problem := phoneProblem(claims.PhoneNumber); problem != "" {
		return Claims{}, time.Time{}, flashsale.Errorf(flashsale.EUnauthenticated, "the token's phone_number %s", problem)
	}
	c := Claims{UserID: claims.Subject, Admin: claims.Role == adminRole,
		Account: flashsale.Account{Phone: claims.PhoneNumber, PhoneVerified: claims.PhoneNumberVerified}}
	if claims.AccountCreatedAt != nil {
		c.Account.CreatedAt = claims.AccountCreatedAt.Time.UTC()
	}
	// The parser has required exp, so ExpiresAt is set.
	return c, claims.ExpiresAt.Time, nil
}

// key is the key that verifies t: the secret for HS256, else the
// provider's key (the parser lets through only the methods the
// Authenticator accepts).
func (a *Authenticator) key(t *jwt.Token) (any, error) {
	if t.Method == jwt.SigningMethodHS256 {
		return a.secret, nil
	}
	return a.keys(t)
}

// rejection explains a parse failure in words a client can act on.
func (a *Authenticator) rejection(err error) string {
	switch {
	case a.keys != nil && (errors.Is(err, jwt.ErrTokenSignatureInvalid) || errors.Is(err, jwt.ErrTokenUnverifiable)):
		return "the token is not signed by this service (HS256) or by a key of its identity provider (RS256, ES256)"
	case errors.Is(err, errDateNotNumber):
		return "the token's exp, nbf, iat or account_created_at is not a number"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is not a well-formed JWT"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token is not signed with HS256 by this service"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token has no expiry (exp)"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token is not valid yet"
	default:
		return "the token is invalid"
	}
}

// GenerateSecret returns 32 random bytes in unpadded base64url, a secret
// for NewHS256 when none is configured.
func GenerateSecret() (string, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(secret), nil
}

// BearerToken extracts the token of an "Authorization: Bearer <token>"
// header. The scheme is case-insensitive (RFC 9110, section 11.1).
func BearerToken(h http.Header) (string, bool) {
	scheme, token, found := strings.Cut(h.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}
