package flashsale

import "time"

// The refusals of a reservation, each written once. Every inventory (the
// embedded engine, the Redis scripts' Go side) and place-order's early
// answers build them here, so a refusal reads the same whichever part
// decides it; inventorytest holds the inventories to code and message.
//
// An *Error is never changed once made: a value may be shared by many
// answers at once, as the rush's "sold out" is.

var errSoldOut = &Error{Code: ESoldOut, Message: "the item is sold out"}

// SoldOut refuses a reservation for want of units: left is how many
// remain (fewer than asked). With none left it is one shared value, the
// rush's answer, made without an allocation.
func SoldOut(left int64) *Error {
	if left <= 0 {
		return errSoldOut
	}
	return Errorf(ESoldOut, "only %d left", left)
}

// AlreadyPurchased refuses a user whose reserved and confirmed units
// (held) leave no room under the per-user limit.
func AlreadyPurchased(held, limit int64) *Error {
	return Errorf(EAlreadyPurchased, "you already have %d of the %d allowed per customer", held, limit)
}

// SaleNotStartedYet refuses a reservation before the sale's start.
func SaleNotStartedYet() *Error { return Errorf(ESaleNotActive, "the sale has not started yet") }

// SaleStartsAt is SaleNotStartedYet from one that knows the start: the
// answer carries it, so that a client counts down instead of retrying.
func SaleStartsAt(start time.Time) *Error {
	e := SaleNotStartedYet()
	e.StartsAt = start.UTC()
	return e
}

// SaleHasEnded refuses a reservation at or after the sale's end.
func SaleHasEnded() *Error { return Errorf(ESaleNotActive, "the sale has ended") }

// InvalidQuantity refuses a quantity below one.
func InvalidQuantity() *Error {
	return Errorf(EInvalidQuantity, "the quantity must be a positive whole number")
}

// QuantityExceedsLimit refuses a quantity over the per-user limit.
func QuantityExceedsLimit(limit int64) *Error {
	return Errorf(EQuantityExceedsLimit, "at most %d per customer", limit)
}

// ItemNotOnSale answers an item the inventory does not hold.
func ItemNotOnSale() *Error { return Errorf(EItemNotFound, "the item is not on sale") }

// ItemOfAnotherSale answers an item asked for under a sale it is not part
// of.
func ItemOfAnotherSale() *Error { return Errorf(EItemNotFound, "the item is not part of this sale") }

// AdmissionRequired refuses a place-order of a sale with a waiting room
// that does not carry the user's own admission token, unexpired.
func AdmissionRequired() *Error {
	return Errorf(EAdmissionRequired, "this sale admits buyers through its waiting room: join it (POST /flash-sales/{sale_id}/queue) and send the admission token you are given in the Flashsale-Admission header")
}
