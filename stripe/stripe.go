// Package stripe is the payment provider for real money: Stripe's
// PaymentIntents, through its official Go library.
//
// A charge is two requests, each with its own idempotency key derived
// from the order's charge key: the PaymentIntent is created unconfirmed
// (amount, currency and the order's ids, nothing else), then confirmed
// with the shopper's card. The split is what makes a lost answer safe to
// settle. Creating the intent moves no money and depends only on what the
// order stores, so Lookup can repeat it (Stripe replays the first answer)
// to find the intent of any charge key, and read what became of it; an
// intent that was never confirmed is cancelled on the spot, which fences
// off a confirmation still on its way, so "no charge" stays true.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/flashsale/flashsale"
	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"
)

// Metadata keys every PaymentIntent carries, so that a webhook or an
// operator in Stripe's dashboard finds the order a charge is for.
const (
	MetadataOrderID   = "flashsale_order_id"
	MetadataChargeKey = "flashsale_charge_key"
)

// Decline reasons of outcomes Stripe reports without a decline code.
const (
	DeclineAuthenticationRequired = "authentication_required"
	DeclineInvalidToken           = "invalid_payment_token"
)

// Options configures a Provider.
type Options struct {
	// SecretKey is the account's secret API key (sk_live_..., sk_test_...).
	SecretKey string
	// WebhookSecret is the endpoint's signing secret (whsec_...); empty
	// when no webhook endpoint is configured, and Event refuses all.
	WebhookSecret string
	// APIURL replaces https://api.stripe.com, for stripe-mock and tests.
	APIURL string
	// HTTPClient makes the requests; nil is a client without a timeout of
	// its own, bounded by each call's context.
	HTTPClient *http.Client
}

// Provider is a flashsale.PaymentProvider over Stripe. It is safe for
// concurrent use.
type Provider struct {
	client        *stripego.Client
	webhookSecret string
}

var _ flashsale.PaymentProvider = (*Provider)(nil)

// New returns a provider for the account of opts.SecretKey.
func New(opts Options) (*Provider, error) {
	if opts.SecretKey == "" {
		return nil, errors.New("stripe: a secret API key is needed (FLASHSALE_STRIPE_SECRET_KEY)")
	}
	cfg := &stripego.BackendConfig{
		HTTPClient: opts.HTTPClient,
		// The library's own retries would hide a lost answer from the
		// caller, who settles it with Lookup and knows when to give up.
		MaxNetworkRetries: stripego.Int64(0),
		LeveledLogger:     &stripego.LeveledLogger{Level: stripego.LevelNull},
	}
	if opts.APIURL != "" {
		cfg.URL = stripego.String(strings.TrimSuffix(opts.APIURL, "/"))
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	backends := &stripego.Backends{API: stripego.GetBackendWithConfig(stripego.APIBackend, cfg)}
	return &Provider{client: stripego.NewClient(opts.SecretKey, stripego.WithBackends(backends)),
		webhookSecret: opts.WebhookSecret}, nil
}

// Charge creates the charge's PaymentIntent and confirms it with the
// shopper's card. A repeat of the same key repeats nothing at Stripe: both
// requests replay their first answers.
func (p *Provider) Charge(ctx context.Context, req flashsale.ChargeRequest) (flashsale.ChargeResult, error) {
	if req.IdempotencyKey == "" {
		return flashsale.ChargeResult{}, errors.New("stripe: charge without an idempotency key")
	}
	paymentMethod, res, err := p.paymentMethod(ctx, req)
	if err != nil || paymentMethod == "" {
		return res, err
	}
	intent, err := p.intent(ctx, req)
	if err != nil {
		return flashsale.ChargeResult{}, err
	}
	params := &stripego.PaymentIntentConfirmParams{PaymentMethod: stripego.String(paymentMethod)}
	params.SetIdempotencyKey(req.IdempotencyKey + "/confirm")
	confirmed, err := p.client.V1PaymentIntents.Confirm(ctx, intent.ID, params)
	if err != nil {
		if reason, ok := declineReason(err); ok {
			return declined(reason), nil
		}
		return flashsale.ChargeResult{}, fmt.Errorf("stripe: confirm %s: %w", intent.ID, err)
	}
	return p.outcome(ctx, req.IdempotencyKey, confirmed)
}

// paymentMethod is the PaymentMethod to confirm with: the token itself
// when it is one (pm_..., what Stripe.js gives today), or one made from a
// card token (tok_..., Stripe's older Elements and its test tokens), once
// per charge key. A token Stripe does not know is a decline, not an error.
func (p *Provider) paymentMethod(ctx context.Context, req flashsale.ChargeRequest) (string, flashsale.ChargeResult, error) {
	switch {
	case strings.HasPrefix(req.Token, "pm_"):
		return req.Token, flashsale.ChargeResult{}, nil
	case strings.HasPrefix(req.Token, "tok_"):
		params := &stripego.PaymentMethodCreateParams{Type: stripego.String(string(stripego.PaymentMethodTypeCard)),
			Card: &stripego.PaymentMethodCreateCardParams{Token: stripego.String(req.Token)}}
		params.SetIdempotencyKey(req.IdempotencyKey + "/payment-method")
		pm, err := p.client.V1PaymentMethods.Create(ctx, params)
		if err == nil {
			return pm.ID, flashsale.ChargeResult{}, nil
		}
		if reason, ok := declineReason(err); ok {
			return "", declined(reason), nil
		}
		return "", flashsale.ChargeResult{}, fmt.Errorf("stripe: payment method from token: %w", err)
	}
	return "", declined(DeclineInvalidToken), nil
}

// intent creates the charge's PaymentIntent, or finds it: the request
// holds only what the order holds, so any repeat of it, by Charge or by
// Lookup, gets the same intent back for as long as Stripe keeps
// idempotency keys (24 hours).
func (p *Provider) intent(ctx context.Context, req flashsale.ChargeRequest) (*stripego.PaymentIntent, error) {
	if req.Amount <= 0 {
		return nil, fmt.Errorf("stripe: amount %s is not positive", req.Amount)
	}
	params := &stripego.PaymentIntentCreateParams{
		Amount:             stripego.Int64(int64(req.Amount)),
		Currency:           stripego.String(strings.ToLower(req.Currency)),
		PaymentMethodTypes: []*string{stripego.String(string(stripego.PaymentMethodTypeCard))},
		Description:        stripego.String("flashsale order " + req.OrderID),
	}
	params.AddMetadata(MetadataOrderID, req.OrderID)
	params.AddMetadata(MetadataChargeKey, req.IdempotencyKey)
	params.SetIdempotencyKey(req.IdempotencyKey)
	intent, err := p.client.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("stripe: create payment intent: %w", err)
	}
	return intent, nil
}

