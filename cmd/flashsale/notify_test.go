package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
)

// The default configuration writes a line per order event to the
// console, so a newcomer sees notifications without any setup.
func TestServeLogsEveryOrderEvent(t *testing.T) {
	url, out, _ := startWatched(t, t.TempDir())
	_, _, orders := saleWithOrders(t, client{t, url})
	want := map[string]string{
		"Reserved for you: Phone": orders["reserved"],
		"Order confirmed: Phone":  orders["paid"],
		"Order cancelled: Phone":  orders["cancelled"],
	}
	defer func() {
		if t.Failed() {
			t.Logf("output:\n%s", out.String())
		}
	}()
	for subject, order := range want {
		testenv.Eventually(t, 10*time.Second, "the line "+subject+" for order "+order, func() bool {
			return logged(out.String(), subject, order)
		})
	}
}

func logged(output, subject, order string) bool {
	for line := range strings.Lines(output) {
		if strings.Contains(line, "notification: "+subject) && strings.Contains(line, "order_id="+order) {
			return true
		}
	}
	return false
}

// A graceful shutdown ends the open streams rather than waiting for them
// until its timeout.
func TestShutdownEndsStreams(t *testing.T) {
	url, stop := startInProcess(t, t.TempDir(), "--shutdown-timeout", "20s")
	openEvents(t, url+"/events?access_token="+mint(t, "alice", false))
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %v with a stream open", took)
	}
}

func TestNotificationSettings(t *testing.T) {
	c, err := parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.NotifyLog || c.SMTPURL != "" || c.WebhookURLs != nil || c.EventsHeartbeat != 15*time.Second || c.EventsPerUser != 3 {
		t.Fatalf("defaults %+v", c)
	}
	env := map[string]string{"FLASHSALE_NOTIFY_LOG": "off", "FLASHSALE_WEBHOOK_URLS": " https://a.example/hook, ,https://b.example/hook "}
	if c, err = parseConfig(nil, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Fatal(err)
	}
	if c.NotifyLog || len(c.WebhookURLs) != 2 || c.WebhookURLs[1] != "https://b.example/hook" {
		t.Fatalf("config %+v", c)
	}
	for _, bad := range []map[string]string{
		{"FLASHSALE_NOTIFY_LOG": "loud"},
		{"FLASHSALE_EVENTS_PER_USER": "0"},
		{"FLASHSALE_EVENTS_HEARTBEAT": "0s"},
	} {
		if _, err := parseConfig(nil, func(k string) string { return bad[k] }, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	// Channels that cannot work refuse to start the service.
	for name, extra := range map[string]string{
		"a webhook without a secret": "FLASHSALE_WEBHOOK_URLS=https://a.example/hook",
		"an SMTP URL without sender": "FLASHSALE_SMTP_URL=smtp://localhost:25",
	} {
		key, _, _ := strings.Cut(extra, "=")
		err := run(context.Background(), []string{"flashsale", "serve"}, testEnv(t.TempDir(), extra), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: err = %v, want one naming %s", name, err, key)
		}
	}
}

// openEvents opens an event stream and reads it to its end.
func openEvents(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /events: %d", resp.StatusCode)
	}
	go func() {
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
	}()
}
