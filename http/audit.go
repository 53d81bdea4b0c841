package http

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale"
)

// audited records each admin action that changed something: who (the
// admin token's sub), the action, when, its body, and the sale as its
// page showed it before and as the action answered after. The record
// follows the action: an instance that dies between the two loses the
// record, never the action.
func (s *server) audited(action string, next http.Handler) http.Handler {
	if s.Audit == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body as the action reads it, through its own checks (a body
		// refused by its headers alone is never read: see decode).
		var body bytes.Buffer
		r.Body = readCloser{io.TeeReader(r.Body, &body), r.Body}
		saleID := r.PathValue("sale_id")
		var before []byte
		if saleID != "" {
			if sale, err := s.Checkout.Sale(r.Context(), saleID); err == nil {
				before, _ = json.Marshal(newSaleView(sale, s.now(), nil))
			}
		}
		answer := &capturedAnswer{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(answer, r)
		if answer.status >= 300 {
			return
		}
		if saleID == "" { // a new sale: its id is in the answer
			var created struct {
				SaleID string `json:"sale_id"`
			}
			json.Unmarshal(answer.body.Bytes(), &created)
			saleID = created.SaleID
		}
		e := flashsale.AuditEntry{ID: uuid.Must(uuid.NewV7()).String(), SaleID: saleID, Admin: identityOf(r).UserID,
			Action: action, At: s.now(), Request: jsonOrNil(body.Bytes()), Before: before, After: jsonOrNil(answer.body.Bytes())}
		if err := s.Audit.RecordAudit(r.Context(), e); err != nil {
			s.Logger.Error("audit record lost", "action", action, "sale_id", saleID, "admin", e.Admin, "err", err)
		}
	})
}

// jsonOrNil is b when it is JSON, else nil: the log keeps JSON only.
func jsonOrNil(b []byte) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 || !json.Valid(b) {
		return nil
	}
	return b
}

// readCloser reads from one reader and closes another.
type readCloser struct {
	io.Reader
	io.Closer
}

// capturedAnswer keeps a copy of the answer an audited action writes.
type capturedAnswer struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *capturedAnswer) WriteHeader(status int) {
	c.status = status
	c.ResponseWriter.WriteHeader(status)
}

func (c *capturedAnswer) Write(b []byte) (int, error) {
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
}

// auditView is one admin action as GET /admin/audit lists it.
type auditView struct {
	AuditID string          `json:"audit_id"`
	SaleID  string          `json:"sale_id"`
	Admin   string          `json:"admin"`
	Action  string          `json:"action"`
	At      time.Time       `json:"at"`
	Request json.RawMessage `json:"request,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

// maxAuditPage bounds the entries one listing returns.
const maxAuditPage = 1000

func (s *server) handleAudit() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saleID := r.URL.Query().Get("sale_id")
		if saleID == "" {
			s.error(w, r, flashsale.InvalidField("sale_id", "sale_id is required: the audit log is listed per sale"))
			return
		}
		limit := 100
		if text := r.URL.Query().Get("limit"); text != "" {
			n, err := strconv.Atoi(text)
			if err != nil || n < 1 || n > maxAuditPage {
				s.error(w, r, flashsale.InvalidField("limit", "limit must be a whole number from 1 to %d", maxAuditPage))
				return
			}
			limit = n
		}
		entries, err := s.Audit.AuditEntries(r.Context(), saleID, limit)
		if err != nil {
			s.error(w, r, err)
			return
		}
		v := struct {
			Entries []auditView `json:"entries"`
		}{Entries: make([]auditView, len(entries))}
		for i, e := range entries {
			v.Entries[i] = auditView{AuditID: e.ID, SaleID: e.SaleID, Admin: e.Admin, Action: e.Action, At: e.At,
				Request: e.Request, Before: e.Before, After: e.After}
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, v)
	})
}
