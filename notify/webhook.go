package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
)

// The webhook headers. A receiver verifies SignatureHeader with
// VerifySignature over the raw body, and deduplicates by EventIDHeader: a
// retry carries the same id.
const (
	SignatureHeader = "Flashsale-Signature"
	EventIDHeader   = "Flashsale-Event-Id"
	EventTypeHeader = "Flashsale-Event-Type"
)

// The Standard Webhooks headers (www.standardwebhooks.com), sent beside
// ours so that a receiver can verify with that specification's libraries,
// in many languages: the event id, the sending time in Unix seconds, and
// "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>".
const (
	StandardIDHeader        = "webhook-id"
	StandardTimestampHeader = "webhook-timestamp"
	StandardSignatureHeader = "webhook-signature"
)

// StandardKey is the key the Standard Webhooks signature uses for a
// webhook secret: a secret in that specification's form ("whsec_" and
// base64) is its decoded bytes; any other is its own bytes, which a
// receiver's library takes as "whsec_" + base64(secret) (StandardSecret).
func StandardKey(secret string) []byte {
	if encoded, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if key, err := base64.StdEncoding.DecodeString(encoded); err == nil && len(key) > 0 {
			return key
		}
	}
	return []byte(secret)
}

// StandardSecret is a webhook secret as a Standard Webhooks library takes
// it: as configured when it is in that form, else "whsec_" and the base64
// of its bytes.
func StandardSecret(secret string) string {
	if key := StandardKey(secret); string(key) != secret {
		return secret
	}
	return "whsec_" + base64.StdEncoding.EncodeToString([]byte(secret))
}

// StandardSignature is the webhook-signature header of body, the event id,
// sent at t, under key (StandardKey).
func StandardSignature(key []byte, id string, t time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(t.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Webhook posts each event as JSON (an Event) to one URL of the shop's own
// systems, signed like Stripe's webhooks:
//
//	Flashsale-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//
// Any 2xx answer delivers it; anything else, a redirect included, is
// retried with backoff. Each URL is a channel of its own, so a receiver
// that is down delays only itself.
type Webhook struct {
	url         string
	name        string
	secret      []byte
	standardKey []byte
	client      *http.Client
}

// NewWebhook returns the channel of one http or https URL. client may be
// nil; redirects are never followed, so a signed body goes only where it
// was configured to.
func NewWebhook(endpoint, secret string, client *http.Client) (*Webhook, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("notify: webhook URL %q is not an http(s) URL", endpoint)
	}
	if secret == "" {
		return nil, errors.New("notify: webhooks need a signing secret")
	}
	c := http.Client{}
	if client != nil {
		c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	sum := sha256.Sum256([]byte(endpoint))
	return &Webhook{
		url: endpoint, secret: []byte(secret), standardKey: StandardKey(secret), client: &c,
		// A hash names the URL in the store without writing out any
		// credentials it may hold, and stays put when the list is
		// reordered.
		name: "webhook:" + hex.EncodeToString(sum[:6]),
	}, nil
}

// Name is "webhook:" and 12 hex digits of the URL's SHA-256.
func (w *Webhook) Name() string { return w.name }

// Deliver posts the event and succeeds on a 2xx answer.
func (w *Webhook) Deliver(ctx context.Context, n flashsale.Notification) error {
	body, err := MarshalEvent(n)
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "flashsale-webhook/1")
	req.Header.Set(EventIDHeader, n.ID)
	req.Header.Set(EventTypeHeader, string(n.Event))
	now := time.Now()
	req.Header.Set(SignatureHeader, Sign(w.secret, now, body))
	req.Header.Set(StandardIDHeader, n.ID)
	req.Header.Set(StandardTimestampHeader, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(StandardSignatureHeader, StandardSignature(w.standardKey, n.ID, now, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Reading a little of the answer lets the connection be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s answered %s", req.URL.Redacted(), resp.Status)
	}
	return nil
}

// Sign returns the Flashsale-Signature header of body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(signature(secret, ts, body))
}

func signature(secret []byte, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return mac.Sum(nil)
}

// VerifySignature checks a Flashsale-Signature header against the raw
// body as received: one of its v1 signatures must be the body's under
// secret, and its timestamp within tolerance of now, so that a captured
// request cannot be replayed later.
func VerifySignature(secret []byte, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var (
		ts         string
		signatures [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		key, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch key {
		case "t":
			ts = value
		case "v1":
			if sig, err := hex.DecodeString(value); err == nil {
				signatures = append(signatures, sig)
			}
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(signatures) == 0 {
		return errors.New("notify: the signature header has no timestamp or no v1 signature")
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("notify: the signature's timestamp is %v away from now, more than %v", d.Round(time.Second), tolerance)
	}
	want := signature(secret, ts, body)
	for _, sig := range signatures {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return errors.New("notify: no signature matches the body")
}
