// Package paysim is the built-in payment provider: a simulator that answers
// like a card processor, driven by Stripe-style test tokens, so the whole
// purchase flow can run without a real provider.
package paysim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/flashsale/flashsale"
)

// Test tokens, after Stripe's convention. Any other token is declined with
// DeclineInvalidToken, but for TokenVisa followed by "_" and any suffix:
// a separate card per suffix that succeeds, so that a test can pay with as
// many cards as it needs (tok_visa_1, tok_visa_2, ...). Stripe's test
// PaymentMethods name the same cards: pm_card_visa is tok_visa.
const (
	TokenVisa              = "tok_visa"
	TokenChargeDeclined    = "tok_chargeDeclined"
	TokenInsufficientFunds = "tok_insufficientFunds"
	// TokenTimeout never answers: the charge blocks until the caller's
	// context ends and records nothing, as a provider that lost the request.
	TokenTimeout = "tok_timeout"
)

// Decline reasons the simulator reports.
const (
	DeclineCardDeclined      = "card_declined"
	DeclineInsufficientFunds = "insufficient_funds"
	DeclineInvalidToken      = "invalid_payment_token"
)

// ErrKeyReused reports a charge whose idempotency key was already used for a
// different request. Like a real provider, the simulator refuses rather than
// replay an outcome that does not belong to the request; Lookup still
// returns the key's first outcome (within the retention).
var ErrKeyReused = errors.New("paysim: idempotency key reused with different parameters")

// DefaultRetention is how long a settled charge is remembered when Options
// leaves it zero. The service asks about a charge within about twice its
// payment timeout (10 s by default) plus a sweep period (30 s): ten
// minutes is a dozen times that, and bounds the memory of a long-running
// simulator to ten minutes of charges, so a soak's memory levels off
// after its first ten minutes (an hour's kept it growing through any
// half-hour run).
const DefaultRetention = 10 * time.Minute

// Options configures a Simulator.
type Options struct {
	// Latency delays every charge, to make a provider's round trip visible
	// in load tests. Zero answers at once.
	Latency time.Duration
	// Retention is how long a settled charge is remembered after it
	// settled: for that long a repeat of its idempotency key returns its
	// outcome and Lookup finds it; after it, the key is forgotten, as if
	// never used. It must exceed the longest a caller may take to settle an
	// unknown outcome or retry a charge (for flashsale, well over twice the
	// payment timeout plus the sweep period). Zero means DefaultRetention.
	Retention time.Duration
	// Now is the clock that ages charges; nil means time.Now.
	Now func() time.Time
}

// Simulator is an in-memory flashsale.PaymentProvider. It is safe for
// concurrent use.
type Simulator struct {
	latency   time.Duration
	retention time.Duration
	now       func() time.Time

	mu sync.Mutex
	// charges holds every charge by idempotency key: in flight until its
	// done channel closes, then settled with an outcome, or removed when it
	// ended without one (timeout, cancelled context), or when its retention
	// ran out after it settled.
	charges map[string]*charge
	// settled holds the settled charges in the order they settled, which
	// is the order their retention runs out: forgetting the expired ones
	// takes them from the front.
	settled    chargeQueue
	successful int
	// paid are the succeeded charges' amounts by payment id, for their
	// retention (a charge older is refunded by no simulator), refunds the
	// refunds made by key: what Refund checks and repeats.
	paid    map[string]flashsale.Money
	refunds map[string]refund
}

// refund is one refund the simulator made.
type refund struct {
	id, paymentID string
}

// charge is one idempotency key's charge.
type charge struct {
	req flashsale.ChargeRequest
	// done is closed once the charge is settled or abandoned, then
	// dropped: waiters took it under the lock, and an hour of settled
	// charges need not keep a channel each.
	done      chan struct{}
	settled   bool
	settledAt time.Time
	result    flashsale.ChargeResult
	// fenced marks a key Lookup answered "no charge" for: a charge with
	// it later must not charge, or the caller who released the unit on
	// that answer would have sold it twice.
	fenced bool
}

var _ flashsale.PaymentProvider = (*Simulator)(nil)

