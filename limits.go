package flashsale

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Error codes of the purchase limits across accounts (API.md, "One buyer
// per card, phone, address").
const (
	// EPurchaseLimitExceeded refuses a purchase whose card, phone or
	// address has bought the sale's limit already, whatever the account.
	EPurchaseLimitExceeded = "purchase_limit_exceeded"
	// EAccountNotEligible refuses an account the sale does not sell to:
	// no verified phone, or too young.
	EAccountNotEligible = "account_not_eligible"
)

// The reasons of purchase_limit_exceeded and account_not_eligible.
const (
	LimitCard          = "card"
	LimitPhone         = "phone"
	LimitAddress       = "address"
	LimitVerifiedPhone = "verified_phone"
	LimitAccountAge    = "account_age"
)

// MaxMinAccountAgeDays bounds min_account_age_days: ten years.
const MaxMinAccountAgeDays = 3650

// PurchaseLimits is a sale's "limits" object: what one account farm may
// buy, whatever the number of its accounts. Identity that costs money to
// multiply (a payment card, a phone number, a delivery address) is counted
// per sale over reserved and confirmed units, across accounts. A zero
// limit is no limit.
//
// Its JSON is the API's object, as admins send it and the stores keep it.
type PurchaseLimits struct {
	// PerCard bounds the units one payment card (its fingerprint) pays for;
	// checked at payment, atomically with the order's move to paying. A
	// lottery also counts the card at entry, over the units its entries
	// may win; a waiting room gives a card one place in its line, to the
	// first account that joins with it.
	PerCard int64 `json:"per_card"`
	// PerPhone and PerAddress bound the units one verified phone number or
	// one normalised shipping address reserves; checked at place-order.
	PerPhone   int64 `json:"per_phone"`
	PerAddress int64 `json:"per_address"`
	// RequireVerifiedPhone refuses accounts whose token does not carry a
	// verified phone number.
	RequireVerifiedPhone bool `json:"require_verified_phone"`
	// MinAccountAgeDays refuses accounts created less than this many days
	// before the press.
	MinAccountAgeDays int64 `json:"min_account_age_days"`
}

// Validate refuses limits no sale could apply.
func (l PurchaseLimits) Validate() error {
	for _, f := range []struct {
		name  string
		value int64
	}{{"per_card", l.PerCard}, {"per_phone", l.PerPhone}, {"per_address", l.PerAddress}} {
		if f.value < 0 {
			return InvalidField("limits."+f.name, "limits.%s must be 0 (no limit) or more", f.name)
		}
	}
	if l.MinAccountAgeDays < 0 || l.MinAccountAgeDays > MaxMinAccountAgeDays {
		return InvalidField("limits.min_account_age_days", "limits.min_account_age_days must be from 0 to %d", MaxMinAccountAgeDays)
	}
	return nil
}

// Account is what a shopper's token says of the account behind it, beyond
// its id: the OIDC claims phone_number and phone_number_verified, and
// account_created_at.
type Account struct {
	Phone         string
	PhoneVerified bool
	// CreatedAt is zero when the token does not say.
	CreatedAt time.Time
}

// VerifiedPhone is the account's phone number when it is verified, else
// empty: an unverified number proves nothing and is not counted.
func (a Account) VerifiedPhone() string {
	if a.PhoneVerified {
		return a.Phone
	}
	return ""
}

// Eligible refuses an account the limits do not sell to at now. An
// account whose age its token does not tell is too young for a sale that
// asks for one.
//
// A sale that counts phones (PerPhone) sells only to verified phones: an
// account without one would escape the count.
func (l PurchaseLimits) Eligible(a Account, now time.Time) error {
	if (l.RequireVerifiedPhone || l.PerPhone > 0) && a.VerifiedPhone() == "" {
		return &Error{Code: EAccountNotEligible, Reason: LimitVerifiedPhone,
			Message: "this sale is open to accounts with a verified phone number only"}
	}
	minAge := time.Duration(l.MinAccountAgeDays) * 24 * time.Hour
	if minAge > 0 && (a.CreatedAt.IsZero() || now.Sub(a.CreatedAt) < minAge) {
		return &Error{Code: EAccountNotEligible, Reason: LimitAccountAge,
			Message: fmt.Sprintf("this sale is open to accounts at least %d days old", l.MinAccountAgeDays)}
	}
	return nil
}

// PurchaseLimitExceeded refuses a purchase whose card, phone or address
// (reason) holds the sale's limit already.
func PurchaseLimitExceeded(reason string, limit int64) *Error {
	var what string
	switch reason {
	case LimitCard:
		what = "this payment card has"
	case LimitPhone:
		what = "this phone number has"
	default:
		what = "this shipping address has"
	}
	e := Errorf(EPurchaseLimitExceeded, "%s bought the %d allowed per customer in this sale, on one account or several", what, limit)
	e.Reason = reason
	if reason == LimitCard {
		e.Message += "; your reservation stays: pay it with another card"
	}
	return e
}

// ShippingAddress is where an order is to be delivered, as a shopper sends
// it at place-order ("shipping_address"), in Stripe's address shape.
type ShippingAddress struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	Region     string `json:"region"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// MaxAddressFieldLength bounds, in bytes, each field of a shipping address.
const MaxAddressFieldLength = 200

// Validate refuses an address that names no place: line1, postal_code and
// country are required, each field is bounded.
func (a ShippingAddress) Validate() error {
	fields := []struct{ name, value string }{
		{"line1", a.Line1}, {"line2", a.Line2}, {"city", a.City},
		{"region", a.Region}, {"postal_code", a.PostalCode}, {"country", a.Country},
	}
	for _, f := range fields {
		if len(f.value) > MaxAddressFieldLength {
			return InvalidField("shipping_address."+f.name, "shipping_address.%s is longer than %d bytes", f.name, MaxAddressFieldLength)
		}
	}
	for _, f := range fields {
		if (f.name == "line1" || f.name == "postal_code" || f.name == "country") && normalise(f.value) == "" {
			return InvalidField("shipping_address."+f.name, "shipping_address.%s is required", f.name)
		}
	}
	return nil
}

// Key is the address as a purchase limit counts it: one value for every
// spelling that differs only in case, spacing or punctuation ("12 Main
// St." and "12  main st"; see normalise), hashed so that the stores keep
// no address in clear.
func (a ShippingAddress) Key() string {
	normalised := strings.Join([]string{normalise(a.Line1), normalise(a.Line2), normalise(a.City),
		normalise(a.Region), normalise(a.PostalCode), normalise(a.Country)}, "\n")
	return identityKey("address", normalised)
}

// CardKey is a payment card as a lottery entry claims it: its
// fingerprint (PaymentProvider.Fingerprint), hashed like the other keys.
func CardKey(fingerprint string) string { return identityKey("card", fingerprint) }

// PhoneKey is a phone number as a purchase limit counts it: its digits,
// with the leading + of an international number, hashed.
func PhoneKey(phone string) string {
	var b strings.Builder
	for i, r := range strings.TrimSpace(phone) {
		if unicode.IsDigit(r) || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	return identityKey("phone", b.String())
}

// normalise is one field of an address as a limit compares it: its
// letters and digits, lower-cased, nothing else, so that "12 Main St.",
// "12, main st" and "12 MainSt" are one address and "U.S." is "us". Two
// addresses that differ only by spacing may merge: a limit errs towards
// counting them as one.
func normalise(field string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, field)
}

func identityKey(kind, normalised string) string {
	sum := sha256.Sum256([]byte("flashsale " + kind + "\n" + normalised))
	return kind + "_" + hex.EncodeToString(sum[:16])
}

// Identities are the keys a sale's limits count an order or a lottery
// entry under; empty where the sale does not count that kind.
type Identities struct {
	PhoneKey, AddressKey string
	// CardKey is the card a lottery entry claims at entry, as a card is
	// pre-authorised when entering a raffle, so that a farm cannot enter
	// once per account with one card. An order claims its card at
	// payment instead (CardClaim): orders leave it empty.
	CardKey string
}

// Identities returns what the limits count an order of account under,
// shipped to address (nil: none given). A sale that counts addresses
// needs one.
func (l PurchaseLimits) Identities(account Account, address *ShippingAddress) (Identities, error) {
	var ids Identities
	if address != nil {
		if err := address.Validate(); err != nil {
			return Identities{}, err
		}
	}
	if l.PerPhone > 0 && account.VerifiedPhone() != "" {
		ids.PhoneKey = PhoneKey(account.VerifiedPhone())
	}
	if l.PerAddress > 0 {
		if address == nil {
			return Identities{}, InvalidField("shipping_address", "this sale limits purchases per address: send the shipping_address")
		}
		ids.AddressKey = address.Key()
	}
	return ids, nil
}

// IdentityHolds are a sale's limits on phones, addresses and cards (0: no
// limit) and the units its other claims hold under a new claim's keys.
type IdentityHolds struct {
	PerPhone, PhoneHeld     int64
	PerAddress, AddressHeld int64
	PerCard, CardHeld       int64
}

// IdentityRefusal is a store's answer to a new claim of units under ids
// (an order's units, or the units a lottery entry may win), given what
// the sale's other claims hold: the refusal, or nil. The phone is told
// first, then the address, then the card.
func IdentityRefusal(ids Identities, units int64, h IdentityHolds) error {
	switch {
	case ids.PhoneKey != "" && h.PerPhone > 0 && h.PhoneHeld+units > h.PerPhone:
		return PurchaseLimitExceeded(LimitPhone, h.PerPhone)
	case ids.AddressKey != "" && h.PerAddress > 0 && h.AddressHeld+units > h.PerAddress:
		return PurchaseLimitExceeded(LimitAddress, h.PerAddress)
	case ids.CardKey != "" && h.PerCard > 0 && h.CardHeld+units > h.PerCard:
		return CardClaimed(h.PerCard)
	}
	return nil
}

// CardClaimed refuses a card claimed before payment (by a lottery entry,
// or a place in a waiting room's line) that other claims of the sale
// already hold up to its per_card limit, on other accounts.
func CardClaimed(limit int64) *Error {
	e := Errorf(EPurchaseLimitExceeded, "this payment card already holds the %d allowed per customer in this sale, by lottery entries or a place in the waiting room's line, on one account or several: use another card", limit)
	e.Reason = LimitCard
	return e
}
