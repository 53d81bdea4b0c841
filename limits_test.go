package flashsale_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
)

func TestPurchaseLimitsValidate(t *testing.T) {
	for _, tc := range []struct {
		limits flashsale.PurchaseLimits
		field  string
	}{
		{flashsale.PurchaseLimits{}, ""},
		{flashsale.PurchaseLimits{PerCard: 1, PerPhone: 2, PerAddress: 3, RequireVerifiedPhone: true, MinAccountAgeDays: 30}, ""},
		{flashsale.PurchaseLimits{PerCard: -1}, "limits.per_card"},
		{flashsale.PurchaseLimits{PerPhone: -1}, "limits.per_phone"},
		{flashsale.PurchaseLimits{PerAddress: -1}, "limits.per_address"},
		{flashsale.PurchaseLimits{MinAccountAgeDays: -1}, "limits.min_account_age_days"},
		{flashsale.PurchaseLimits{MinAccountAgeDays: flashsale.MaxMinAccountAgeDays + 1}, "limits.min_account_age_days"},
	} {
		err := tc.limits.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%+v: %v, want valid", tc.limits, err)
			}
			continue
		}
		if e, ok := err.(*flashsale.Error); !ok || e.Code != flashsale.EInvalidRequest || e.Field != tc.field {
			t.Errorf("%+v: %v, want invalid_request on %s", tc.limits, err, tc.field)
		}
	}
}

func TestEligible(t *testing.T) {
	now := time.Date(2030, 1, 31, 0, 0, 0, 0, time.UTC)
	month := flashsale.PurchaseLimits{MinAccountAgeDays: 30}
	phone := flashsale.PurchaseLimits{RequireVerifiedPhone: true}
	for _, tc := range []struct {
		name    string
		limits  flashsale.PurchaseLimits
		account flashsale.Account
		reason  string
	}{
		{"no limits, no claims", flashsale.PurchaseLimits{}, flashsale.Account{}, ""},
		{"verified phone", phone, flashsale.Account{Phone: "+15550100", PhoneVerified: true}, ""},
		{"unverified phone", phone, flashsale.Account{Phone: "+15550100"}, flashsale.LimitVerifiedPhone},
		{"no phone", phone, flashsale.Account{}, flashsale.LimitVerifiedPhone},
		{"exactly old enough", month, flashsale.Account{CreatedAt: now.Add(-30 * 24 * time.Hour)}, ""},
		{"a second too young", month, flashsale.Account{CreatedAt: now.Add(-30*24*time.Hour + time.Second)}, flashsale.LimitAccountAge},
		{"age not told", month, flashsale.Account{}, flashsale.LimitAccountAge},
	} {
		err := tc.limits.Eligible(tc.account, now)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%s: %v, want eligible", tc.name, err)
			}
			continue
		}
		e, ok := err.(*flashsale.Error)
		if !ok || e.Code != flashsale.EAccountNotEligible || e.Reason != tc.reason || e.Message == "" {
			t.Errorf("%s: %v, want account_not_eligible for %s", tc.name, err, tc.reason)
		}
	}
}

func TestPurchaseLimitExceeded(t *testing.T) {
	for _, reason := range []string{flashsale.LimitCard, flashsale.LimitPhone, flashsale.LimitAddress} {
		e := flashsale.PurchaseLimitExceeded(reason, 1)
		if e.Code != flashsale.EPurchaseLimitExceeded || e.Reason != reason {
			t.Errorf("%s: %+v", reason, e)
		}
	}
}

// The "limits" object round-trips through its API JSON.
func TestPurchaseLimitsJSON(t *testing.T) {
	in := flashsale.PurchaseLimits{PerCard: 1, PerPhone: 2, PerAddress: 3, RequireVerifiedPhone: true, MinAccountAgeDays: 7}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"per_card":1,"per_phone":2,"per_address":3,"require_verified_phone":true,"min_account_age_days":7}`
	if string(b) != want {
		t.Fatalf("marshal: %s, want %s", b, want)
	}
	var out flashsale.PurchaseLimits
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("unmarshal: %+v, %v; want %+v", out, err, in)
	}
}

// An address or a phone is one key however it is spelled, and another
// address or number is another key.
func TestIdentityKeys(t *testing.T) {
	same := []flashsale.ShippingAddress{
		{Line1: "12 Main St.", City: "Springfield", PostalCode: "62701", Country: "US"},
		{Line1: "12  main st", City: "SPRINGFIELD", PostalCode: "62701", Country: "us"},
		{Line1: "12, Main St", City: "Springfield.", PostalCode: "62 701", Country: "U.S."},
	}
	for _, a := range same[1:] {
		if a.Key() != same[0].Key() {
			t.Errorf("%+v and %+v are two addresses", a, same[0])
		}
	}
	other := same[0]
	other.Line1 = "14 Main St."
	if other.Key() == same[0].Key() {
		t.Error("12 and 14 Main St. are one address")
	}
	if flashsale.PhoneKey("+1 (555) 010-0") != flashsale.PhoneKey("+15550100") || flashsale.PhoneKey("+15550100") == flashsale.PhoneKey("+15550101") {
		t.Error("phone keys do not follow the digits")
	}
}

// A claim is refused for the first of its keys, phone then address then
// card, whose units would pass the sale's limit; a key the claim does
// not carry, or a kind the sale does not limit, refuses nothing.
func TestIdentityRefusal(t *testing.T) {
	all := flashsale.Identities{PhoneKey: "p", AddressKey: "a", CardKey: "c"}
	full := flashsale.IdentityHolds{PerPhone: 1, PhoneHeld: 1, PerAddress: 1, AddressHeld: 1, PerCard: 1, CardHeld: 1}
	for _, tc := range []struct {
		name   string
		ids    flashsale.Identities
		holds  flashsale.IdentityHolds
		reason string
	}{
		{"every key full", all, full, flashsale.LimitPhone},
		{"no phone", flashsale.Identities{AddressKey: "a", CardKey: "c"}, full, flashsale.LimitAddress},
		{"card only", flashsale.Identities{CardKey: "c"}, full, flashsale.LimitCard},
		{"room left", all, flashsale.IdentityHolds{PerPhone: 2, PhoneHeld: 1, PerAddress: 2, AddressHeld: 1, PerCard: 2, CardHeld: 1}, ""},
		{"no limits", all, flashsale.IdentityHolds{PhoneHeld: 9, AddressHeld: 9, CardHeld: 9}, ""},
		{"no keys", flashsale.Identities{}, full, ""},
	} {
		err := flashsale.IdentityRefusal(tc.ids, 1, tc.holds)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%s: %v, want none", tc.name, err)
			}
			continue
		}
		e, ok := err.(*flashsale.Error)
		if !ok || e.Code != flashsale.EPurchaseLimitExceeded || e.Reason != tc.reason || e.Message == "" {
			t.Errorf("%s: %v, want purchase_limit_exceeded for %s", tc.name, err, tc.reason)
		}
	}
	if flashsale.CardKey("x") == flashsale.PhoneKey("x") {
		t.Error("a card and a phone spelled alike share a key")
	}
}
