package loadtest

import (
	"net/http"
	"testing"
	"time"
)

// Two presses of one user answered 201 and 200 with the same order may
// reach the ledger in either order: the 201 still counts once as the
// order's creation, and only a second 201 is a violation.
func TestLedgerTakesThe201AfterThe200(t *testing.T) {
	l := newLedger()
	u := &simUser{id: "alice"}
	body := []byte(`{"order_id":"order-1","item_id":"item-1"}`)
	start := time.Now()

	if _, isNew := l.reserved(u, "item-1", response{status: http.StatusOK, body: body}, start); !isNew {
		t.Fatal("the first answer's order is not new to the ledger")
	}
	if _, isNew := l.reserved(u, "item-1", response{status: http.StatusCreated, body: body}, start); isNew {
		t.Error("the order was settled twice")
	}
	if len(l.violations) != 0 || l.recovered != 0 || l.item("item-1").created != 1 || l.reservations.people != 1 {
		t.Errorf("violations %v, %d recovered, %d created, reservations %+v: want one 201, nothing recovered",
			l.violations, l.recovered, l.item("item-1").created, l.reservations)
	}

	l.reserved(u, "item-1", response{status: http.StatusCreated, body: body}, start)
	if len(l.violations) != 1 || l.item("item-1").created != 1 {
		t.Errorf("violations %v, %d created: want a second 201 caught", l.violations, l.item("item-1").created)
	}
}