// Lookup finds the charge's intent by repeating its creation, reads its
// current state and answers for it. An intent never confirmed is
// cancelled first, so that a confirmation still in flight fails: only
// then is "no charge" an answer the caller may release a unit on.
func (p *Provider) Lookup(ctx context.Context, req flashsale.ChargeRequest) (flashsale.ChargeResult, error) {
	intent, err := p.intent(ctx, req)
	if err != nil {
		return flashsale.ChargeResult{}, err
	}
	if intent, err = p.client.V1PaymentIntents.Retrieve(ctx, intent.ID, nil); err != nil {
		return flashsale.ChargeResult{}, fmt.Errorf("stripe: retrieve %s: %w", intent.ID, err)
	}
	return p.outcome(ctx, req.IdempotencyKey, intent)
}

// outcome is what an intent's state means for its charge. An intent that
// needs the shopper (3-D Secure) is cancelled: the API has no step for
// it, and a cancelled intent can never take the money later.
func (p *Provider) outcome(ctx context.Context, key string, intent *stripego.PaymentIntent) (flashsale.ChargeResult, error) {
	switch intent.Status {
	case stripego.PaymentIntentStatusSucceeded:
		return flashsale.ChargeResult{PaymentID: intent.ID, Status: flashsale.PaymentSucceeded}, nil
	case stripego.PaymentIntentStatusCanceled:
		return flashsale.ChargeResult{}, flashsale.ErrNoCharge
	case stripego.PaymentIntentStatusRequiresPaymentMethod, stripego.PaymentIntentStatusRequiresConfirmation:
		if intent.LastPaymentError != nil {
			return declined(errorReason(intent.LastPaymentError)), nil
		}
		return flashsale.ChargeResult{}, p.cancel(ctx, key, intent.ID)
	case stripego.PaymentIntentStatusRequiresAction:
		if err := p.cancel(ctx, key, intent.ID); !errors.Is(err, flashsale.ErrNoCharge) {
			return flashsale.ChargeResult{}, err
		}
		return declined(DeclineAuthenticationRequired), nil
	}
	// processing (a card is never in it for long), requires_capture (never
	// asked for): not settled yet, ask again later.
	return flashsale.ChargeResult{}, fmt.Errorf("stripe: payment intent %s is %s", intent.ID, intent.Status)
}

// cancel cancels an intent that took no money; ErrNoCharge once it is
// cancelled. If Stripe refuses because the intent moved on meanwhile (a
// confirmation landed first), the caller's next Lookup reads where to.
func (p *Provider) cancel(ctx context.Context, key, intentID string) error {
	params := &stripego.PaymentIntentCancelParams{
		CancellationReason: stripego.String(string(stripego.PaymentIntentCancellationReasonAbandoned))}
	params.SetIdempotencyKey(key + "/cancel")
	intent, err := p.client.V1PaymentIntents.Cancel(ctx, intentID, params)
	if err != nil {
		return fmt.Errorf("stripe: cancel %s: %w", intentID, err)
	}
	if intent.Status != stripego.PaymentIntentStatusCanceled {
		return fmt.Errorf("stripe: payment intent %s is %s after its cancellation", intentID, intent.Status)
	}
	return flashsale.ErrNoCharge
}

