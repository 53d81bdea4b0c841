package redis_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
)

// countingClient counts the commands sent through it (the sold-out tests'
// inventories, the limiter tests' limiters).
type countingClient struct {
	rueidis.Client
	commands atomic.Int64
}

func (c *countingClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	c.commands.Add(1)
	return c.Client.Do(ctx, cmd)
}

func (c *countingClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	c.commands.Add(int64(len(cmds)))
	return c.Client.DoMulti(ctx, cmds...)
}

// running returns an inventory whose Run lasts as long as the test.
func running(t *testing.T, client rueidis.Client, opts redis.Options) *redis.Inventory {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	inv := redis.NewInventory(client, opts)
	testenv.Background(t, inv.Run)
	return inv
}

// learnSoldOut has userID, who holds nothing, refused as sold out until the
// inventory answers it locally: Run's subscription starts asynchronously,
// and nothing is learned before it is confirmed.
func learnSoldOut(t *testing.T, inv *redis.Inventory, itemID, userID string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "item "+itemID+" sold out locally for "+userID, func() bool {
		if inv.SoldOutFor(itemID, userID) {
			return true
		}
		req := request(itemID, userID, uuid.NewString())
		if _, err := inv.Reserve(t.Context(), req); !flashsale.IsCode(err, flashsale.ESoldOut) {
			t.Fatalf("reserve by %s: %v, want sold_out", userID, err)
		}
		return false
	})
}

// awaitReopened waits until no instance answers the item as sold out for
// userID, and logs how long that took: with a max age of a minute, only
// the restock's message can reopen it within the wait.
func awaitReopened(t *testing.T, itemID, userID string, instances ...*redis.Inventory) {
	t.Helper()
	start := time.Now()
	testenv.Eventually(t, 10*time.Second, "item "+itemID+" reopened on every instance", func() bool {
		for _, inv := range instances {
			if inv.SoldOutFor(itemID, userID) {
				return false
			}
		}
		return true
	})
	t.Logf("item %s reopened on %d instance(s) after %s", itemID, len(instances), time.Since(start))
}

// marker is an item sold out on every listener, whose restock tells that
// the listeners heard every restock published before it: Redis delivers a
// channel's messages in the order the scripts published them.
type marker struct {
	publisher *redis.Inventory
	listeners []*redis.Inventory
}

func newMarker(t *testing.T, publisher *redis.Inventory, listeners ...*redis.Inventory) marker {
	t.Helper()
	if err := publisher.Load(t.Context(), snapshot("marker", 0)); err != nil {
		t.Fatal(err)
	}
	for _, l := range listeners {
		learnSoldOut(t, l, "marker", "nobody")
	}
	return marker{publisher, listeners}
}

// heard returns once every listener has heard what was published before.
func (m marker) heard(t *testing.T) {
	t.Helper()
	if err := m.publisher.Load(t.Context(), snapshot("marker", 1)); err != nil {
		t.Fatal(err)
	}
	awaitReopened(t, "marker", "nobody", m.listeners...)
}

