// Package redis is the distributed inventory: the hot state of every item in
// Redis (standalone or Cluster), changed only by Lua scripts, each of which
// makes one whole change atomically, so any number of service instances can
// share it. It answers exactly as the embedded inventory (package memory)
// does; both pass inventorytest.Run.
//
// A mutating script that timed out may have run, so the client must not send
// it again on its own: Connect turns rueidis's automatic retries off. A
// caller may retry any call itself: Reserve is idempotent on the request's
// OrderID, Confirm and Release on the order, and Load replaces the item with
// the same snapshot again.
//
// The inventory is also a flashsale.SoldOutSignal: each process refuses a
// sold-out item itself, kept honest by Run, which hears on Redis pub/sub
// when stock comes back (see soldout.go).
package redis

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
)

var (
	//go:embed load.lua
	loadLua string
	//go:embed reserve.lua
	reserveLua string
	//go:embed confirm.lua
	confirmLua string
	//go:embed release.lua
	releaseLua string
	//go:embed adjust.lua
	adjustLua string
	//go:embed due.lua
	dueLua string

	// The scripts run as EVALSHA, falling back to EVAL when the server does
	// not know them yet (after a restart or on a fresh shard).
	loadScript    = rueidis.NewLuaScript(loadLua)
	reserveScript = rueidis.NewLuaScript(reserveLua)
	confirmScript = rueidis.NewLuaScript(confirmLua)
	releaseScript = rueidis.NewLuaScript(releaseLua)
	dueScript     = rueidis.NewLuaScriptReadOnly(dueLua)
	adjustScript  = rueidis.NewLuaScript(adjustLua)
)

// Options configure an Inventory.
type Options struct {
	// KeyPrefix starts every key, so that several inventories can share a
	// server; production uses "fs". It is part of each item's hash tag and
	// so must not contain braces.
	KeyPrefix string
	// SoldOutMaxAge is how long a sold-out flag is believed without asking
	// Redis again, should the restock that ends it go unheard (see
	// soldout.go); zero or less means one second.
	SoldOutMaxAge time.Duration
	// Now is the clock the sold-out flags' max age is measured on;
	// time.Now when nil.
	Now func() time.Time
	// Logger hears of Run's lost subscriptions; nil means slog.Default().
	Logger *slog.Logger
}

// Inventory is the Redis flashsale.Inventory.
type Inventory struct {
	client rueidis.Client
	prefix string
	// restocked is the channel on which the scripts that give stock back
	// to a sold-out item publish its id.
	restocked string
	soldOut   soldOutFlags
	log       *slog.Logger
}

var (
	_ flashsale.Inventory     = (*Inventory)(nil)
	_ flashsale.SoldOutSignal = (*Inventory)(nil)
)

// NewInventory returns an inventory kept by client under opts.KeyPrefix. The
// client should come from Connect, or at least have DisableRetry set.
func NewInventory(client rueidis.Client, opts Options) *Inventory {
	if strings.ContainsAny(opts.KeyPrefix, "{}") {
		// A brace would move the hash tag: every item would share one
		// slot, or one item's keys would land on several.
		panic(fmt.Sprintf("redis: key prefix %q contains a brace", opts.KeyPrefix))
	}
	inv := &Inventory{client: client, prefix: opts.KeyPrefix, restocked: opts.KeyPrefix + ":restocked", log: opts.Logger}
	inv.soldOut.maxAge, inv.soldOut.now = opts.SoldOutMaxAge, opts.Now
	if inv.soldOut.now == nil {
		inv.soldOut.now = time.Now
	}
	if inv.soldOut.maxAge <= 0 {
		inv.soldOut.maxAge = time.Second
	}
	if inv.log == nil {
		inv.log = slog.Default()
	}
	return inv
}

