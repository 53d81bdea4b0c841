package http

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/notify"
)

// Events is what GET /events streams: the caller's own order events, as
// Server-Sent Events, and with ?queue=<sale_id> (up to maxQueueWatches
// sales) the caller's place in those sales' waiting rooms (queue.go's
// queueWatch).
//
// A stream is a cursor over the user's events in the outbox. The Broker
// only says "this user has news"; the stream then reads, from the outbox,
// every event after the last one it sent, in the store's commit order.
// Replay (Last-Event-ID) and live delivery are therefore one and the same
// read: a stream never has a gap, whatever the broker drops, and never
// sends an event twice.
type Events struct {
	Outbox flashsale.Outbox
	Broker flashsale.Broker
	// Heartbeat is how often a stream writes a comment line (default 15
	// s): it keeps proxies from closing an idle stream, finds clients that
	// left, and reads the outbox again in case a wake-up was lost.
	Heartbeat time.Duration
	// MaxStreamsPerUser bounds a user's open streams in this process
	// (default 3); one more is answered 429.
	MaxStreamsPerUser int
	// Closing, once closed, ends every stream: a stream lasts as long as
	// its client, and a graceful shutdown would wait for it. Clients
	// reconnect, elsewhere, with Last-Event-ID.
	Closing <-chan struct{}
}

// eventsPage is how many events a stream reads from the outbox at once.
const eventsPage = 100

// streamWriteTimeout bounds each write to a stream, so a client that
// stopped reading is let go; it also replaces the server's WriteTimeout,
// which would end every stream after the first few seconds.
const streamWriteTimeout = 10 * time.Second

func (s *server) handleEvents() http.Handler {
	if s.Events == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.error(w, r, flashsale.Errorf(flashsale.ENotFound, "live events are not enabled on this server"))
		})
	}
	cfg := *s.Events
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.MaxStreamsPerUser <= 0 {
		cfg.MaxStreamsPerUser = 3
	}
	streams := &streamCounter{max: cfg.MaxStreamsPerUser, open: make(map[string]int)}
	openStreams := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "flashsale_event_streams", Help: "Open GET /events streams.",
	})
	s.Registry.MustRegister(openStreams)
	tooMany := &flashsale.Error{Code: flashsale.ERateLimited, RetryAfter: 5 * time.Second,
		Message: fmt.Sprintf("at most %d event streams of one user may be open at once; close one", cfg.MaxStreamsPerUser)}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := identityOf(r).UserID
		queues, err := s.queueWatches(r, user)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if !streams.enter(user) {
			s.error(w, r, tooMany)
			return
		}
		defer streams.leave(user)
		openStreams.Inc()
		defer openStreams.Dec()

		// Subscribed before the outbox is first read: an event committed
		// after that read wakes the stream.
		woken, unsubscribe := cfg.Broker.Subscribe(user)
		defer unsubscribe()
		stream := &eventStream{outbox: cfg.Outbox, user: user, w: w, rc: http.NewResponseController(w)}
		stream.cursor = r.Header.Get("Last-Event-ID")
		if stream.cursor == "" {
			stream.cursor = r.URL.Query().Get("last_event_id")
		}
		if stream.cursor == "" {
			// A new stream starts with the next event.
			if err := stream.skipToLatest(r.Context()); err != nil {
				s.error(w, r, err)
				return
			}
		}

		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Accel-Buffering", "no") // nginx: pass events on at once
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return // the headers are the whole answer; a stream would hold the connection
		}
		if err := stream.rc.Flush(); err != nil { // the client learns at once that it is connected
			return
		}
		heartbeat := time.NewTicker(cfg.Heartbeat)
		defer heartbeat.Stop()
		// Set by queues.send to the next place due; idle until then.
		nextPoll := time.NewTimer(time.Hour)
		nextPoll.Stop()
		defer nextPoll.Stop()
		for {
			if err := stream.sendNew(r.Context()); err != nil {
				if r.Context().Err() == nil {
					s.Logger.Warn("event stream ended", "user_id", user, "err", err)
				}
				return
			}
			if err := queues.send(r.Context(), stream, nextPoll); err != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-cfg.Closing:
				return
			case <-woken:
				queues.due() // an admission wakes the user's streams too
			case <-nextPoll.C:
			case <-heartbeat.C:
				if err := stream.write(": heartbeat\n\n"); err != nil {
					return
				}
			}
		}
	})
}

// eventStream is one client's stream and its cursor: the id of the last
// event it was sent.
type eventStream struct {
	outbox flashsale.Outbox
	user   string
	w      http.ResponseWriter
	rc     *http.ResponseController
	cursor string
}

// skipToLatest moves the cursor to the user's latest event.
func (st *eventStream) skipToLatest(ctx context.Context) error {
	for {
		events, err := st.outbox.NotificationsAfter(ctx, st.user, st.cursor, eventsPage)
		if err != nil {
			return err
		}
		if len(events) > 0 {
			st.cursor = events[len(events)-1].ID
		}
		if len(events) < eventsPage {
			return nil
		}
	}
}

// sendNew sends every event after the cursor.
func (st *eventStream) sendNew(ctx context.Context) error {
	for {
		events, err := st.outbox.NotificationsAfter(ctx, st.user, st.cursor, eventsPage)
		if errors.Is(err, flashsale.ErrUnknownNotification) && st.cursor != "" {
			// An id this store never gave the user (another database, a
			// forged header): replay everything, which the client
			// deduplicates by id, rather than risk a gap.
			st.cursor = ""
			continue
		}
		if err != nil {
			return err
		}
		for _, n := range events {
			data, err := notify.MarshalEvent(n)
			if err != nil {
				return err
			}
			if err := st.write(fmt.Sprintf("id: %s\nevent: %s\ndata: %s\n\n", n.ID, n.Event, data)); err != nil {
				return err
			}
			st.cursor = n.ID
		}
		if len(events) < eventsPage {
			return nil
		}
	}
}

// write sends text at once, within streamWriteTimeout.
func (st *eventStream) write(text string) error {
	st.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := fmt.Fprint(st.w, text); err != nil {
		return err
	}
	return st.rc.Flush()
}

// streamCounter bounds each user's open streams.
type streamCounter struct {
	max  int
	mu   sync.Mutex
	open map[string]int
}

func (c *streamCounter) enter(user string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[user] >= c.max {
		return false
	}
	c.open[user]++
	return true
}

func (c *streamCounter) leave(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[user]--; c.open[user] == 0 {
		delete(c.open, user)
	}
}

// queryToken lets a client that cannot send headers, the browser's
// EventSource, give its bearer token as ?access_token= (RFC 6750, 2.3).
// A header wins over it. URLs end up in logs and histories more easily
// than headers do: such clients should use short-lived tokens.
func (s *server) queryToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token := r.URL.Query().Get("access_token"); token != "" && r.Header.Get("Authorization") == "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+token)
		}
		next.ServeHTTP(w, r)
	})
}
