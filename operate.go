package flashsale

import "time"

// ESaleEnded refuses a change of a sale that has ended: its orders are
// what they are.
const ESaleEnded = "sale_ended"

// EOrderNotRefundable refuses a refund of an order that is not confirmed.
const EOrderNotRefundable = "order_not_refundable"

// ReasonPaused is the reason of a sale_not_active answer while an operator
// has paused the sale.
const ReasonPaused = "paused"

// SalePaused refuses a reservation of a paused sale. Reservations already
// made stay, and are paid as usual.
func SalePaused() *Error {
	e := Errorf(ESaleNotActive, "the sale is paused; the shop will resume it")
	e.Reason = ReasonPaused
	return e
}

// SaleChange is an operator's change of a running sale (API.md, "Operating
// a sale"): what it leaves nil or empty stays as it is.
type SaleChange struct {
	SaleID string
	Paused *bool
	// EndTime ends the sale now or later (extends it).
	EndTime *time.Time
	// Restock adds units to items' available stock, by item id.
	Restock map[string]int64
	// At is when the change is made: a sale ended at At cannot change.
	At time.Time
}

// Changes reports whether the change changes anything.
func (c SaleChange) Changes() bool {
	return c.Paused != nil || c.EndTime != nil || len(c.Restock) > 0
}

// ChangeOfEndedSale refuses a change of a sale that has ended.
func ChangeOfEndedSale() *Error {
	return Errorf(ESaleEnded, "the sale has ended: it can no longer be changed")
}

// TotalBelowClaims refuses a total below the units an item's orders hold,
// reserved and sold.
func TotalBelowClaims(claimed int64) *Error {
	return Errorf(EInvalidQuantity, "the item's orders hold %d units already: its total cannot be below them", claimed)
}

// ItemWindow is what the hot state holds of an item that a sale change may
// change: its total units and the end of its sale.
type ItemWindow struct {
	Total   int64
	EndTime time.Time
}