// A sold-out item is refused in process, without a command to Redis,
// except to the users holding units of it, who still get their answers
// from Redis: a double click its reservation, a user at the limit
// already_purchased.
func TestSoldOutIsAnsweredLocally(t *testing.T) {
	ctx := t.Context()
	counting := &countingClient{Client: redistest.Connect(t, redistest.URL(t))}
	inv := running(t, counting, redis.Options{KeyPrefix: redistest.Prefix(t, counting.Client)})
	snap := snapshot("phone", 2)
	snap.PerUserLimit = 2
	if err := inv.Load(ctx, snap); err != nil {
		t.Fatal(err)
	}
	alice, err := inv.Reserve(ctx, request("phone", "alice", "order-alice"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := inv.Reserve(ctx, request("phone", "bob", "order-bob"))
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Confirm(ctx, "phone", bob.OrderID); err != nil {
		t.Fatal(err)
	}
	learnSoldOut(t, inv, "phone", "carol")

	before := counting.commands.Load()
	for i := range 10000 {
		if !inv.SoldOutFor("phone", fmt.Sprintf("late-%d", i)) {
			t.Fatalf("late shopper %d was not refused locally", i)
		}
	}
	if sent := counting.commands.Load() - before; sent != 0 {
		t.Fatalf("10000 local refusals sent %d commands to Redis", sent)
	}

	for _, holder := range []string{"alice", "bob"} {
		if inv.SoldOutFor("phone", holder) {
			t.Fatalf("%s holds a unit but was refused locally", holder)
		}
	}
	again, err := inv.Reserve(ctx, request("phone", "alice", "order-click"))
	if err != nil || !again.Existing || again.OrderID != alice.OrderID {
		t.Fatalf("alice's double click = %+v, %v; want her reservation", again, err)
	}
	limited := request("phone", "bob", "order-more")
	limited.Quantity = 2
	if _, err := inv.Reserve(ctx, limited); !flashsale.IsCode(err, flashsale.EAlreadyPurchased) {
		t.Fatalf("bob at the limit: %v, want already_purchased", err)
	}
	// Another item is not affected.
	if inv.SoldOutFor("tablet", "carol") {
		t.Fatal("an item never refused is sold out locally")
	}
}

// Without Run no restock would be heard, so nothing is learned.
func TestSoldOutNeedsRun(t *testing.T) {
	ctx := t.Context()
	inv := newInventory(t)
	if err := inv.Load(ctx, snapshot("phone", 0)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := inv.Reserve(ctx, request("phone", "carol", uuid.NewString())); !flashsale.IsCode(err, flashsale.ESoldOut) {
			t.Fatalf("reserve: %v, want sold_out", err)
		}
	}
	if inv.SoldOutFor("phone", "carol") {
		t.Fatal("an inventory without Run answers sold_out locally")
	}
}

// A restock on one instance reopens the item on every instance well under
// a second (the max age is a minute here: only the message can do it),
// whether units come back by a release or by a load.
func TestRestockReachesEveryInstance(t *testing.T) {
	ctx := t.Context()
	url := redistest.URL(t)
	here := redistest.Connect(t, url)
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, here), SoldOutMaxAge: time.Minute}
	a := running(t, here, opts)
	b := running(t, redistest.Connect(t, url), opts)
	if err := a.Load(ctx, snapshot("phone", 1)); err != nil {
		t.Fatal(err)
	}
	alice, err := a.Reserve(ctx, request("phone", "alice", "order-alice"))
	if err != nil {
		t.Fatal(err)
	}
	learnSoldOut(t, a, "phone", "bob")
	learnSoldOut(t, b, "phone", "bob")

	// Expiry, cancel and failed payment all release.
	if err := a.Release(ctx, "phone", alice.OrderID); err != nil {
		t.Fatal(err)
	}
	awaitReopened(t, "phone", "bob", a, b)

	// Sold out again, then confirmed: a sale returns nothing, so the flag
	// stays.
	dave, err := b.Reserve(ctx, request("phone", "dave", "order-dave"))
	if err != nil {
		t.Fatal(err)
	}
	learnSoldOut(t, a, "phone", "bob")
	learnSoldOut(t, b, "phone", "bob")
	heard := newMarker(t, a, a, b)
	if err := a.Confirm(ctx, "phone", dave.OrderID); err != nil {
		t.Fatal(err)
	}
	heard.heard(t)
	if !a.SoldOutFor("phone", "bob") || !b.SoldOutFor("phone", "bob") {
		t.Fatal("a confirmation reopened the sold-out item")
	}

	// A load with more units.
	more := snapshot("phone", 2)
	more.SoldByUser = map[string]int64{"dave": 1}
	if err := b.Load(ctx, more); err != nil {
		t.Fatal(err)
	}
	awaitReopened(t, "phone", "bob", a, b)
}

// gatedClient holds back the replies of the sold-out reading, while
// gated, until the test lets them through.
type gatedClient struct {
	rueidis.Client
	gated   atomic.Bool
	read    chan struct{} // a reading has been answered by Redis
	proceed chan struct{} // hand it to the inventory
}

func (c *gatedClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	// The sold-out reading is the one script sent with an item's five keys
	// and no argument.
	soldOutRead := len(cmd.Commands()) == 8 && cmd.Commands()[0] == "EVALSHA"
	result := c.Client.Do(ctx, cmd)
	if soldOutRead && c.gated.Load() {
		c.read <- struct{}{}
		<-c.proceed
	}
	return result
}

// A restock heard while an instance's reading of the item is on its way
// (Redis answered "sold out" just before the units came back) voids the
// reading: the flag would otherwise stay up with units available.
func TestRestockDuringLearning(t *testing.T) {
	ctx := t.Context()
	url := redistest.URL(t)
	here := redistest.Connect(t, url)
	gated := &gatedClient{Client: redistest.Connect(t, url), read: make(chan struct{}), proceed: make(chan struct{})}
	opts := redis.Options{KeyPrefix: redistest.Prefix(t, here), SoldOutMaxAge: time.Minute}
	a := running(t, here, opts)
	b := running(t, gated, opts)
	if err := a.Load(ctx, snapshot("phone", 1)); err != nil {
		t.Fatal(err)
	}
	first, err := a.Reserve(ctx, request("phone", "alice", "order-1"))
	if err != nil {
		t.Fatal(err)
	}
	learnSoldOut(t, b, "phone", "carol") // b's subscription is up
	if err := a.Release(ctx, "phone", first.OrderID); err != nil {
		t.Fatal(err)
	}
	awaitReopened(t, "phone", "carol", b)
	second, err := a.Reserve(ctx, request("phone", "alice", "order-2"))
	if err != nil {
		t.Fatal(err)
	}

	heard := newMarker(t, a, b)
	gated.gated.Store(true)
	refused := make(chan error, 1)
	go func() {
		_, err := b.Reserve(ctx, request("phone", "carol", "order-3"))
		refused <- err
	}()
	select {
	case <-gated.read:
	case <-time.After(10 * time.Second):
		t.Fatal("b never read whether the item sold out")
	}
	if err := a.Release(ctx, "phone", second.OrderID); err != nil {
		t.Fatal(err)
	}
	heard.heard(t) // b hears the restock while its reading is held back
	close(gated.proceed)
	if err := <-refused; !flashsale.IsCode(err, flashsale.ESoldOut) {
		t.Fatalf("carol's reservation: %v, want sold_out", err)
	}
	if b.SoldOutFor("phone", "carol") {
		t.Fatal("a reading older than the restock set the flag")
	}
}

