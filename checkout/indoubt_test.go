package checkout_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/memory"
)

// inDoubtStore commits every order and then answers as if the commit's
// answer had been lost.
type inDoubtStore struct {
	flashsale.OrderStore
}

func (s inDoubtStore) CreateOrder(ctx context.Context, o *flashsale.Order) error {
	if err := s.OrderStore.CreateOrder(ctx, o); err != nil {
		return err
	}
	return fmt.Errorf("commit: %w: connection reset", flashsale.ErrWriteInDoubt)
}

// A reservation whose commit is in doubt keeps its units: the order may be
// in the store, and releasing them could sell them twice. The user's retry
// finds the order.
func TestCommitInDoubtKeepsTheUnits(t *testing.T) {
	inventory := memory.NewInventory()
	svc, sale, place := newSaleWith(t, inventory, 1, func(s flashsale.OrderStore) flashsale.OrderStore { return inDoubtStore{s} })
	item := sale.Items[0].ID

	if _, _, err := place("alice"); !flashsale.IsCode(err, flashsale.EUnavailable) {
		t.Fatalf("place order with the commit in doubt: %v, want unavailable", err)
	}
	stock, err := svc.Stock(context.Background(), item)
	if err != nil {
		t.Fatal(err)
	}
	if stock.Reserved != 1 || stock.Available != 0 {
		t.Fatalf("stock after an in-doubt commit: %+v, want the unit still reserved", stock)
	}
	if _, _, err := place("bob"); !flashsale.IsCode(err, flashsale.ESoldOut) {
		t.Fatalf("bob: %v, want sold_out: the unit must not be sold twice", err)
	}
	order, created, err := place("alice")
	if err != nil || created || order.Status != flashsale.OrderReserved {
		t.Fatalf("alice's retry: %+v, created %v, %v; want her committed reservation", order, created, err)
	}
}
