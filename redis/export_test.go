package redis

// For the benchmarks, which run the reserve script without the adapter to
// measure what the adapter costs.
var ReserveLua = reserveLua

func (inv *Inventory) ReserveKeys(itemID string) []string { return inv.reserveKeys(itemID) }

var StreamIDBefore = streamIDBefore
