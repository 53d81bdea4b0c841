package stripe_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/paymenttest"
	"github.com/flashsale/flashsale/stripe"
	"github.com/flashsale/flashsale/stripe/stripetest"
	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"
)

const webhookSecret = "whsec_test_flashsale"

func newProvider(t *testing.T, apiURL string) *stripe.Provider {
	t.Helper()
	p, err := stripe.New(stripe.Options{SecretKey: "sk_test_flashsale", WebhookSecret: webhookSecret, APIURL: apiURL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	paymenttest.Run(t, func(t *testing.T) paymenttest.Harness {
		fake := stripetest.NewServer()
		t.Cleanup(fake.Close)
		return paymenttest.Harness{Provider: newProvider(t, fake.URL), Charges: fake.Succeeded}
	})
}

func TestNewNeedsASecretKey(t *testing.T) {
	if _, err := stripe.New(stripe.Options{}); err == nil || !strings.Contains(err.Error(), "FLASHSALE_STRIPE_SECRET_KEY") {
		t.Fatalf("New without a key: %v", err)
	}
}

// A card that needs the shopper (3-D Secure) cannot be paid through the
// API: the charge is a decline, and its intent is cancelled so that it
// can never take the money later.
func TestAuthenticationRequiredIsADeclineThatCannotLand(t *testing.T) {
	fake := stripetest.NewServer()
	defer fake.Close()
	p := newProvider(t, fake.URL)
	req := flashsale.ChargeRequest{IdempotencyKey: "o/1", OrderID: "o", Amount: 500, Currency: "USD", Token: "pm_card_threeDSecure2Required"}
	got, err := p.Charge(t.Context(), req)
	if err != nil || got.Status != flashsale.PaymentDeclined || got.DeclineReason != stripe.DeclineAuthenticationRequired {
		t.Fatalf("Charge = %+v, %v; want declined with %s", got, err, stripe.DeclineAuthenticationRequired)
	}
	req.Token = ""
	if _, err := p.Lookup(t.Context(), req); !errors.Is(err, flashsale.ErrNoCharge) {
		t.Fatalf("Lookup: %v, want ErrNoCharge (the intent is cancelled)", err)
	}
}

// PaymentMethods (what Stripe.js gives) are charged as they are; Stripe's
// test PaymentMethods stand for the same cards as its test tokens.
func TestPaymentMethodsAreChargedAsTheyAre(t *testing.T) {
	fake := stripetest.NewServer()
	defer fake.Close()
	p := newProvider(t, fake.URL)
	got, err := p.Charge(t.Context(), flashsale.ChargeRequest{IdempotencyKey: "o/1", OrderID: "o", Amount: 500, Currency: "USD", Token: "pm_card_visa"})
	if err != nil || got.Status != flashsale.PaymentSucceeded {
		t.Fatalf("Charge with pm_card_visa = %+v, %v", got, err)
	}
	byPM, err := p.Fingerprint(t.Context(), "pm_card_visa")
	if err != nil {
		t.Fatal(err)
	}
	byToken, err := p.Fingerprint(t.Context(), "tok_visa")
	if err != nil || byPM == "" || byPM != byToken {
		t.Fatalf("fingerprints: pm_card_visa %q, tok_visa %q (%v); want one card", byPM, byToken, err)
	}
}

// Webhook events: only a delivery signed with the endpoint's secret, and
// recent, is believed; only a flashsale charge's outcome is an event.
func TestEventVerifiesTheSignatureAndNamesTheCharge(t *testing.T) {
	fake := stripetest.NewServer()
	defer fake.Close()
	p := newProvider(t, fake.URL)
	req := flashsale.ChargeRequest{IdempotencyKey: "order-1/1", OrderID: "order-1", Amount: 500, Currency: "USD", Token: "tok_visa"}
	if _, err := p.Charge(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	events := fake.Events()
	if len(events) != 1 || events[0].Type != "payment_intent.succeeded" {
		t.Fatalf("events %+v, want one payment_intent.succeeded", events)
	}
	payload := events[0].Payload
	header := func(secret string, at time.Time) http.Header {
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at})
		return http.Header{"Stripe-Signature": {signed.Header}}
	}
	ev, ok, err := p.Event(payload, header(webhookSecret, time.Now()))
	if err != nil || !ok || ev != (flashsale.PaymentEvent{ID: events[0].ID, OrderID: "order-1", IdempotencyKey: "order-1/1"}) {
		t.Fatalf("Event = %+v, %v, %v; want the charge of order-1/1", ev, ok, err)
	}
	for name, h := range map[string]http.Header{
		"another secret": header("whsec_other", time.Now()),
		"too old":        header(webhookSecret, time.Now().Add(-time.Hour)),
		"unsigned":       {},
	} {
		if _, _, err := p.Event(payload, h); err == nil {
			t.Errorf("a delivery %s was believed", name)
		}
	}
	tampered := []byte(strings.Replace(string(payload), "order-1", "order-2", 1))
	if _, _, err := p.Event(tampered, header(webhookSecret, time.Now())); err == nil { // signs payload, not tampered
		t.Fatal("a payload changed after it was signed was believed")
	}
	var obj map[string]any
	if err := json.Unmarshal(payload, &obj); err != nil {
		t.Fatal(err)
	}
	obj["type"] = "customer.created"
	payload, _ = json.Marshal(obj) // header signs it from here on
	if _, ok, err := p.Event(payload, header(webhookSecret, time.Now())); err != nil || ok {
		t.Fatalf("an event about something else: ok %v, %v; want ignored", ok, err)
	}
	unconfigured, err := stripe.New(stripe.Options{SecretKey: "sk_test_x", APIURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := unconfigured.Event(events[0].Payload, header(webhookSecret, time.Now())); err == nil {
		t.Fatal("a provider without a webhook secret believed an event")
	}
}

// stripe-mock (Stripe's own, pinned by scripts/services.sh) answers
// fixtures but refuses any request its OpenAPI document does not allow:
// every request the adapter makes is one Stripe accepts.
func TestRequestsAreShapedAsStripeExpects(t *testing.T) {
	url := testenv.Server(t, "FLASHSALE_TEST_STRIPE_MOCK_URL", "stripe-mock", testenv.Standard{
		URL: "http://127.0.0.1:12111",
		Answer: func(ctx context.Context, url string) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/balance", nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer sk_test_123")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return errors.New(res.Status)
			}
			return nil
		},
	})
	p := newProvider(t, url)
	ctx := t.Context()
	req := flashsale.ChargeRequest{IdempotencyKey: "o/1", OrderID: "o", Amount: 12900, Currency: "EUR", Token: "tok_visa"}
	// stripe-mock's fixture intent is in requires_payment_method whatever
	// is asked: the shapes are the point, not the outcome.
	if _, err := p.Charge(ctx, req); invalidRequest(err) {
		t.Fatalf("Charge with a token: %v", err)
	}
	req.Token = "pm_card_visa"
	if _, err := p.Charge(ctx, req); invalidRequest(err) {
		t.Fatalf("Charge with a PaymentMethod: %v", err)
	}
	req.Token = ""
	if _, err := p.Lookup(ctx, req); invalidRequest(err) {
		t.Fatalf("Lookup: %v", err)
	}
	for _, token := range []string{"tok_visa", "pm_card_visa"} {
		if fp, err := p.Fingerprint(ctx, token); err != nil || fp == "" {
			t.Fatalf("Fingerprint(%s) = %q, %v", token, fp, err)
		}
	}
	if id, err := p.Refund(ctx, "refund:o", "pi_123", 12900); err != nil || id == "" {
		t.Fatalf("Refund = %q, %v", id, err)
	}
}

// invalidRequest reports an error stripe-mock gives for a request its
// document refuses (a missing, unknown or ill-typed parameter).
func invalidRequest(err error) bool {
	var se *stripego.Error
	return errors.As(err, &se) && se.Type == stripego.ErrorTypeInvalidRequest && strings.Contains(se.Msg, "validation")
}
