// Package stripetest is a stateful fake of the part of Stripe's API that
// flashsale uses: PaymentIntents (create, retrieve, confirm, cancel),
// PaymentMethods, card tokens, refunds, idempotency keys as Stripe keeps
// them, and webhook events signed as Stripe signs them.
//
// stripe-mock checks the shape of each request against Stripe's OpenAPI
// document but remembers nothing: every answer is a fixture. What the
// payment flow depends on is state (an intent confirmed once, a replayed
// key answering the first answer, a cancelled intent refusing a late
// confirmation), so the behaviour is tested against this fake and the
// request shapes against stripe-mock.
package stripetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cards by test token and test PaymentMethod, after Stripe's, plus two of
// the fake's own: tok_visa_<suffix> (and pm_card_visa_<suffix>) is a
// separate card per suffix that succeeds, and tok_timeout (pm_card_timeout)
// never answers a confirmation, which records nothing, as a request lost
// on its way.
var cards = map[string]card{
	"visa":                            {outcome: "succeeds"},
	"chargeDeclined":                  {outcome: "declines", code: "card_declined", declineCode: "generic_decline"},
	"chargeDeclinedInsufficientFunds": {outcome: "declines", code: "card_declined", declineCode: "insufficient_funds"},
	"insufficientFunds":               {outcome: "declines", code: "card_declined", declineCode: "insufficient_funds"}, // the simulator's name
	"chargeDeclinedExpiredCard":       {outcome: "declines", code: "expired_card"},
	"threeDSecure2Required":           {outcome: "requires_action"},
	"timeout":                         {outcome: "hangs"},
}

// card is what a test card does when charged.
type card struct {
	outcome           string // succeeds, declines, hangs, requires_action
	code, declineCode string
	name              string // the key in cards, or visa_<suffix>
}

func (c card) fingerprint() string {
	sum := sha256.Sum256([]byte("stripetest card\n" + c.name))
	return hex.EncodeToString(sum[:8])
}

// cardOf is the card a token or test PaymentMethod stands for.
func cardOf(token string) (card, bool) {
	name, ok := strings.CutPrefix(token, "tok_")
	if !ok {
		if name, ok = strings.CutPrefix(token, "pm_card_"); !ok {
			return card{}, false
		}
	}
	c, ok := cards[name]
	if !ok {
		suffix, numbered := strings.CutPrefix(name, "visa_")
		if !numbered || suffix == "" {
			return card{}, false
		}
		c = cards["visa"]
	}
	c.name = name
	return c, true
}

// Server is the fake. Its URL is the APIURL of a stripe.Provider.
type Server struct {
	*httptest.Server

	mu sync.Mutex
	// idempotent holds every answer by idempotency key, with the request
	// it answered, as Stripe keeps them for 24 hours.
	idempotent     map[string]replay
	intents        map[string]*intent
	paymentMethods map[string]card
	refunds        map[string]bool // payment intent ids refunded
	events         []Event
	seq            int
	succeeded      int
	held           chan struct{} // non-nil: confirmations wait for it before answering
}

type replay struct {
	request string
	status  int
	body    []byte
}

// intent is a PaymentIntent's state. Its mutex serialises the requests
// about it, as Stripe locks an object while it changes it.
type intent struct {
	lock chan struct{} // a one-slot semaphore, so a waiter can give up

	ID                 string
	Amount             int64
	Currency           string
	Metadata           map[string]string
	Status             string
	PaymentMethod      string
	LastPaymentError   *apiError
	CancellationReason string
}

// Event is a webhook event the fake made: its JSON as Stripe would send it.
type Event struct {
	ID, Type string
	Payload  []byte
}

