package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
)

// sseEvent is one event of a stream.
type sseEvent struct {
	ID, Type string
	Data     map[string]any
}

// stream is an open GET /events, read by a goroutine of its own.
type stream struct {
	t          testing.TB
	events     chan sseEvent
	heartbeats chan struct{}
	close      func()
}

// openStream opens GET /events as user with the headers given (name,
// value pairs) and fails unless it is answered 200 text/event-stream.
func (h *harness) openStream(user string, headers ...string) *stream {
	h.t.Helper()
	return h.openStreamAt("/events", headers...)
}

// openStreamAt is openStream of path, a GET /events with its query.
func (h *harness) openStreamAt(path string, headers ...string) *stream {
	h.t.Helper()
	resp, cancel := h.requestStream(path, headers...)
	if resp.StatusCode != 200 {
		cancel()
		h.t.Fatalf("GET /events: status %d, want 200", resp.StatusCode)
	}
	return h.readStream(resp, cancel)
}

// requestStream sends GET path with user's token unless the headers carry
// an Authorization, and returns the response with its body unread.
func (h *harness) requestStream(path string, headers ...string) (*nethttp.Response, context.CancelFunc) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := nethttp.NewRequestWithContext(ctx, "GET", h.server.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.server.Client().Do(req)
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	closeStream := func() {
		cancel()
		resp.Body.Close()
	}
	h.t.Cleanup(closeStream)
	return resp, closeStream
}

