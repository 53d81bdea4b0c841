// Package paymenttest is the conformance suite of flashsale.PaymentProvider:
// the built-in simulator and the Stripe adapter (against a stateful fake
// of Stripe) both run it, so the purchase flow meets one behaviour
// whichever provider takes the money.
//
// The cards are Stripe's test tokens, which both understand: tok_visa
// succeeds, tok_visa_<suffix> is another card that succeeds,
// tok_chargeDeclined declines with card_declined, tok_insufficientFunds
// with insufficient_funds, and tok_timeout never answers; Stripe's test
// PaymentMethods name the same cards (pm_card_visa is tok_visa).
package paymenttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
)

// Harness is one provider under test.
type Harness struct {
	Provider flashsale.PaymentProvider
	// Charges is how many charges succeeded at the provider: money taken,
	// however many times each was asked for.
	Charges func() int
}

// Run runs the suite; newHarness returns a fresh provider per test.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"ChargeSucceedsOnce", chargeSucceedsOnce},
		{"DeclinesSayWhy", declinesSayWhy},
		{"LookupOfNoChargeFencesTheKey", lookupOfNoChargeFencesTheKey},
		{"LookupWaitsOutAChargeInFlight", lookupWaitsOutAChargeInFlight},
		{"ConcurrentChargesOfOneKeyChargeOnce", concurrentChargesOfOneKeyChargeOnce},
		{"FingerprintIsTheCard", fingerprintIsTheCard},
		{"RefundOncePerKey", refundOncePerKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newHarness(t))
		})
	}
}

// request is a charge of 12.50 EUR for an order, with a card.
func request(key, token string) flashsale.ChargeRequest {
	return flashsale.ChargeRequest{IdempotencyKey: key, OrderID: "order-" + key, Amount: 1250, Currency: "EUR",
		Token: token, Method: "card"}
}

// stored is a charge as the order stores it, which Lookup is given.
func stored(req flashsale.ChargeRequest) flashsale.ChargeRequest {
	req.Token, req.Method = "", ""
	return req
}

func chargeSucceedsOnce(t *testing.T, h Harness) {
	ctx := t.Context()
	req := request("o1/1", "tok_visa")
	first, err := h.Provider.Charge(ctx, req)
	if err != nil || first.Status != flashsale.PaymentSucceeded || first.PaymentID == "" {
		t.Fatalf("Charge = %+v, %v; want a success with a payment id", first, err)
	}
	again, err := h.Provider.Charge(ctx, req)
	if err != nil || again != first {
		t.Fatalf("repeated Charge = %+v, %v; want the first answer %+v", again, err, first)
	}
	looked, err := h.Provider.Lookup(ctx, stored(req))
	if err != nil || looked != first {
		t.Fatalf("Lookup = %+v, %v; want %+v", looked, err, first)
	}
	if n := h.Charges(); n != 1 {
		t.Fatalf("%d charges made, want 1", n)
	}
	other, err := h.Provider.Charge(ctx, request("o1/2", "tok_visa"))
	if err != nil || other.PaymentID == first.PaymentID {
		t.Fatalf("a charge with another key = %+v, %v; want a new payment", other, err)
	}
}

func declinesSayWhy(t *testing.T, h Harness) {
	ctx := t.Context()
	for token, reason := range map[string]string{
		"tok_chargeDeclined":    "card_declined",
		"tok_insufficientFunds": "insufficient_funds",
		"tok_nosuchcard":        "invalid_payment_token",
		"":                      "invalid_payment_token",
	} {
		req := request("decline-"+token+"/1", token)
		got, err := h.Provider.Charge(ctx, req)
		if err != nil || got.Status != flashsale.PaymentDeclined || got.DeclineReason != reason || got.PaymentID != "" {
			t.Errorf("Charge with %q = %+v, %v; want declined with %s", token, got, err, reason)
		}
		if token == "" || token == "tok_nosuchcard" {
			continue // no intent was made: there is nothing to look up
		}
		looked, err := h.Provider.Lookup(ctx, stored(req))
		if err != nil || looked.Status != flashsale.PaymentDeclined || looked.DeclineReason != reason {
			t.Errorf("Lookup of the %q decline = %+v, %v; want declined with %s", token, looked, err, reason)
		}
	}
	if n := h.Charges(); n != 0 {
		t.Fatalf("%d charges made by declines", n)
	}
}

// A charge whose answer was lost, and which the provider never made:
// Lookup says so, and from then on the key can never charge, because the
// caller releases the unit on that answer.
func lookupOfNoChargeFencesTheKey(t *testing.T, h Harness) {
	// PaymentMethods, so that the late charge differs from the lost one by
	// its card alone, as a confirmation that reaches the provider late.
	req := request("lost/1", "pm_card_timeout")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if got, err := h.Provider.Charge(ctx, req); err == nil {
		t.Fatalf("a charge that never answers = %+v, want an error", got)
	}
	if got, err := h.Provider.Lookup(t.Context(), stored(req)); !errors.Is(err, flashsale.ErrNoCharge) {
		t.Fatalf("Lookup = %+v, %v; want ErrNoCharge", got, err)
	}
	late := req
	late.Token = "pm_card_visa"
	if got, err := h.Provider.Charge(t.Context(), late); err == nil && got.Status == flashsale.PaymentSucceeded {
		t.Fatalf("a charge with the key after Lookup answered no charge succeeded: %+v", got)
	}
	if got, err := h.Provider.Lookup(t.Context(), stored(req)); !errors.Is(err, flashsale.ErrNoCharge) {
		t.Fatalf("second Lookup = %+v, %v; want ErrNoCharge", got, err)
	}
	if _, err := h.Provider.Lookup(t.Context(), stored(request("never/1", ""))); !errors.Is(err, flashsale.ErrNoCharge) {
		t.Fatalf("Lookup of a key never used: %v, want ErrNoCharge", err)
	}
	if n := h.Charges(); n != 0 {
		t.Fatalf("%d charges made", n)
	}
}