// Load installs the item, replacing whatever the inventory held for it. An
// invalid snapshot (claims over the total, a duplicated order id, ...)
// installs nothing. A load ends the item's sold-out flag on every instance,
// since it may give stock and replaces the holders.
func (inv *Inventory) Load(ctx context.Context, snap flashsale.ItemSnapshot) error {
	if err := snap.Validate(); err != nil {
		return err
	}
	// The id joins the set Expiring reads before the item exists, so that
	// no loaded item's reservations are ever missed; an id whose item never
	// got installed is read as an item with nothing due.
	register := inv.client.B().Sadd().Key(inv.itemsKey()).Member(snap.ItemID).Build()
	if err := inv.client.Do(ctx, register).Error(); err != nil {
		return failure("load item "+snap.ItemID, err)
	}

	args := make([]string, 0, 8+2*len(snap.SoldByUser)+5*len(snap.Reservations))
	args = append(args, snap.ItemID, inv.restocked, snap.SaleID, strconv.FormatInt(snap.Total, 10), strconv.FormatInt(snap.PerUserLimit, 10),
		micros(snap.StartTime), micros(snap.EndTime), strconv.Itoa(len(snap.SoldByUser)))
	for userID, units := range snap.SoldByUser {
		args = append(args, userID, strconv.FormatInt(units, 10))
	}
	for _, r := range snap.Reservations {
		args = append(args, r.OrderID, r.UserID, strconv.FormatInt(r.Quantity, 10), micros(r.ReservedAt), micros(r.ExpiresAt))
	}
	if err := loadScript.Exec(ctx, inv.client, inv.itemKeys(snap.ItemID), args).Error(); err != nil {
		return failure("load item "+snap.ItemID, err)
	}
	return nil
}

// Reserve runs the whole reservation as one script.
func (inv *Inventory) Reserve(ctx context.Context, req flashsale.ReserveRequest) (flashsale.Reservation, error) {
	reservedAt, expiresAt := req.Now.UnixMicro(), req.Now.Add(req.TTL).UnixMicro()
	reply, err := reserveScript.Exec(ctx, inv.client, inv.reserveKeys(req.ItemID), reserveArgs(req, reservedAt, expiresAt)).ToArray()
	if err != nil {
		return flashsale.Reservation{}, failure("reserve order "+req.OrderID+" of item "+req.ItemID, err)
	}
	return inv.reserved(ctx, req, reply, reservedAt, expiresAt)
}

func reserveArgs(req flashsale.ReserveRequest, reservedAt, expiresAt int64) []string {
	return []string{
		req.SaleID, req.UserID, strconv.FormatInt(req.Quantity, 10), req.OrderID,
		strconv.FormatInt(reservedAt, 10), strconv.FormatInt(expiresAt, 10),
	}
}

// reserved decodes the reserve script's reply.
func (inv *Inventory) reserved(ctx context.Context, req flashsale.ReserveRequest, reply []rueidis.RedisMessage, reservedAt, expiresAt int64) (flashsale.Reservation, error) {
	if len(reply) == 0 {
		return flashsale.Reservation{}, fmt.Errorf("reserve order %s of item %s: empty reply", req.OrderID, req.ItemID)
	}
	outcome, err := reply[0].ToString()
	if err != nil {
		return flashsale.Reservation{}, fmt.Errorf("reserve order %s of item %s: %w", req.OrderID, req.ItemID, err)
	}
	switch outcome {
	case "new":
		if len(reply) == 2 {
			if left, err := reply[1].ToInt64(); err == nil && left == 0 {
				// The last unit: the next shoppers can be refused here
				// without a round trip, as after a sold_out reply.
				inv.learnSoldOut(ctx, req.ItemID)
			}
		}
		// Times as stored, so that the reservation equals what a retry or
		// Expiring returns later.
		return flashsale.Reservation{
			OrderID:    req.OrderID,
			SaleID:     req.SaleID,
			ItemID:     req.ItemID,
			UserID:     req.UserID,
			Quantity:   req.Quantity,
			ReservedAt: fromMicros(reservedAt),
			ExpiresAt:  fromMicros(expiresAt),
		}, nil
	case "existing":
		return existing(req, reply[1:])
	case "sold_out":
		if len(reply) == 2 {
			if left, err := reply[1].ToInt64(); err == nil && left == 0 {
				// Nothing left at all: from now on this process can refuse
				// the item's other shoppers itself.
				inv.learnSoldOut(ctx, req.ItemID)
			}
		}
		return flashsale.Reservation{}, refusal(req, outcome, reply[1:])
	default:
		return flashsale.Reservation{}, refusal(req, outcome, reply[1:])
	}
}

