package http

import (
	"net/http"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/checkout"
)

// entryView is a shopper's entry of an item in a lottery sale.
type entryView struct {
	EntryID   string    `json:"entry_id"`
	ItemID    string    `json:"item_id"`
	Status    string    `json:"status"`
	EnteredAt time.Time `json:"entered_at"`
	// OrderID is a won entry's reservation, Rank a waitlisted entry's
	// place on the waitlist.
	OrderID string `json:"order_id,omitempty"`
	Rank    int64  `json:"rank,omitempty"`
}

func newEntryView(e *flashsale.Entry) entryView {
	v := entryView{EntryID: e.ID, ItemID: e.ItemID, Status: string(e.Status), EnteredAt: e.EnteredAt}
	switch e.Status {
	case flashsale.EntryWon:
		v.OrderID = e.OrderID
	case flashsale.EntryWaitlisted:
		v.Rank = e.Rank
	}
	return v
}

type enterRequest struct {
	ItemID string `json:"item_id"`
	// ShippingAddress is where a won unit goes, for sales that limit
	// purchases per address.
	ShippingAddress *flashsale.ShippingAddress `json:"shipping_address"`
	// PaymentToken is the card the entry claims, for sales that limit
	// purchases per card.
	PaymentToken string `json:"payment_token"`
}

func (s *server) handleEnterLottery() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req enterRequest
		if err := decode(w, r, &req, false); err != nil {
			s.error(w, r, err)
			return
		}
		if strings.TrimSpace(req.ItemID) == "" {
			s.error(w, r, flashsale.InvalidField("item_id", "item_id is required"))
			return
		}
		id := identityOf(r)
		entry, created, err := s.Checkout.EnterLottery(r.Context(), checkout.Enter{
			SaleID: r.PathValue("sale_id"), ItemID: req.ItemID, UserID: id.UserID, Account: id.Account,
			ShippingAddress: req.ShippingAddress, PaymentToken: req.PaymentToken,
			Challenge: r.Header.Get("Flashsale-Challenge"), Device: r.Header.Get("Flashsale-Device"), IP: s.clientIP(r),
		})
		if err != nil {
			s.error(w, r, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		writeJSON(w, status, newEntryView(entry))
	})
}

func (s *server) handleGetEntries() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entries, err := s.Checkout.LotteryEntries(r.Context(), r.PathValue("sale_id"), identityOf(r).UserID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		views := make([]entryView, len(entries))
		for i, e := range entries {
			views[i] = newEntryView(e)
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, struct {
			Entries []entryView `json:"entries"`
		}{views})
	})
}

// lotteryDrawView is a lottery's draw document: flashsale-draw-v1 per
// item over the ids of its entries.
type lotteryDrawView struct {
	Algorithm  string         `json:"algorithm"`
	Commitment string         `json:"commitment"`
	Status     string         `json:"status"`
	Seed       string         `json:"seed,omitempty"`
	Items      []itemDrawView `json:"items,omitempty"`
}

type itemDrawView struct {
	ItemID        string `json:"item_id"`
	EntriesDigest string `json:"entries_digest"`
	EntryCount    int64  `json:"entry_count"`
	EntriesURL    string `json:"entries_url"`
}

func (s *server) handleLotteryDraw() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saleID := r.PathValue("sale_id")
		d, err := s.Checkout.LotteryDraw(r.Context(), saleID)
		if err != nil {
			s.error(w, r, err)
			return
		}
		v := lotteryDrawView{Algorithm: "flashsale-draw-v1", Commitment: d.Commitment, Status: "open"}
		if !d.Drawn {
			w.Header().Set("Cache-Control", "public, max-age=1")
			writeJSON(w, http.StatusOK, v)
			return
		}
		v.Status, v.Seed = "drawn", d.Seed
		for _, it := range d.Items {
			v.Items = append(v.Items, itemDrawView{ItemID: it.ItemID, EntriesDigest: it.EntriesDigest,
				EntryCount: it.EntryCount, EntriesURL: "/flash-sales/" + saleID + "/draw/" + it.ItemID + "/entries"})
		}
		// Drawn once: the document never changes again.
		w.Header().Set("Cache-Control", "public, max-age=60")
		writeJSON(w, http.StatusOK, v)
	})
}

// handleLotteryDrawEntries lists an item's entry ids, one per line in
// ascending byte order, as its entries_digest was computed over them.
func (s *server) handleLotteryDrawEntries() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids, err := s.Checkout.LotteryDrawEntries(r.Context(), r.PathValue("sale_id"), r.PathValue("item_id"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		writeEntryList(w, ids)
	})
}