func (h *harness) readStream(resp *nethttp.Response, cancel context.CancelFunc) *stream {
	h.t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		h.t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	s := &stream{t: h.t, events: make(chan sseEvent, 100), heartbeats: make(chan struct{}, 100), close: cancel}
	go func() {
		defer close(s.events)
		scanner := bufio.NewScanner(resp.Body)
		var e sseEvent
		var data string
		for scanner.Scan() {
			line := scanner.Text()
			switch {
			case line == "":
				if e.Type != "" {
					if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
						e.Data = map[string]any{"unparsable": data}
					}
					s.events <- e
				}
				e, data = sseEvent{}, ""
			case strings.HasPrefix(line, ":"):
				select {
				case s.heartbeats <- struct{}{}:
				default:
				}
			case strings.HasPrefix(line, "id: "):
				e.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				e.Type = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

// next returns the stream's next event.
func (s *stream) next() sseEvent {
	s.t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			s.t.Fatal("the stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		s.t.Fatal("no event within 10 s")
	}
	return sseEvent{}
}

// want reads the next event and checks its type and order.
func (s *stream) want(eventType, orderID string) sseEvent {
	s.t.Helper()
	e := s.next()
	order, _ := e.Data["order"].(map[string]any)
	if e.Type != eventType || order["order_id"] != orderID || e.Data["id"] != e.ID || e.Data["type"] != eventType {
		s.t.Fatalf("event %+v, want %s of order %s", e, eventType, orderID)
	}
	return e
}

// wantQuiet checks that no event arrives for a while.
func (s *stream) wantQuiet() {
	s.t.Helper()
	select {
	case e := <-s.events:
		s.t.Fatalf("unexpected event %+v", e)
	case <-time.After(100 * time.Millisecond):
	}
}

func (h *harness) bearer(user string) []string {
	return []string{"Authorization", "Bearer " + h.token(user, false)}
}

// An order's changes arrive live, in order, each once, with the order as
// the change left it.
func TestEventsLive(t *testing.T) {
	h := newHarness(t, harnessOptions{events: true})
	s := h.createSale(saleSpec{})
	alice := h.openStream("alice", h.bearer("alice")...)

	placed := h.placeOrder(s.ID, s.Items[0], "alice", 1)
	expect(t, placed, 201, "")
	order := orderID(t, placed)
	e := alice.want("order.reserved", order)
	data := e.Data["order"].(map[string]any)
	if data["status"] != "reserved" || data["total_amount"] != "499.00" || data["currency"] != "USD" || data["item_name"] != "Phone 0" {
		t.Fatalf("reserved event %+v", data)
	}
	expect(t, h.pay(order, "alice", "tok_chargeDeclined"), 402, "payment_failed")
	if e := alice.want("order.payment_declined", order); e.Data["order"].(map[string]any)["reason"] != "card_declined" {
		t.Fatalf("declined event %+v, want reason card_declined", e)
	}
	expect(t, h.pay(order, "alice", "tok_visa"), 200, "")
	alice.want("order.confirmed", order)
	alice.wantQuiet()
}

// A client that reconnects with the last id it got receives exactly the
// events it missed, then live ones; without an id, a stream starts with
// the next event.
func TestEventsResume(t *testing.T) {
	h := newHarness(t, harnessOptions{events: true})
	s := h.createSale(saleSpec{items: []itemSpec{{stock: 10, limit: 5}}})
	first := h.openStream("alice", h.bearer("alice")...)
	one := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	last := first.want("order.reserved", one)
	first.close()

	// Missed while disconnected.
	expect(t, h.do("POST", "/orders/"+one+"/cancel", h.token("alice", false), nil), 200, "")
	two := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	expect(t, h.pay(two, "alice", "tok_visa"), 200, "")

	resumed := h.openStream("alice", append(h.bearer("alice"), "Last-Event-ID", last.ID)...)
	resumed.want("order.cancelled", one)
	resumed.want("order.reserved", two)
	confirmed := resumed.want("order.confirmed", two)
	resumed.wantQuiet()
	three := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	resumed.want("order.reserved", three)

	// EventSource cannot set the header on a fresh page: the query does.
	byQuery := h.openStream("alice", h.bearer("alice")...)
	byQuery.wantQuiet() // a new stream replays nothing
	resumed.close()
	viaQuery, cancel := h.requestStream("/events?last_event_id="+confirmed.ID, h.bearer("alice")...)
	h.readStream(viaQuery, cancel).want("order.reserved", three)
}

// A user never receives another user's events, not even by resuming
// after one of their ids.
func TestEventsOnlyTheCallersOwn(t *testing.T) {
	h := newHarness(t, harnessOptions{events: true})
	s := h.createSale(saleSpec{})
	alice := h.openStream("alice", h.bearer("alice")...)
	bob := h.openStream("bob", h.bearer("bob")...)

	bobs := orderID(t, h.placeOrder(s.ID, s.Items[0], "bob", 1))
	bobsEvent := bob.want("order.reserved", bobs)
	alices := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	alice.want("order.reserved", alices)
	alice.wantQuiet()

	// Bob's id is no place for alice to resume from: she gets her own
	// events from the start, and only those.
	resumed := h.openStream("alice", append(h.bearer("alice"), "Last-Event-ID", bobsEvent.ID)...)
	resumed.want("order.reserved", alices)
	resumed.wantQuiet()
}

// Each user may hold a few streams; one more is refused with 429 until
// one closes.
func TestEventsStreamCap(t *testing.T) {
	h := newHarness(t, harnessOptions{events: true})
	var open []*stream
	for range 3 {
		open = append(open, h.openStream("alice", h.bearer("alice")...))
	}
	resp, _ := h.requestStream("/events", h.bearer("alice")...)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a fourth stream: status %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if body.Error.Code != "rate_limited" {
		t.Fatalf("a fourth stream: code %q, want rate_limited", body.Error.Code)
	}
	h.openStream("bob", h.bearer("bob")...) // others are not affected

	open[0].close()
	testenv.Eventually(t, 10*time.Second, "a stream after one closed", func() bool {
		resp, cancel := h.requestStream("/events", h.bearer("alice")...)
		if resp.StatusCode != 200 {
			cancel()
		}
		return resp.StatusCode == 200
	})
}

// The token travels as a bearer header or, for EventSource, as
// ?access_token=; without either, or with a bad one, 401.
func TestEventsAuthentication(t *testing.T) {
	h := newHarness(t, harnessOptions{events: true, heartbeat: 20 * time.Millisecond})
	for name, c := range map[string]struct {
		path    string
		headers []string
	}{
		"no token":        {"/events", nil},
		"bad token":       {"/events", []string{"Authorization", "Bearer nonsense"}},
		"bad query token": {"/events?access_token=nonsense", nil},
	} {
		resp, cancel := h.requestStream(c.path, c.headers...)
		if resp.StatusCode != 401 {
			t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
		}
		cancel()
	}
	resp, cancel := h.requestStream("/events?access_token=" + h.token("alice", false))
	if resp.StatusCode != 200 {
		t.Fatalf("a token in the query: status %d, want 200", resp.StatusCode)
	}
	s := h.readStream(resp, cancel)
	select {
	case <-s.heartbeats:
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat")
	}
}

// A stream outlives the server's WriteTimeout, which bounds each request
// from its start and would otherwise cut every stream off. The timeout is
// long enough for every other request of the test on a loaded machine.
func TestEventsOutliveTheWriteTimeout(t *testing.T) {
	const writeTimeout = 2 * time.Second
	h := newHarness(t, harnessOptions{events: true, heartbeat: 50 * time.Millisecond, writeTimeout: writeTimeout})
	s := h.createSale(saleSpec{})
	alice := h.openStream("alice", h.bearer("alice")...)
	time.Sleep(writeTimeout + 500*time.Millisecond) // the server's own timer, not an ordering
	order := orderID(t, h.placeOrder(s.ID, s.Items[0], "alice", 1))
	alice.want("order.reserved", order)
}

// HEAD answers the headers and ends, rather than holding the connection
// with a stream no one reads.
func TestEventsHead(t *testing.T) {
	h := newHarness(t, harnessOptions{events: true})
	r := h.do("HEAD", "/events", h.token("alice", false), nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD /events: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	// A request is counted once its handler has returned. The metrics are
	// read over a connection of their own: the HEAD's is kept alive, and a
	// request sent on it would wait behind a stream that never ends.
	ended := `flashsale_http_requests_total{code="200",route="events"} 1`
	other := &nethttp.Client{Transport: &nethttp.Transport{}, Timeout: 5 * time.Second}
	testenv.Eventually(t, 5*time.Second, "HEAD /events to end", func() bool {
		resp, err := other.Get(h.server.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(body), ended)
	})
}

// A server without live events says the route is not there.
func TestEventsDisabled(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	r := h.do("GET", "/events", h.token("alice", false), nil)
	expect(t, r, 404, "not_found")
	if !strings.Contains(fmt.Sprint(r.JSON(t)), "not enabled") {
		t.Fatalf("body %s", r.Body)
	}
}
