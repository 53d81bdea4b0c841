package redis

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flashsale/flashsale"
)

// Key layout, for a prefix P and an item I. Every key of one item carries
// the hash tag {P:I}, so each script touches a single slot and Redis Cluster
// spreads items over its shards:
//
//	{P:I}:item    hash: sale, total, limit, start, end, available, reserved, sold
//	{P:I}:orders  hash: order id -> reservation record (see decodeRecord)
//	{P:I}:held    hash: user id -> reserved and confirmed units (the per-user limit)
//	{P:I}:live    hash: user id -> order id of the user's live reservation
//	{P:I}:expiry  sorted set: order id scored by its deadline (the expiry index)
//	{P:I}:outbox  stream: orders acknowledged but not yet in the store, when
//	              reservations are journaled (see journal.go)
//	{P:I}:acked   counter the journal writes to wait for the AOF's fsync
//	P:items       set of loaded item ids, for Expiring; in a slot of its own
//
// Times are whole microseconds since the Unix epoch: a Lua number and a
// sorted-set score are float64, which holds them exactly until the year
// 2255, where nanoseconds would already be rounded today.

// tag starts every key of one item.
func (inv *Inventory) tag(itemID string) string { return "{" + inv.prefix + ":" + itemID + "}:" }

// itemKeys returns the keys of one item in the order every script takes them.
func (inv *Inventory) itemKeys(itemID string) []string {
	tag := inv.tag(itemID)
	return []string{tag + "item", tag + "orders", tag + "held", tag + "live", tag + "expiry"}
}

// reserveKeys are itemKeys and the outbox, which the reserve script also
// takes.
func (inv *Inventory) reserveKeys(itemID string) []string {
	tag := inv.tag(itemID)
	return []string{tag + "item", tag + "orders", tag + "held", tag + "live", tag + "expiry", tag + "outbox"}
}

// outboxKey is the item's journal; only the reserve script and the
// persister touch it.
func (inv *Inventory) outboxKey(itemID string) string { return inv.tag(itemID) + "outbox" }

func (inv *Inventory) ackKey(itemID string) string { return inv.tag(itemID) + "acked" }

func (inv *Inventory) itemsKey() string { return inv.prefix + ":items" }

// micros is how a time goes into Redis. Finer precision is dropped
// (rounded down), so a caller gets back its times to the microsecond.
func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// fromMicros is how a time comes out of Redis.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// decodeRecord rebuilds the reservation of orderID from its record in the
// orders hash, which the scripts write as "quantity:reservedAt:expiresAt:userID":
// the user id comes last because it is the one field that may contain a colon.
func decodeRecord(saleID, itemID, orderID, record string) (flashsale.Reservation, error) {
	fields := strings.SplitN(record, ":", 4)
	if len(fields) != 4 {
		return flashsale.Reservation{}, fmt.Errorf("order %s of item %s: malformed record %q", orderID, itemID, record)
	}
	var numbers [3]int64
	for i := range numbers {
		n, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return flashsale.Reservation{}, fmt.Errorf("order %s of item %s: malformed record %q", orderID, itemID, record)
		}
		numbers[i] = n
	}
	return flashsale.Reservation{
		OrderID:    orderID,
		SaleID:     saleID,
		ItemID:     itemID,
		UserID:     fields[3],
		Quantity:   numbers[0],
		ReservedAt: fromMicros(numbers[1]),
		ExpiresAt:  fromMicros(numbers[2]),
	}, nil
}
