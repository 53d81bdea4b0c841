package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
)

// ticketView is a shopper's place in a sale's waiting room.
type ticketView struct {
	TicketID             string     `json:"ticket_id"`
	SaleID               string     `json:"sale_id"`
	Status               string     `json:"status"`
	Position             int64      `json:"position"`
	Ahead                int64      `json:"ahead"`
	EstimatedWaitSeconds int64      `json:"estimated_wait_seconds"`
	PollAfterMS          int64      `json:"poll_after_ms"`
	Paused               bool       `json:"paused,omitempty"`
	AdmittedAt           *time.Time `json:"admitted_at,omitempty"`
	AdmissionExpiresAt   *time.Time `json:"admission_expires_at,omitempty"`
	AdmissionToken       string     `json:"admission_token,omitempty"`
}

func newTicketView(t checkout.QueueTicket) ticketView {
	v := ticketView{
		TicketID: t.ID, SaleID: t.SaleID, Status: string(t.Status), Position: t.Position, Ahead: t.Ahead,
		EstimatedWaitSeconds: int64((t.EstimatedWait + time.Second - 1) / time.Second),
		PollAfterMS:          t.PollAfter.Milliseconds(),
		Paused:               t.Paused,
		AdmissionToken:       t.AdmissionToken,
	}
	if t.Status == flashsale.TicketAdmitted {
		v.AdmittedAt, v.AdmissionExpiresAt = &t.AdmittedAt, &t.AdmissionExpiresAt
	}
	return v
}

// joinRequest is a join's body, which may be empty.
type joinRequest struct {
	// PaymentToken is the card the place claims, for sales that limit
	// purchases per card.
	PaymentToken string `json:"payment_token"`
}

func (s *server) handleJoinQueue() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req joinRequest
		if err := decode(w, r, &req, true); err != nil {
			s.error(w, r, err)
			return
		}
		ticket, created, err := s.Checkout.JoinQueue(r.Context(), checkout.QueueJoin{
			SaleID: r.PathValue("sale_id"), UserID: identityOf(r).UserID, Account: identityOf(r).Account,
			Challenge: r.Header.Get("Flashsale-Challenge"), Device: r.Header.Get("Flashsale-Device"), IP: s.clientIP(r),
			PaymentToken: req.PaymentToken,
		})
		if err != nil {
			s.error(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, status, newTicketView(ticket))
	})
}

func (s *server) handleGetTicket() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ticket, err := s.Checkout.QueueTicket(r.Context(), r.PathValue("sale_id"), identityOf(r).UserID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, newTicketView(ticket))
	})
}

func (s *server) handleLeaveQueue() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saleID := r.PathValue("sale_id")
		if err := s.Checkout.LeaveQueue(r.Context(), saleID, identityOf(r).UserID); err != nil {
			s.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			SaleID string `json:"sale_id"`
			Status string `json:"status"`
		}{saleID, "left"})
	})
}

// queueDrawView is the pre-queue's draw document: flashsale-draw-v1 over
// the ticket ids of those who joined before the start.
type queueDrawView struct {
	Algorithm     string `json:"algorithm"`
	Commitment    string `json:"commitment"`
	Status        string `json:"status"`
	Seed          string `json:"seed,omitempty"`
	EntriesDigest string `json:"entries_digest,omitempty"`
	EntryCount    *int   `json:"entry_count,omitempty"`
	EntriesURL    string `json:"entries_url,omitempty"`
}

func (s *server) handleQueueDraw() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saleID := r.PathValue("sale_id")
		d, err := s.Checkout.QueueDraw(r.Context(), saleID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		v := queueDrawView{Algorithm: "flashsale-draw-v1", Commitment: d.Commitment, Status: "open"}
		if d.Drawn {
			count := len(d.Entries)
			v.Status, v.Seed, v.EntriesDigest, v.EntryCount = "drawn", d.Seed, d.EntriesDigest, &count
			v.EntriesURL = "/flash-sales/" + saleID + "/queue/draw/entries"
			// Drawn once, at the start: the document never changes again.
			w.Header().Set("Cache-Control", "public, max-age=60")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=1")
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// handleQueueDrawEntries lists the pre-queue's ticket ids, one per line in
// ascending order, as the draw's entries_digest was computed over them.
func (s *server) handleQueueDrawEntries() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := s.Checkout.QueueDraw(r.Context(), r.PathValue("sale_id"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		if !d.Drawn {
			s.error(w, r, flashsale.Errorf(flashsale.ENotFound, "the pre-queue is drawn at the start of the sale; its entries are listed from then on"))
			return
		}
		writeEntryList(w, d.Entries)
	})
}

// writeEntryList answers a draw's entry ids, one per line in the order
// given (ascending bytes: the order its entries_digest was computed
// over). A drawn list never changes again.
func writeEntryList(w http.ResponseWriter, ids []string) {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(id)
		b.WriteByte('\n')
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Write([]byte(b.String()))
}

// queueStatsView is a line's figures for operators.
type queueStatsView struct {
	Waiting        int64 `json:"waiting"`
	PreQueue       int64 `json:"pre_queue"`
	AdmittedTotal  int64 `json:"admitted_total"`
	Active         int64 `json:"active"`
	Abandoned      int64 `json:"abandoned"`
	AdmitPerMinute int64 `json:"admit_per_minute"`
	MaxActive      int64 `json:"max_active"`
	Paused         bool  `json:"paused"`
	SoldOut        bool  `json:"sold_out"`
}

func newQueueStatsView(st flashsale.WaitingRoomStats) queueStatsView {
	return queueStatsView{Waiting: st.Waiting, PreQueue: st.PreQueue, AdmittedTotal: st.AdmittedTotal, Active: st.Active,
		Abandoned: st.Abandoned, AdmitPerMinute: st.AdmitPerMinute, MaxActive: st.MaxActive, Paused: st.Paused, SoldOut: st.SoldOut}
}

func (s *server) handleQueueStats() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stats, err := s.Checkout.QueueStats(r.Context(), r.PathValue("sale_id"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, newQueueStatsView(stats))
	})
}