// New returns a simulator with no charges.
func New(opts Options) *Simulator {
	s := &Simulator{latency: opts.Latency, retention: opts.Retention, now: opts.Now, charges: make(map[string]*charge),
		paid: make(map[string]flashsale.Money), refunds: make(map[string]refund)}
	if s.retention <= 0 {
		s.retention = DefaultRetention
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// forgetExpired drops the settled charges whose retention has run out. Every
// Charge and Lookup calls it first, so memory follows the charges of the
// last retention period and a key is never answered past its retention.
// The caller holds mu.
func (s *Simulator) forgetExpired() {
	cutoff := s.now().Add(-s.retention)
	for s.settled.len() > 0 && !s.settled.front().settledAt.After(cutoff) {
		c := s.settled.pop()
		delete(s.charges, c.req.IdempotencyKey)
		delete(s.paid, c.result.PaymentID)
	}
}

// Charge charges req.Token, at most once per idempotency key. A repeated
// key returns the first outcome, and a concurrent repeat waits for it. An
// error means no outcome was recorded (Lookup answers flashsale.ErrNoCharge)
// or, for ErrKeyReused, that the key belongs to another request.
func (s *Simulator) Charge(ctx context.Context, req flashsale.ChargeRequest) (flashsale.ChargeResult, error) {
	if req.IdempotencyKey == "" {
		return flashsale.ChargeResult{}, errors.New("paysim: charge without an idempotency key")
	}
	if req.Amount <= 0 {
		return flashsale.ChargeResult{}, fmt.Errorf("paysim: amount %s is not positive", req.Amount)
	}
	for {
		s.mu.Lock()
		s.forgetExpired()
		c, exists := s.charges[req.IdempotencyKey]
		if !exists {
			c = &charge{req: req, done: make(chan struct{})}
			s.charges[req.IdempotencyKey] = c
			s.mu.Unlock()
			return s.process(ctx, c)
		}
		if c.req != req {
			s.mu.Unlock()
			return flashsale.ChargeResult{}, ErrKeyReused
		}
		settled, result, done := c.settled, c.result, c.done
		s.mu.Unlock()
		if settled {
			return result, nil
		}
		// Another call is charging with this key: wait for its outcome. If
		// it ends without one, the loop takes over the charge.
		select {
		case <-done:
		case <-ctx.Done():
			return flashsale.ChargeResult{}, fmt.Errorf("paysim: waiting for a concurrent charge: %w", ctx.Err())
		}
	}
}

// process runs the charge c that this call owns, then settles or abandons it.
func (s *Simulator) process(ctx context.Context, c *charge) (flashsale.ChargeResult, error) {
	result, err := s.decide(ctx, c.req.Token)
	s.mu.Lock()
	defer s.mu.Unlock()
	close(c.done)
	c.done = nil
	if err != nil {
		delete(s.charges, c.req.IdempotencyKey)
		return flashsale.ChargeResult{}, err
	}
	c.settled, c.settledAt, c.result = true, s.now(), result
	s.settled.push(c)
	if result.Status == flashsale.PaymentSucceeded {
		s.successful++
		s.paid[result.PaymentID] = c.req.Amount
	}
	return result, nil
}

// decide waits out the latency and answers for token. It returns an error,
// and no outcome, when ctx ends first.
func (s *Simulator) decide(ctx context.Context, token string) (flashsale.ChargeResult, error) {
	if s.latency > 0 {
		timer := time.NewTimer(s.latency)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return flashsale.ChargeResult{}, fmt.Errorf("paysim: charge interrupted: %w", ctx.Err())
		}
	}
	token = tokenOf(token)
	if isNumberedVisa(token) {
		token = TokenVisa // another card that behaves the same
	}
	switch token {
	case TokenVisa:
		return flashsale.ChargeResult{PaymentID: "pay_" + rand.Text(), Status: flashsale.PaymentSucceeded}, nil
	case TokenChargeDeclined:
		return declined(DeclineCardDeclined), nil
	case TokenInsufficientFunds:
		return declined(DeclineInsufficientFunds), nil
	case TokenTimeout:
		<-ctx.Done()
		return flashsale.ChargeResult{}, fmt.Errorf("paysim: charge timed out: %w", ctx.Err())
	default:
		return declined(DeclineInvalidToken), nil
	}
}

// tokenOf is the test token a test PaymentMethod stands for.
func tokenOf(token string) string {
	if card, ok := strings.CutPrefix(token, "pm_card_"); ok {
		return "tok_" + card
	}
	return token
}

// isNumberedVisa reports a tok_visa_<suffix> token.
func isNumberedVisa(token string) bool {
	suffix, ok := strings.CutPrefix(token, TokenVisa+"_")
	return ok && suffix != ""
}

// Fingerprint returns the card a test token stands for, as a provider's
// card fingerprint: the same for every use of one token, by any account,
// and different for each suffix of tok_visa_<suffix>. A token that names
// no card has none. It answers at once: looking a token up is not the
// charge the latency stands for.
func (s *Simulator) Fingerprint(ctx context.Context, token string) (string, error) {
	token = tokenOf(token)
	switch {
	case token == TokenVisa, token == TokenChargeDeclined, token == TokenInsufficientFunds, token == TokenTimeout,
		isNumberedVisa(token):
		sum := sha256.Sum256([]byte("paysim card\n" + token))
		return "fp_" + hex.EncodeToString(sum[:8]), nil
	}
	return "", nil
}

// declined is a decline outcome. It has no PaymentID: no money moved.
func declined(reason string) flashsale.ChargeResult {
	return flashsale.ChargeResult{Status: flashsale.PaymentDeclined, DeclineReason: reason}
}

// Lookup returns the outcome of the charge made with req.IdempotencyKey, or
// flashsale.ErrNoCharge (also once the charge's retention has run out).
// While a charge with key is in flight it waits for the outcome, because
// answering "no charge" then could let the caller release a unit the charge
// is about to pay for.
func (s *Simulator) Lookup(ctx context.Context, req flashsale.ChargeRequest) (flashsale.ChargeResult, error) {
	key := req.IdempotencyKey
	for {
		s.mu.Lock()
		s.forgetExpired()
		c, exists := s.charges[key]
		if !exists {
			// No charge, and none from now on: a Charge with the key is
			// refused as a reuse of it, for the retention.
			c = &charge{req: flashsale.ChargeRequest{IdempotencyKey: key}, settled: true, settledAt: s.now(), fenced: true}
			s.charges[key] = c
			s.settled.push(c)
		}
		settled, result, done, fenced := c.settled, c.result, c.done, c.fenced
		s.mu.Unlock()
		switch {
		case fenced:
			return flashsale.ChargeResult{}, flashsale.ErrNoCharge
		case settled:
			return result, nil
		}
		select {
		case <-done:
		case <-ctx.Done():
			return flashsale.ChargeResult{}, fmt.Errorf("paysim: waiting for a charge in flight: %w", ctx.Err())
		}
	}
}

// Charges returns how many successful charges were made: repeats of an
// idempotency key do not count, so tests can assert nobody paid twice.
func (s *Simulator) Charges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.successful
}