// existing decodes the reserve script's reply {order, record} about a live
// reservation: the one a retry made, or the user's.
func existing(req flashsale.ReserveRequest, details []rueidis.RedisMessage) (flashsale.Reservation, error) {
	var fields [2]string
	for i := range fields {
		if i >= len(details) {
			return flashsale.Reservation{}, fmt.Errorf("reserve order %s of item %s: short reply", req.OrderID, req.ItemID)
		}
		var err error
		if fields[i], err = details[i].ToString(); err != nil {
			return flashsale.Reservation{}, fmt.Errorf("reserve order %s of item %s: %w", req.OrderID, req.ItemID, err)
		}
	}
	r, err := decodeRecord(req.SaleID, req.ItemID, fields[0], fields[1])
	if err != nil {
		return flashsale.Reservation{}, err
	}
	r.Existing = true
	return r, nil
}

// refusal turns a refusing reply of the reserve script into the error the
// embedded inventory gives for the same reason.
func refusal(req flashsale.ReserveRequest, outcome string, details []rueidis.RedisMessage) error {
	numbers := make([]int64, len(details))
	for i, d := range details {
		n, err := d.ToInt64()
		if err != nil {
			return fmt.Errorf("reserve order %s of item %s: reply %q: %w", req.OrderID, req.ItemID, outcome, err)
		}
		numbers[i] = n
	}
	switch {
	case outcome == "item_not_found":
		return flashsale.ItemNotOnSale()
	case outcome == "other_sale":
		return flashsale.ItemOfAnotherSale()
	case outcome == "not_started":
		return flashsale.SaleNotStartedYet()
	case outcome == "ended":
		return flashsale.SaleHasEnded()
	case outcome == "invalid_quantity":
		return flashsale.InvalidQuantity()
	case outcome == "quantity_exceeds_limit" && len(numbers) == 1:
		return flashsale.QuantityExceedsLimit(numbers[0])
	case outcome == "order_taken":
		return fmt.Errorf("order id %s is already another user's reservation", req.OrderID)
	case outcome == "already_purchased" && len(numbers) == 2:
		return flashsale.AlreadyPurchased(numbers[0], numbers[1])
	case outcome == "sold_out" && len(numbers) == 1:
		return flashsale.SoldOut(numbers[0])
	}
	return fmt.Errorf("reserve order %s of item %s: unexpected reply %q %v", req.OrderID, req.ItemID, outcome, numbers)
}

// Confirm turns the reservation's units into sold units. An order that is
// not live (already confirmed, released, or never reserved) changes nothing.
func (inv *Inventory) Confirm(ctx context.Context, itemID, orderID string) error {
	return inv.runStep(ctx, confirmScript, "confirm", itemID, orderID, []string{orderID})
}

// Release returns the reservation's units to stock and frees the user's share
// of the limit. An order that is not live changes nothing; in particular a
// confirmed order's units stay sold. Units that are the first to come back
// to a sold-out item reopen it on every instance (see soldout.go).
func (inv *Inventory) Release(ctx context.Context, itemID, orderID string) error {
	err := inv.runStep(ctx, releaseScript, "release", itemID, orderID, []string{orderID, itemID, inv.restocked})
	if err == nil {
		// This instance needs no message to know: the shopper who
		// cancelled, and the next one here, see the unit at once.
		inv.soldOut.restocked(itemID)
	}
	return err
}