// NewServer starts a fake.
func NewServer() *Server {
	s := &Server{idempotent: make(map[string]replay), intents: make(map[string]*intent),
		paymentMethods: make(map[string]card), refunds: make(map[string]bool)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Succeeded is how many intents succeeded: the charges made, however many
// times each was asked for.
func (s *Server) Succeeded() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.succeeded
}

// HoldConfirmations makes every confirmation from now on take effect, and
// its event be recorded, but wait to answer until ReleaseConfirmations (or
// until its client gives up): an answer that arrives after its webhook.
func (s *Server) HoldConfirmations() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = make(chan struct{})
}

// ReleaseConfirmations lets the held confirmations answer.
func (s *Server) ReleaseConfirmations() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held != nil {
		close(s.held)
		s.held = nil
	}
}

// Events returns the events made so far, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// apiError is Stripe's error object.
type apiError struct {
	Type          string          `json:"type"`
	Code          string          `json:"code,omitempty"`
	DeclineCode   string          `json:"decline_code,omitempty"`
	Message       string          `json:"message"`
	Param         string          `json:"param,omitempty"`
	PaymentIntent json.RawMessage `json:"payment_intent,omitempty"`
}

// answer is one response: a status and the object or error it carries.
type answer struct {
	status int
	body   any
}

func fail(status int, typ, code, message string) answer {
	return answer{status, map[string]*apiError{"error": {Type: typ, Code: code, Message: message}}}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sk_") {
		write(w, fail(http.StatusUnauthorized, "invalid_request_error", "", "Invalid API Key provided"))
		return
	}
	if err := r.ParseForm(); err != nil {
		write(w, fail(http.StatusBadRequest, "invalid_request_error", "", err.Error()))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if r.Method != http.MethodPost || key == "" {
		write(w, s.route(r))
		return
	}
	request := r.Method + " " + r.URL.Path + "?" + canonical(r.PostForm)
	s.mu.Lock()
	if prior, ok := s.idempotent[key]; ok {
		s.mu.Unlock()
		switch {
		case prior.status == 0:
			write(w, fail(http.StatusConflict, "idempotency_error", "idempotency_key_in_use",
				"There is currently another in-progress request using this Idempotent Key."))
			return
		case prior.request != request:
			write(w, fail(http.StatusBadRequest, "idempotency_error", "",
				"Keys for idempotent requests can only be used with the same parameters they were first used with."))
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(prior.status)
		w.Write(prior.body)
		return
	}
	s.idempotent[key] = replay{request: request} // in progress
	s.mu.Unlock()
	a := s.route(r)
	body, _ := json.Marshal(a.body)
	s.mu.Lock()
	if a.status == 0 || a.status >= 500 {
		delete(s.idempotent, key) // nothing happened: nothing to replay
	} else {
		s.idempotent[key] = replay{request: request, status: a.status, body: body}
	}
	s.mu.Unlock()
	if a.status == 0 {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	w.Write(body)
}

// canonical is a form's parameters in a fixed order, to compare requests.
func canonical(form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s&", k, strings.Join(form[k], ","))
	}
	return b.String()
}

func write(w http.ResponseWriter, a answer) {
	if a.status == 0 {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	json.NewEncoder(w).Encode(a.body)
}

func (s *Server) route(r *http.Request) answer {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/payment_intents":
		return s.createIntent(r.PostForm)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[1] == "payment_intents":
		return s.withIntent(r.Context(), parts[2], func(in *intent) answer { return answer{http.StatusOK, in.object()} })
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "payment_intents" && parts[3] == "confirm":
		return s.confirm(r.Context(), parts[2], r.PostForm.Get("payment_method"))
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "payment_intents" && parts[3] == "cancel":
		return s.withIntent(r.Context(), parts[2], func(in *intent) answer { return in.cancel(r.PostForm.Get("cancellation_reason")) })
	case r.Method == http.MethodPost && r.URL.Path == "/v1/payment_methods":
		return s.createPaymentMethod(r.PostForm)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[1] == "payment_methods":
		return s.paymentMethod(parts[2])
	case r.Method == http.MethodGet && len(parts) == 3 && parts[1] == "tokens":
		c, ok := cardOf(parts[2])
		if !ok {
			return fail(http.StatusNotFound, "invalid_request_error", "resource_missing", "No such token: '"+parts[2]+"'")
		}
		return answer{http.StatusOK, map[string]any{"id": parts[2], "object": "token", "type": "card", "card": cardObject(c)}}
	case r.Method == http.MethodPost && r.URL.Path == "/v1/refunds":
		return s.refund(r.Context(), r.PostForm)
	}
	return fail(http.StatusNotFound, "invalid_request_error", "", "Unrecognized request URL ("+r.Method+": "+r.URL.Path+")")
}

func cardObject(c card) map[string]any {
	return map[string]any{"object": "card", "brand": "visa", "last4": "4242", "fingerprint": c.fingerprint()}
}

func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s_fake%06d", prefix, s.seq)
}