type adjustQueueRequest struct {
	AdmitPerMinute *int64 `json:"admit_per_minute"`
	MaxActive      *int64 `json:"max_active"`
	Paused         *bool  `json:"paused"`
}

func (s *server) handleAdjustQueue() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req adjustQueueRequest
		if err := decode(w, r, &req, false); err != nil {
			s.error(w, r, err)
			return
		}
		stats, err := s.Checkout.AdjustQueue(r.Context(), r.PathValue("sale_id"), flashsale.WaitingRoomChange{
			AdmitPerMinute: req.AdmitPerMinute, MaxActive: req.MaxActive, Paused: req.Paused,
		})
		if err != nil {
			s.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, newQueueStatsView(stats))
	})
}

// maxQueueWatches bounds the waiting rooms one event stream follows.
const maxQueueWatches = 10

// queueWatches are the waiting-room places an event stream follows: the
// stream reads each ticket as often as the ticket tells a client to poll
// (so a page with a stream open need not poll, and keeps its place), and
// at once when the user's streams are woken (an admission publishes to
// the broker), and sends an event when the place changed: queue.admitted,
// queue.sold_out, or queue.updated for a new position, status or pause. These
// events have no id: they are the place as it stands, not a history to
// replay.
type queueWatches struct {
	server *server
	user   string
	places []*queueWatch
}

type queueWatch struct {
	saleID string
	last   ticketView
	next   time.Time
	done   bool
}

func (s *server) queueWatches(r *http.Request, user string) (*queueWatches, error) {
	sales := r.URL.Query()["queue"]
	if len(sales) > maxQueueWatches {
		return nil, flashsale.InvalidField("queue", "an event stream follows at most %d waiting rooms", maxQueueWatches)
	}
	q := &queueWatches{server: s, user: user}
	for _, saleID := range sales {
		q.places = append(q.places, &queueWatch{saleID: saleID})
	}
	return q, nil
}

// due makes every place read again at the next send.
func (q *queueWatches) due() {
	for _, p := range q.places {
		p.next = time.Time{}
	}
}

// send reads the places that are due, sends what changed, and sets timer
// to the next place due.
func (q *queueWatches) send(ctx context.Context, stream *eventStream, timer *time.Timer) error {
	var next time.Time
	for _, p := range q.places {
		if p.done {
			continue
		}
		if now := time.Now(); !now.Before(p.next) {
			if err := q.read(ctx, stream, p, now); err != nil {
				return err
			}
		}
		if !p.done && (next.IsZero() || p.next.Before(next)) {
			next = p.next
		}
	}
	if !next.IsZero() {
		timer.Reset(time.Until(next))
	}
	return nil
}

func (q *queueWatches) read(ctx context.Context, stream *eventStream, p *queueWatch, now time.Time) error {
	ticket, err := q.server.Checkout.QueueTicket(ctx, p.saleID, q.user)
	switch {
	case flashsale.IsCode(err, flashsale.ETicketNotFound):
		// Not joined (yet): the page joins, then the stream sees it.
		p.next = now.Add(time.Second)
		return nil
	case flashsale.IsCode(err, flashsale.ENoWaitingRoom), flashsale.IsCode(err, flashsale.ESaleNotFound):
		p.done = true
		return nil
	case err != nil:
		p.next = now.Add(time.Second)
		return nil
	}
	v := newTicketView(ticket)
	p.next = now.Add(max(ticket.PollAfter, time.Second))
	if v.Status == p.last.Status && v.Position == p.last.Position && v.Paused == p.last.Paused {
		return nil
	}
	event := "queue.updated"
	switch {
	case v.Status == string(flashsale.TicketAdmitted) && p.last.Status != v.Status:
		event = "queue.admitted"
	case v.Status == string(flashsale.TicketSoldOut):
		event = "queue.sold_out"
	}
	p.last = v
	data, err := json.Marshal(struct {
		Type string `json:"type"`
		ticketView
	}{event, v})
	if err != nil {
		return err
	}
	return stream.write(fmt.Sprintf("event: %s\ndata: %s\n\n", event, data))
}