// A restock that was never heard (here: stock changed behind the scripts'
// back, as if its message were lost) ends the flag within the max age.
func TestSoldOutMaxAge(t *testing.T) {
	const maxAge = time.Second
	client, inv, clock := soldOutPhone(t, maxAge)
	restockSilently(t, client, inv, "phone", 1)
	clock.Advance(maxAge - time.Nanosecond)
	if !inv.SoldOutFor("phone", "bob") {
		t.Fatal("the flag ended without a message or its max age")
	}
	clock.Advance(time.Nanosecond)
	if inv.SoldOutFor("phone", "bob") {
		t.Fatalf("the flag outlived its max age of %s", maxAge)
	}
}

// A flag that presses keep asking about is read again before it ends, so
// that the item stays flagged: in a sale with a waiting room the presses
// of shoppers not admitted never reach Redis to read it again themselves.
func TestSoldOutFlagRenewedWhileAsked(t *testing.T) {
	const maxAge = time.Second
	_, inv, clock := soldOutPhone(t, maxAge)
	clock.Advance(maxAge / 2)
	if !inv.SoldOutFor("phone", "bob") {
		t.Fatal("the flag ended at half its age")
	}
	clock.Advance(maxAge / 2)
	testenv.Eventually(t, 10*time.Second, "the flag read again", func() bool { return inv.SoldOutFor("phone", "bob") })
}

// soldOutPhone is a running inventory on a hand-moved clock, with flags
// believed for maxAge, that has learned the item "phone" sold out.
func soldOutPhone(t *testing.T, maxAge time.Duration) (rueidis.Client, *redis.Inventory, *testclock.Clock) {
	t.Helper()
	client := redistest.Connect(t, redistest.URL(t))
	clock := testclock.New(now)
	inv := running(t, client, redis.Options{KeyPrefix: redistest.Prefix(t, client), SoldOutMaxAge: maxAge, Now: clock.Now})
	if err := inv.Load(t.Context(), snapshot("phone", 0)); err != nil {
		t.Fatal(err)
	}
	learnSoldOut(t, inv, "phone", "bob")
	return client, inv, clock
}

// restockSilently changes the item's available units without publishing.
func restockSilently(t *testing.T, client rueidis.Client, inv *redis.Inventory, itemID string, units int64) {
	t.Helper()
	change := client.B().Hincrby().Key(inv.ReserveKeys(itemID)[0]).Field("available").Increment(units).Build()
	if err := client.Do(t.Context(), change).Error(); err != nil {
		t.Fatal(err)
	}
}

// When the subscription's connection is lost, restocks published until it
// is back would go unheard: every flag is dropped, and the inventory
// learns again once Run has resubscribed.
func TestSoldOutFlagsDroppedWithTheSubscription(t *testing.T) {
	ctx := t.Context()
	url := redistest.URL(t)
	name := "fstest-soldout-" + uuid.NewString()
	named := url + "?client_name=" + name
	if strings.Contains(url, "?") {
		named = url + "&client_name=" + name
	}
	client := redistest.Connect(t, named)
	inv := running(t, client, redis.Options{KeyPrefix: redistest.Prefix(t, client), SoldOutMaxAge: time.Minute})
	if err := inv.Load(ctx, snapshot("phone", 0)); err != nil {
		t.Fatal(err)
	}
	learnSoldOut(t, inv, "phone", "bob")
	restockSilently(t, client, inv, "phone", 1)
	if !inv.SoldOutFor("phone", "bob") {
		t.Fatal("the flag ended without a message")
	}

	killSubscriber(t, redistest.Connect(t, url), name)
	awaitReopened(t, "phone", "bob", inv)
	restockSilently(t, client, inv, "phone", -1)
	learnSoldOut(t, inv, "phone", "bob")
}