// Fingerprint returns Stripe's card.fingerprint of the card behind a
// PaymentMethod or a card token: one value per card number, whichever
// account or token carries it.
func (p *Provider) Fingerprint(ctx context.Context, token string) (string, error) {
	switch {
	case strings.HasPrefix(token, "pm_"):
		pm, err := p.client.V1PaymentMethods.Retrieve(ctx, token, nil)
		if err != nil {
			return notFound(err)
		}
		if pm.Card != nil {
			return pm.Card.Fingerprint, nil
		}
	case strings.HasPrefix(token, "tok_"):
		tok, err := p.client.V1Tokens.Retrieve(ctx, token, nil)
		if err != nil {
			return notFound(err)
		}
		if tok.Card != nil {
			return tok.Card.Fingerprint, nil
		}
	}
	return "", nil
}

// notFound is a lookup error as Fingerprint answers it: a token Stripe
// does not know names no card; anything else is a provider that did not
// answer.
func notFound(err error) (string, error) {
	var se *stripego.Error
	if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
		return "", nil
	}
	return "", fmt.Errorf("stripe: card fingerprint: %w", err)
}

// Refund gives a charge back in full, once per key.
func (p *Provider) Refund(ctx context.Context, key, paymentID string, amount flashsale.Money) (string, error) {
	params := &stripego.RefundCreateParams{PaymentIntent: stripego.String(paymentID), Amount: stripego.Int64(int64(amount))}
	params.SetIdempotencyKey(key)
	refund, err := p.client.V1Refunds.Create(ctx, params)
	if err != nil {
		return "", fmt.Errorf("stripe: refund %s: %w", paymentID, err)
	}
	return refund.ID, nil
}

// Event verifies a webhook delivery's Stripe-Signature and returns the
// charge it is about. Events about anything but a flashsale charge's
// outcome are ignored (ok false), as are intents made by another
// application on the same account.
func (p *Provider) Event(payload []byte, header http.Header) (ev flashsale.PaymentEvent, ok bool, err error) {
	if p.webhookSecret == "" {
		return ev, false, errors.New("no webhook signing secret is configured (FLASHSALE_STRIPE_WEBHOOK_SECRET)")
	}
	event, err := webhook.ConstructEventWithOptions(payload, header.Get("Stripe-Signature"), p.webhookSecret,
		// The event is read for the intent's id and metadata, which every
		// API version has.
		webhook.ConstructEventOptions{Tolerance: webhook.DefaultTolerance, IgnoreAPIVersionMismatch: true})
	if err != nil {
		return ev, false, err
	}
	switch event.Type {
	case stripego.EventTypePaymentIntentSucceeded, stripego.EventTypePaymentIntentPaymentFailed,
		stripego.EventTypePaymentIntentCanceled, stripego.EventTypePaymentIntentRequiresAction:
	default:
		return ev, false, nil
	}
	var intent stripego.PaymentIntent
	if event.Data == nil || intent.UnmarshalJSON(event.Data.Raw) != nil {
		return ev, false, errors.New("the event's data is not a payment intent")
	}
	ev = flashsale.PaymentEvent{ID: event.ID, OrderID: intent.Metadata[MetadataOrderID],
		IdempotencyKey: intent.Metadata[MetadataChargeKey]}
	return ev, ev.OrderID != "" && ev.IdempotencyKey != "", nil
}

// declineReason is the decline a Stripe error reports, if it is one: a
// card error (declined, expired, insufficient funds...) or a token that
// names nothing. Anything else is not an answer about the card.
func declineReason(err error) (string, bool) {
	var se *stripego.Error
	if !errors.As(err, &se) {
		return "", false
	}
	switch {
	case se.Type == stripego.ErrorTypeCard:
		return errorReason(se), true
	case se.Code == stripego.ErrorCodeResourceMissing, se.Code == stripego.ErrorCodeTokenAlreadyUsed:
		// Charge asks only for the intent it just created and the
		// shopper's card: what is missing is the card.
		return DeclineInvalidToken, true
	}
	return "", false
}

// errorReason is a card error's most precise reason: the issuer's
// decline code when it says more than the code (insufficient_funds, not
// generic_decline), else the code (card_declined, expired_card).
func errorReason(se *stripego.Error) string {
	switch {
	case se.DeclineCode != "" && se.DeclineCode != stripego.DeclineCodeGenericDecline:
		return string(se.DeclineCode)
	case se.Code != "":
		return string(se.Code)
	}
	return "card_declined"
}

func declined(reason string) flashsale.ChargeResult {
	return flashsale.ChargeResult{Status: flashsale.PaymentDeclined, DeclineReason: reason}
}
