package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/stripe/stripetest"
	"github.com/stripe/stripe-go/v82/webhook"
)

// With FLASHSALE_PAYMENT_PROVIDER=stripe the program takes the money
// through Stripe (here its fake) and takes Stripe's webhooks.
func TestServeWithStripe(t *testing.T) {
	fake := stripetest.NewServer()
	defer fake.Close()
	const whsec = "whsec_serve_test"
	url, _, _ := startWithEnv(t, testEnv(t.TempDir(), "FLASHSALE_PAYMENT_PROVIDER=stripe", "FLASHSALE_STRIPE_SECRET_KEY=sk_test_serve",
		"FLASHSALE_STRIPE_WEBHOOK_SECRET="+whsec, "FLASHSALE_STRIPE_API_URL="+fake.URL))
	c := client{t, url}
	_, _, orders := saleWithOrders(t, c) // pays one order with tok_visa
	if fake.Succeeded() != 1 {
		t.Fatalf("%d charges at Stripe, want 1", fake.Succeeded())
	}
	if status, o := c.call("GET", "/orders/"+orders["paid"], mint(t, "paid", false), nil); status != 200 || o["status"] != "confirmed" {
		t.Fatalf("the paid order: %d %v", status, o)
	}
	events := fake.Events()
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: events[0].Payload, Secret: whsec, Timestamp: time.Now()})
	req, _ := http.NewRequest("POST", url+"/webhooks/payments", strings.NewReader(string(events[0].Payload)))
	req.Header.Set("Stripe-Signature", signed.Header)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"already_settled"`) {
		t.Fatalf("the webhook of the paid order: %d %s", res.StatusCode, body)
	}
}

// Stripe's settings are checked when the program starts, not at the
// first payment.
func TestStripeSettingsAreCheckedAtStart(t *testing.T) {
	for name, setting := range map[string]string{
		"no secret key":                   "FLASHSALE_PAYMENT_PROVIDER=stripe",
		"stripe key without the provider": "FLASHSALE_STRIPE_SECRET_KEY=sk_test_x",
	} {
		err := run(context.Background(), []string{"flashsale", "serve"}, testEnv(t.TempDir(), setting), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "STRIPE") {
			t.Errorf("%s: %v, want a refusal naming the setting", name, err)
		}
	}
}
