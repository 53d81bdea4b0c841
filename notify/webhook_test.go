package notify_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/notify"
)

const webhookSecret = "whsec-test-secret"

// webhookRequest is what the receiver got in one request.
type webhookRequest struct {
	eventID, eventType, signature string
	body                          []byte
	headers                       http.Header
}

// A receiver that fails twice, then succeeds: it gets the event three
// times, each signed, each with the same event id; the delivery is
// recorded with its three attempts.
func TestWebhookEndToEnd(t *testing.T) {
	var (
		mu       sync.Mutex
		requests []webhookRequest
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		requests = append(requests, webhookRequest{
			r.Header.Get(notify.EventIDHeader), r.Header.Get(notify.EventTypeHeader), r.Header.Get(notify.SignatureHeader), body,
			r.Header.Clone(),
		})
		n := len(requests)
		mu.Unlock()
		if n <= 2 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
		}
	}))
	defer receiver.Close()
	webhook, err := notify.NewWebhook(receiver.URL+"/hooks/flashsale", webhookSecret, receiver.Client())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(webhook.Name(), "webhook:") || len(webhook.Name()) != len("webhook:")+12 {
		t.Fatalf("channel name %q, want webhook: and 12 hex digits", webhook.Name())
	}

	shop := newShop(t, webhook.Name())
	clock := newClock()
	run(t, notify.Config{
		Outbox: shop.store, Channels: []notify.Channel{webhook}, Now: clock.Now, PollInterval: time.Millisecond,
		Retry: notify.Backoff{Initial: time.Second, Max: time.Second, Attempts: 5},
	})
	o := shop.reserve("alice")
	n := shop.notifications("alice")[0]
	testenv.Eventually(t, 10*time.Second, "delivered", func() bool {
		clock.Advance(time.Second)
		return !shop.delivery(n.ID, webhook.Name()).DeliveredAt.IsZero()
	})
	if d := shop.delivery(n.ID, webhook.Name()); d.Attempts != 3 || d.LastError == "" {
		t.Fatalf("delivery %+v, want delivered on attempt 3 after an error", d)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(requests) != 3 {
		t.Fatalf("the receiver got %d requests, want 3", len(requests))
	}
	for i, req := range requests {
		if req.eventID != n.ID || req.eventType != "order.reserved" {
			t.Fatalf("request %d: event %q of type %q, want %q of type order.reserved", i, req.eventID, req.eventType, n.ID)
		}
		if err := notify.VerifySignature([]byte(webhookSecret), req.signature, req.body, 5*time.Minute, time.Now()); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		// The Standard Webhooks headers: the event id, and a signature
		// of "id.timestamp.body" under the secret as such libraries read it.
		sent, err := strconv.ParseInt(req.headers.Get(notify.StandardTimestampHeader), 10, 64)
		if err != nil || req.headers.Get(notify.StandardIDHeader) != n.ID {
			t.Fatalf("request %d: headers %v", i, req.headers)
		}
		key := notify.StandardKey(notify.StandardSecret(webhookSecret))
		if got, want := req.headers.Get(notify.StandardSignatureHeader), notify.StandardSignature(key, n.ID, time.Unix(sent, 0), req.body); got != want {
			t.Fatalf("request %d: webhook-signature %q, want %q", i, got, want)
		}
		// And the specification's own Go library, as a receiver uses it,
		// takes the event.
		receiverLibrary, err := standardwebhooks.NewWebhook(notify.StandardSecret(webhookSecret))
		if err != nil {
			t.Fatal(err)
		}
		if err := receiverLibrary.Verify(req.body, req.headers); err != nil {
			t.Fatalf("request %d: the Standard Webhooks library refuses it: %v", i, err)
		}
		var event notify.Event
		if err := json.Unmarshal(req.body, &event); err != nil {
			t.Fatal(err)
		}
		want := notify.Event{ID: n.ID, Type: "order.reserved", CreatedAt: start, Order: &notify.EventOrder{
			OrderID: o.ID, UserID: "alice", SaleID: o.SaleID, ItemID: o.ItemID, ItemName: "Phone X", Quantity: 1,
			Status: "reserved", TotalAmount: "499.00", Currency: "USD", ReservationExpiresAt: o.ExpiresAt,
		}}
		if !reflect.DeepEqual(event, want) {
			t.Fatalf("request %d: body %+v, want %+v", i, event, want)
		}
	}
}

// The Standard Webhooks signature is the specification's: its published
// test vector reproduces, and a secret not in its form is handed to
// receivers as one that gives the same key.
func TestStandardSignature(t *testing.T) {
	key := notify.StandardKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	got := notify.StandardSignature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("the specification's vector signs as %q, want %q", got, want)
	}
	for _, secret := range []string{webhookSecret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!"} {
		if !bytes.Equal(notify.StandardKey(notify.StandardSecret(secret)), notify.StandardKey(secret)) {
			t.Errorf("%q: the secret handed to receivers gives another key", secret)
		}
	}
}

// The signature binds the body, the secret and the time.
func TestVerifySignature(t *testing.T) {
	secret, body := []byte(webhookSecret), []byte(`{"id":"1"}`)
	now := time.Now()
	header := notify.Sign(secret, now, body)
	if err := notify.VerifySignature(secret, header, body, time.Minute, now); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	// A receiver rotating its secret lists several v1 values.
	rotated := header + ",v1=" + strings.Repeat("ab", 32)
	if err := notify.VerifySignature(secret, rotated, body, time.Minute, now); err != nil {
		t.Fatalf("a good signature beside another: %v", err)
	}
	for name, c := range map[string]struct {
		secret []byte
		header string
		body   []byte
		now    time.Time
	}{
		"tampered body":    {secret, header, []byte(`{"id":"2"}`), now},
		"another secret":   {[]byte("other"), header, body, now},
		"replayed later":   {secret, header, body, now.Add(6 * time.Minute)},
		"no signature":     {secret, "t=1", body, now},
		"garbage":          {secret, "nonsense", body, now},
		"signed in future": {secret, notify.Sign(secret, now.Add(time.Hour), body), body, now},
	} {
		if err := notify.VerifySignature(c.secret, c.header, c.body, 5*time.Minute, c.now); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// A redirect is not followed: the signed body goes only where configured,
// and the attempt fails.
func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	var followed atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
	defer elsewhere.Close()
	receiver := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusTemporaryRedirect))
	defer receiver.Close()
	webhook, err := notify.NewWebhook(receiver.URL, webhookSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = webhook.Deliver(t.Context(), flashsale.Notification{ID: "n1", Event: flashsale.EventOrderConfirmed})
	if err == nil || !strings.Contains(err.Error(), "307") || followed.Load() {
		t.Fatalf("err = %v, followed = %v; want a failed attempt naming the 307", err, followed.Load())
	}
}

func TestNewWebhookChecksItsSettings(t *testing.T) {
	for _, c := range []struct{ url, secret string }{
		{"ftp://example.com/hook", "s"}, {"not a url", "s"}, {"https:///nohost", "s"}, {"https://example.com/hook", ""},
	} {
		if _, err := notify.NewWebhook(c.url, c.secret, nil); err == nil {
			t.Errorf("NewWebhook(%q, %q) succeeded", c.url, c.secret)
		}
	}
}