// While a charge may still land, Lookup must not answer "no charge": it
// waits, and gives up with an error when its caller does.
func lookupWaitsOutAChargeInFlight(t *testing.T, h Harness) {
	req := request("inflight/1", "tok_timeout")
	chargeCtx, stopCharge := context.WithCancel(t.Context())
	charged := make(chan error, 1)
	go func() {
		_, err := h.Provider.Charge(chargeCtx, req)
		charged <- err
	}()
	// However the two interleave, Lookup answers no outcome while the
	// charge runs: it waits and gives up with its caller, or answers no
	// charge and fences the key, so that the charge fails.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, lookupErr := h.Provider.Lookup(ctx, stored(req))
	stopCharge()
	if err := <-charged; err == nil {
		t.Fatal("a charge that never answers returned no error")
	}
	if lookupErr == nil {
		t.Fatal("Lookup of a charge in flight answered an outcome")
	}
	t.Logf("Lookup during the charge: %v", lookupErr)
	if _, err := h.Provider.Lookup(t.Context(), stored(req)); !errors.Is(err, flashsale.ErrNoCharge) {
		t.Fatalf("Lookup once the charge gave up: %v, want ErrNoCharge", err)
	}
	if n := h.Charges(); n != 0 {
		t.Fatalf("%d charges made", n)
	}
}

func concurrentChargesOfOneKeyChargeOnce(t *testing.T, h Harness) {
	req := request("race/1", "tok_visa")
	var wg sync.WaitGroup
	results := make([]flashsale.ChargeResult, 8)
	errs := make([]error, len(results))
	for i := range results {
		wg.Go(func() { results[i], errs[i] = h.Provider.Charge(t.Context(), req) })
	}
	wg.Wait()
	looked, err := h.Provider.Lookup(t.Context(), stored(req))
	if err != nil || looked.Status != flashsale.PaymentSucceeded {
		t.Fatalf("Lookup = %+v, %v; want the success", looked, err)
	}
	for i, got := range results {
		// A concurrent repeat may be told to retry (an error: outcome
		// unknown to it), never given another payment.
		if errs[i] == nil && got != looked {
			t.Errorf("charge %d = %+v, want %+v", i, got, looked)
		}
	}
	if n := h.Charges(); n != 1 {
		t.Fatalf("%d charges made by %d concurrent calls with one key, want 1", n, len(results))
	}
}

func fingerprintIsTheCard(t *testing.T, h Harness) {
	ctx := t.Context()
	fp := func(token string) string {
		t.Helper()
		got, err := h.Provider.Fingerprint(ctx, token)
		if err != nil {
			t.Fatalf("Fingerprint(%q): %v", token, err)
		}
		return got
	}
	visa := fp("tok_visa")
	if visa == "" || fp("tok_visa") != visa {
		t.Fatalf("tok_visa's fingerprint %q is not one stable value", visa)
	}
	if one, two := fp("tok_visa_1"), fp("tok_visa_2"); one == "" || one == two || one == visa {
		t.Fatalf("tok_visa_1 %q, tok_visa_2 %q, tok_visa %q: want three cards", one, two, visa)
	}
	if got := fp("tok_nosuchcard"); got != "" {
		t.Fatalf("a token that names no card has fingerprint %q", got)
	}
}

func refundOncePerKey(t *testing.T, h Harness) {
	ctx := t.Context()
	req := request("refunded/1", "tok_visa")
	paid, err := h.Provider.Charge(ctx, req)
	if err != nil || paid.Status != flashsale.PaymentSucceeded {
		t.Fatalf("Charge = %+v, %v", paid, err)
	}
	first, err := h.Provider.Refund(ctx, "refund:o", paid.PaymentID, req.Amount)
	if err != nil || first == "" {
		t.Fatalf("Refund = %q, %v", first, err)
	}
	again, err := h.Provider.Refund(ctx, "refund:o", paid.PaymentID, req.Amount)
	if err != nil || again != first {
		t.Fatalf("repeated Refund = %q, %v; want %q", again, err, first)
	}
	if id, err := h.Provider.Refund(ctx, "refund:other", paid.PaymentID, req.Amount); err == nil {
		t.Fatalf("a second refund of one payment under another key was made: %q", id)
	}
	if id, err := h.Provider.Refund(ctx, "refund:nothing", fmt.Sprintf("%s-none", paid.PaymentID), req.Amount); err == nil {
		t.Fatalf("a refund of a payment never made was made: %q", id)
	}
}