// Adjust sets the item's total and end in one script (adjust.lua).
func (inv *Inventory) Adjust(ctx context.Context, itemID string, w flashsale.ItemWindow) error {
	reply := adjustScript.Exec(ctx, inv.client, inv.itemKeys(itemID)[:1],
		[]string{strconv.FormatInt(w.Total, 10), micros(w.EndTime), itemID, inv.restocked})
	if outcome, err := reply.ToString(); err == nil {
		switch outcome {
		case "ok":
			inv.soldOut.restocked(itemID)
			return nil
		case "item_not_found":
			return flashsale.ItemNotOnSale()
		}
		return fmt.Errorf("adjust item %s: unexpected reply %q", itemID, outcome)
	}
	fields, err := reply.ToArray()
	if err != nil {
		return failure("adjust item "+itemID, err)
	}
	if len(fields) == 2 {
		if code, _ := fields[0].ToString(); code == "below_claims" {
			claimed, _ := fields[1].AsInt64()
			return flashsale.TotalBelowClaims(claimed)
		}
	}
	return fmt.Errorf("adjust item %s: unexpected reply", itemID)
}

// runStep runs the confirm or release script with args.
func (inv *Inventory) runStep(ctx context.Context, script *rueidis.Lua, verb, itemID, orderID string, args []string) error {
	outcome, err := script.Exec(ctx, inv.client, inv.itemKeys(itemID), args).ToString()
	switch {
	case err != nil:
		return failure(verb+" order "+orderID+" of item "+itemID, err)
	case outcome == "item_not_found":
		return flashsale.ItemNotOnSale()
	case outcome != "ok":
		return fmt.Errorf("%s order %s of item %s: unexpected reply %q", verb, orderID, itemID, outcome)
	}
	return nil
}

// Stock returns the item's counts, read in one command from one hash, so
// they are one consistent reading.
func (inv *Inventory) Stock(ctx context.Context, itemID string) (flashsale.Stock, error) {
	read := inv.client.B().Hmget().Key(inv.itemKeys(itemID)[0]).Field("total", "available", "reserved", "sold").Build()
	fields, err := inv.client.Do(ctx, read).ToArray()
	if err != nil {
		return flashsale.Stock{}, failure("stock of item "+itemID, err)
	}
	if len(fields) != 4 || fields[0].IsNil() {
		return flashsale.Stock{}, flashsale.ItemNotOnSale()
	}
	var counts [4]int64
	for i := range counts {
		if counts[i], err = fields[i].AsInt64(); err != nil {
			return flashsale.Stock{}, fmt.Errorf("stock of item %s: %w", itemID, err)
		}
	}
	return flashsale.Stock{Total: counts[0], Available: counts[1], Reserved: counts[2], Sold: counts[3]}, nil
}

// Expiring asks every loaded item for its first limit due reservations, all
// in one pipeline (each item to its own shard), and merges them earliest
// first, ties by order id, like the embedded inventory. Each item is read
// atomically, the items one after the other, never all at once.
func (inv *Inventory) Expiring(ctx context.Context, now time.Time, limit int) ([]flashsale.Reservation, error) {
	if limit <= 0 {
		return nil, nil
	}
	itemIDs, err := inv.client.Do(ctx, inv.client.B().Smembers().Key(inv.itemsKey()).Build()).AsStrSlice()
	if err != nil {
		return nil, failure("expiring", err)
	}
	if len(itemIDs) == 0 {
		return nil, nil
	}
	args := []string{micros(now), strconv.Itoa(limit)}
	reads := make([]rueidis.LuaExec, len(itemIDs))
	for i, itemID := range itemIDs {
		reads[i] = rueidis.LuaExec{Keys: inv.itemKeys(itemID), Args: args}
	}
	var due []flashsale.Reservation
	for i, result := range dueScript.ExecMulti(ctx, inv.client, reads...) {
		reply, err := result.AsStrSlice()
		if err != nil {
			return nil, failure("expiring of item "+itemIDs[i], err)
		}
		if len(reply) == 0 {
			continue // registered, but the item was never installed
		}
		saleID := reply[0]
		for j := 1; j+1 < len(reply); j += 2 {
			r, err := decodeRecord(saleID, itemIDs[i], reply[j], reply[j+1])
			if err != nil {
				return nil, err
			}
			due = append(due, r)
		}
	}
	slices.SortFunc(due, func(a, b flashsale.Reservation) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return strings.Compare(a.OrderID, b.OrderID)
	})
	return due[:min(len(due), limit)], nil
}