// killSubscriber closes, from the server's side, the connection of the
// client called name that holds a subscription.
func killSubscriber(t *testing.T, admin rueidis.Client, name string) {
	t.Helper()
	list, err := admin.Do(t.Context(), admin.B().ClientList().Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	// Over RESP3 the list is a verbatim string, its format first.
	list = strings.TrimPrefix(list, "txt:")
	killed := 0
	for line := range strings.Lines(list) {
		fields := map[string]string{}
		for field := range strings.FieldsSeq(line) {
			key, value, _ := strings.Cut(field, "=")
			fields[key] = value
		}
		if fields["name"] != name || fields["sub"] == "0" {
			continue
		}
		id, err := strconv.ParseInt(fields["id"], 10, 64)
		if err != nil {
			t.Fatalf("client list: %q: %v", line, err)
		}
		if err := admin.Do(t.Context(), admin.B().ClientKill().Id(id).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		killed++
	}
	if killed != 1 {
		t.Fatalf("killed %d subscribed connections of %s, want 1", killed, name)
	}
}

// In a Redis Cluster a restock published by a script on the item's shard
// reaches instances subscribed on any node.
func TestRestockReachesEveryInstanceInACluster(t *testing.T) {
	url := redistest.StartCluster(t, 3)
	opts := redis.Options{KeyPrefix: "fstest-soldout", SoldOutMaxAge: time.Minute}
	a := running(t, redistest.Connect(t, url), opts)
	b := running(t, redistest.Connect(t, url), opts)

	// Enough items that some live on shards other than the subscribers'.
	ctx := t.Context()
	for i := range 6 {
		itemID := fmt.Sprintf("item-%d", i)
		if err := a.Load(ctx, snapshot(itemID, 1)); err != nil {
			t.Fatal(err)
		}
		alice, err := a.Reserve(ctx, request(itemID, "alice", "order-"+itemID))
		if err != nil {
			t.Fatal(err)
		}
		learnSoldOut(t, a, itemID, "bob")
		learnSoldOut(t, b, itemID, "bob")
		if err := b.Release(ctx, itemID, alice.OrderID); err != nil {
			t.Fatal(err)
		}
		awaitReopened(t, itemID, "bob", a, b)
	}
}

// Taking the last unit flags the item at once: the next shopper is refused
// without a round trip, and Subscribed says when flags are being learned.
func TestLastUnitFlagsTheItem(t *testing.T) {
	client := redistest.Connect(t, redistest.URL(t))
	inv := redis.NewInventory(client, redis.Options{KeyPrefix: redistest.Prefix(t, client), SoldOutMaxAge: time.Minute,
		Logger: slog.New(slog.DiscardHandler)})
	redistest.Run(t, inv)
	if err := inv.Load(t.Context(), snapshot("phone", 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := inv.Reserve(t.Context(), request("phone", "alice", uuid.NewString())); err != nil {
		t.Fatal(err)
	}
	if inv.SoldOutFor("phone", "carol") {
		t.Fatal("flagged sold out with a unit left")
	}
	if _, err := inv.Reserve(t.Context(), request("phone", "bob", uuid.NewString())); err != nil {
		t.Fatal(err)
	}
	if !inv.SoldOutFor("phone", "carol") {
		t.Error("the last unit's reservation did not flag the item for others")
	}
	if inv.SoldOutFor("phone", "bob") || inv.SoldOutFor("phone", "alice") {
		t.Error("a holder is told sold out")
	}
}

// deafClient hears no message on its subscriptions, as when a restock's
// message is still on its way.
type deafClient struct{ rueidis.Client }

func (c deafClient) Receive(ctx context.Context, subscribe rueidis.Completed, _ func(rueidis.PubSubMessage)) error {
	return c.Client.Receive(ctx, subscribe, func(rueidis.PubSubMessage) {})
}

// The instance that releases units reopens the item for its own shoppers
// at once, without waiting for its restock message: the shopper who just
// cancelled, or the next one on the same instance, must not be told sold
// out about a unit this instance put back.
func TestOwnReleaseReopensAtOnce(t *testing.T) {
	ctx := t.Context()
	client := deafClient{redistest.Connect(t, redistest.URL(t))}
	inv := running(t, client, redis.Options{KeyPrefix: redistest.Prefix(t, client.Client), SoldOutMaxAge: time.Hour})
	if err := inv.Load(ctx, snapshot("phone", 1)); err != nil {
		t.Fatal(err)
	}
	alice, err := inv.Reserve(ctx, request("phone", "alice", "order-alice"))
	if err != nil {
		t.Fatal(err)
	}
	learnSoldOut(t, inv, "phone", "carol")
	if err := inv.Release(ctx, "phone", alice.OrderID); err != nil {
		t.Fatal(err)
	}
	if inv.SoldOutFor("phone", "carol") {
		t.Fatal("the instance that released the unit still answers sold out")
	}
}