// chargeQueue is a FIFO of charges. Popped slots are reused once the queue
// has drained or its dead front outweighs the rest, so a simulator that is
// never idle does not grow its queue without bound.
type chargeQueue struct {
	items []*charge
	head  int
}

func (q *chargeQueue) len() int { return len(q.items) - q.head }

func (q *chargeQueue) front() *charge { return q.items[q.head] }

func (q *chargeQueue) push(c *charge) { q.items = append(q.items, c) }

func (q *chargeQueue) pop() *charge {
	c := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	switch {
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head >= 1024 && 2*q.head >= len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return c
}

// ErrUnknownPayment refuses a refund of a payment the simulator never
// made, or of another amount than it charged.
var ErrUnknownPayment = errors.New("paysim: no such payment to refund")

// Refund gives back a succeeded charge in full, once per key: a repeat of
// the key returns the first refund's id, a refund of the same payment
// under another key is refused (it was given back already).
func (s *Simulator) Refund(_ context.Context, key, paymentID string, amount flashsale.Money) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.refunds[key]; ok {
		if r.paymentID != paymentID {
			return "", ErrKeyReused
		}
		return r.id, nil
	}
	if charged, ok := s.paid[paymentID]; !ok || charged != amount {
		return "", ErrUnknownPayment
	}
	for _, r := range s.refunds {
		if r.paymentID == paymentID {
			return "", fmt.Errorf("paysim: payment %s was refunded already", paymentID)
		}
	}
	r := refund{id: "re_" + rand.Text(), paymentID: paymentID}
	s.refunds[key] = r
	return r.id, nil
}

// Refunds returns how many refunds were made.
func (s *Simulator) Refunds() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.refunds)
}