func (s *Server) createIntent(form url.Values) answer {
	amount, err := strconv.ParseInt(form.Get("amount"), 10, 64)
	if err != nil || amount < 1 {
		return fail(http.StatusBadRequest, "invalid_request_error", "parameter_invalid_integer", "Invalid integer: "+form.Get("amount"))
	}
	if form.Get("currency") == "" {
		return fail(http.StatusBadRequest, "invalid_request_error", "parameter_missing", "Missing required param: currency.")
	}
	metadata := map[string]string{}
	for k, v := range form {
		if name, ok := strings.CutPrefix(k, "metadata["); ok {
			metadata[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := &intent{lock: make(chan struct{}, 1), ID: s.nextID("pi"), Amount: amount, Currency: form.Get("currency"),
		Metadata: metadata, Status: "requires_payment_method"}
	s.intents[in.ID] = in
	return answer{http.StatusOK, in.object()}
}

// withIntent runs f on the intent id under its lock; a caller that gives
// up waiting gets no answer.
func (s *Server) withIntent(ctx context.Context, id string, f func(*intent) answer) answer {
	s.mu.Lock()
	in, ok := s.intents[id]
	s.mu.Unlock()
	if !ok {
		return fail(http.StatusNotFound, "invalid_request_error", "resource_missing", "No such payment_intent: '"+id+"'")
	}
	select {
	case in.lock <- struct{}{}:
	case <-ctx.Done():
		return answer{}
	}
	defer func() { <-in.lock }()
	return f(in)
}

func (s *Server) confirm(ctx context.Context, id, paymentMethod string) answer {
	a := s.withIntent(ctx, id, func(in *intent) answer {
		if in.Status != "requires_payment_method" && in.Status != "requires_confirmation" {
			return in.unexpectedState("confirm")
		}
		c, ok := s.cardOfPaymentMethod(paymentMethod)
		if !ok {
			return fail(http.StatusBadRequest, "invalid_request_error", "resource_missing", "No such PaymentMethod: '"+paymentMethod+"'")
		}
		in.PaymentMethod = paymentMethod
		var a answer
		switch c.outcome {
		case "hangs":
			<-ctx.Done()
			return answer{}
		case "requires_action":
			in.Status = "requires_action"
			a = answer{http.StatusOK, in.object()}
		case "declines":
			in.Status = "requires_payment_method"
			in.LastPaymentError = &apiError{Type: "card_error", Code: c.code, DeclineCode: c.declineCode, Message: "Your card was declined."}
			s.record("payment_intent.payment_failed", in)
			e := *in.LastPaymentError
			e.PaymentIntent, _ = json.Marshal(in.object())
			a = answer{http.StatusPaymentRequired, map[string]*apiError{"error": &e}}
		default:
			in.Status = "succeeded"
			s.mu.Lock()
			s.succeeded++
			s.mu.Unlock()
			s.record("payment_intent.succeeded", in)
			a = answer{http.StatusOK, in.object()}
		}
		return a
	})
	s.mu.Lock()
	held := s.held
	s.mu.Unlock()
	if held != nil && a.status != 0 {
		// The intent is unlocked: Stripe answers others about it while
		// this answer is on its way.
		select {
		case <-held:
		case <-ctx.Done(): // the answer is lost, not the confirmation
		}
	}
	return a
}

func (s *Server) cardOfPaymentMethod(id string) (card, bool) {
	if c, ok := cardOf(id); ok && strings.HasPrefix(id, "pm_card_") {
		return c, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.paymentMethods[id]
	return c, ok
}

// record makes the event of an intent's new state.
func (s *Server) record(typ string, in *intent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID("evt")
	payload, _ := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "api_version": "2025-08-27.basil",
		"created": time.Now().Unix(), "data": map[string]any{"object": in.object()}})
	s.events = append(s.events, Event{ID: id, Type: typ, Payload: payload})
}

func (in *intent) cancel(reason string) answer {
	switch in.Status {
	case "requires_payment_method", "requires_confirmation", "requires_action":
		in.Status, in.CancellationReason = "canceled", reason
		return answer{http.StatusOK, in.object()}
	}
	return in.unexpectedState("cancel")
}

func (in *intent) unexpectedState(action string) answer {
	a := fail(http.StatusBadRequest, "invalid_request_error", "payment_intent_unexpected_state",
		fmt.Sprintf("You cannot %s this PaymentIntent because it has a status of %s.", action, in.Status))
	a.body.(map[string]*apiError)["error"].PaymentIntent, _ = json.Marshal(in.object())
	return a
}

func (in *intent) object() map[string]any {
	o := map[string]any{"id": in.ID, "object": "payment_intent", "amount": in.Amount, "currency": in.Currency,
		"metadata": in.Metadata, "status": in.Status, "payment_method_types": []string{"card"}}
	if in.LastPaymentError != nil {
		o["last_payment_error"] = in.LastPaymentError
	}
	if in.PaymentMethod != "" {
		o["payment_method"] = in.PaymentMethod
	}
	if in.CancellationReason != "" {
		o["cancellation_reason"] = in.CancellationReason
	}
	return o
}

func (s *Server) createPaymentMethod(form url.Values) answer {
	c, ok := cardOf(form.Get("card[token]"))
	if form.Get("type") != "card" || !ok || strings.HasPrefix(form.Get("card[token]"), "pm_") {
		return fail(http.StatusBadRequest, "invalid_request_error", "resource_missing", "No such token: '"+form.Get("card[token]")+"'")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID("pm")
	s.paymentMethods[id] = c
	return answer{http.StatusOK, map[string]any{"id": id, "object": "payment_method", "type": "card", "card": cardObject(c)}}
}

func (s *Server) paymentMethod(id string) answer {
	c, ok := s.cardOfPaymentMethod(id)
	if !ok {
		return fail(http.StatusNotFound, "invalid_request_error", "resource_missing", "No such PaymentMethod: '"+id+"'")
	}
	return answer{http.StatusOK, map[string]any{"id": id, "object": "payment_method", "type": "card", "card": cardObject(c)}}
}

func (s *Server) refund(ctx context.Context, form url.Values) answer {
	id := form.Get("payment_intent")
	return s.withIntent(ctx, id, func(in *intent) answer {
		amount, err := strconv.ParseInt(form.Get("amount"), 10, 64)
		switch {
		case in.Status != "succeeded":
			return fail(http.StatusBadRequest, "invalid_request_error", "", "This PaymentIntent does not have a successful charge to refund.")
		case err != nil || amount != in.Amount:
			return fail(http.StatusBadRequest, "invalid_request_error", "amount_too_large", "Refund amount is not the amount charged.")
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.refunds[id] {
			return fail(http.StatusBadRequest, "invalid_request_error", "charge_already_refunded", "Charge has already been refunded.")
		}
		s.refunds[id] = true
		return answer{http.StatusOK, map[string]any{"id": s.nextID("re"), "object": "refund", "amount": amount,
			"payment_intent": id, "status": "succeeded"}}
	})
}
