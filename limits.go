package flashsale

import (
	"fmt"
	"time"
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
	// checked at payment, atomically with the order's move to paying.
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
func (l PurchaseLimits) Eligible(a Account, now time.Time) error {
	if l.RequireVerifiedPhone && a.VerifiedPhone() == "" {
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
