package http_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/stripe"
	"github.com/flashsale/flashsale/stripe/stripetest"
	"github.com/stripe/stripe-go/v82/webhook"
)

const webhookSecret = "whsec_flashsale_test"

// stripeHarness is the API over the Stripe adapter, against the fake of
// Stripe, with its webhook endpoint.
func stripeHarness(t *testing.T) (*harness, *stripetest.Server) {
	t.Helper()
	fake := stripetest.NewServer()
	t.Cleanup(fake.Close)
	provider, err := stripe.New(stripe.Options{SecretKey: "sk_test_flashsale", WebhookSecret: webhookSecret, APIURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, harnessOptions{payments: provider, paymentEvents: provider}), fake
}

// post delivers a fake's event to the webhook endpoint, signed now as
// Stripe signs, and returns the answer.
func post(t *testing.T, h *harness, ev stripetest.Event) map[string]any {
	t.Helper()
	r := h.do("POST", "/webhooks/payments", "", string(ev.Payload), "Stripe-Signature", signatureAt(ev.Payload, time.Now()))
	expect(t, r, 200, "")
	return r.JSON(t)
}

func signatureAt(payload []byte, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: webhookSecret, Timestamp: at}).Header
}

// A webhook that arrives before the payment's own answer settles the
// order; the answer then finds it settled; every later delivery, and
// events out of order, change nothing. One charge, one unit sold.
func TestStripeWebhookBeforeTheAnswerSettlesOnce(t *testing.T) {
	h, fake := stripeHarness(t)
	s := h.createSale(saleSpec{})
	order := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))

	// A decline first, so that the order has an earlier attempt's event.
	expect(t, h.pay(order, "alice", "tok_chargeDeclined"), 402, "payment_failed")

	fake.HoldConfirmations()
	paid := make(chan *response, 1)
	go func() { paid <- h.pay(order, "alice", "tok_visa") }()
	testenv.Eventually(t, 10*time.Second, "the charge to succeed at Stripe", func() bool { return len(fake.Events()) == 2 })
	events := fake.Events()
	failed, succeeded := events[0], events[1]
	if failed.Type != "payment_intent.payment_failed" || succeeded.Type != "payment_intent.succeeded" {
		t.Fatalf("events %s, %s", failed.Type, succeeded.Type)
	}

	if got := post(t, h, succeeded); got["outcome"] != "settled" || got["status"] != "confirmed" {
		t.Fatalf("the success delivered before the answer: %v, want settled and confirmed", got)
	}
	if o := h.do("GET", "/orders/"+order, h.token("alice", false), nil).JSON(t); o["status"] != "confirmed" {
		t.Fatalf("order %v before the payment answered, want confirmed", o["status"])
	}
	fake.ReleaseConfirmations()
	r := <-paid
	expect(t, r, 200, "")
	if r.JSON(t)["status"] != "confirmed" {
		t.Fatalf("the payment's answer: %s", r.Body)
	}

	if got := post(t, h, succeeded); got["outcome"] != "duplicate" {
		t.Fatalf("the success delivered again: %v, want duplicate", got)
	}
	// The earlier attempt's decline, delivered last: the order has moved on.
	if got := post(t, h, failed); got["outcome"] != "already_settled" || got["status"] != "confirmed" {
		t.Fatalf("the earlier decline delivered late: %v, want already_settled, confirmed", got)
	}
	if fake.Succeeded() != 1 {
		t.Fatalf("%d charges, want 1", fake.Succeeded())
	}
	h.wantStock(s.ID, s.Items[0], 9, 0, 1)
}

// A decline's webhook before the decline's own answer: the order is back
// in reserved for another try, once.
func TestStripeWebhookOfADeclineBeforeTheAnswer(t *testing.T) {
	h, fake := stripeHarness(t)
	s := h.createSale(saleSpec{})
	order := orderID(t, h.placeOrder(s.ID, s.Items[0], "bob", 1))
	fake.HoldConfirmations()
	paid := make(chan *response, 1)
	go func() { paid <- h.pay(order, "bob", "tok_insufficientFunds") }()
	testenv.Eventually(t, 10*time.Second, "the charge to be declined at Stripe", func() bool { return len(fake.Events()) == 1 })
	if got := post(t, h, fake.Events()[0]); got["outcome"] != "settled" || got["status"] != "reserved" {
		t.Fatalf("the decline delivered before the answer: %v, want settled, reserved", got)
	}
	fake.ReleaseConfirmations()
	r := <-paid
	expect(t, r, 402, "payment_failed")
	if !strings.Contains(string(r.Body), "insufficient_funds") {
		t.Fatalf("the answer does not say why: %s", r.Body)
	}
	expect(t, h.pay(order, "bob", "tok_visa"), 200, "")
	h.wantStock(s.ID, s.Items[0], 9, 0, 1)
}

// Only a delivery signed with the endpoint's secret is believed; what is
// not about a flashsale charge is acknowledged and ignored.
func TestStripeWebhookRefusesWhatIsNotSigned(t *testing.T) {
	h, fake := stripeHarness(t)
	s := h.createSale(saleSpec{})
	order := orderID(t, h.placeOrder(s.ID, s.Items[0], "carol", 1))
	expect(t, h.pay(order, "carol", "tok_chargeDeclined"), 402, "payment_failed")
	ev := fake.Events()[0]

	for name, header := range map[string][]string{
		"unsigned":         nil,
		"signed otherwise": {"Stripe-Signature", "t=" + strconv.FormatInt(time.Now().Unix(), 10) + ",v1=" + strings.Repeat("ab", 32)},
		"malformed":        {"Stripe-Signature", "nonsense"},
		"signed long ago":  {"Stripe-Signature", signatureAt(ev.Payload, time.Now().Add(-time.Hour))},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, h.do("POST", "/webhooks/payments", "", string(ev.Payload), header...), 400, "invalid_request")
		})
	}
	var other map[string]any
	if err := json.Unmarshal(ev.Payload, &other); err != nil {
		t.Fatal(err)
	}
	other["type"] = "charge.dispute.created"
	otherPayload, _ := json.Marshal(other)
	r := h.do("POST", "/webhooks/payments", "", string(otherPayload), "Stripe-Signature", signatureAt(otherPayload, time.Now()))
	expect(t, r, 200, "")
	if got := r.JSON(t)["outcome"]; got != "ignored" {
		t.Fatalf("an event about something else: %v, want ignored", got)
	}
	h.wantStock(s.ID, s.Items[0], 9, 1, 0)
}

// Without a provider that sends webhooks, the route does not exist.
func TestNoWebhookEndpointWithoutAProviderThatSendsThem(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	expect(t, h.do("POST", "/webhooks/payments", "", map[string]any{}), 404, "")
}
