//go:build unix

package deploy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/flashsale/flashsale/auth"
	"github.com/flashsale/flashsale/checkout"
	fhttp "github.com/flashsale/flashsale/http"
	"github.com/flashsale/flashsale/memory"
	"github.com/flashsale/flashsale/paysim"
	"github.com/flashsale/flashsale/ratelimit"
	"github.com/flashsale/flashsale/sqlite"
)

// TestInFrontOfFlashsale runs nginx.conf in front of two real flashsale
// servers (one process, one store and one limiter between them, as a fleet
// shares Redis): a sale is created, its page cached and revalidated, an
// order placed and read back, and a spoofed X-Forwarded-For tried against
// the per-IP limit.
func TestInFrontOfFlashsale(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "flashsale.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	service, err := checkout.New(checkout.Config{
		Inventory: memory.NewInventory(), Store: store, Payments: paysim.New(paysim.Options{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewHS256([]byte("deploy-test-secret-deploy-test-secret"))
	if err != nil {
		t.Fatal(err)
	}
	ipPolicy, err := ratelimit.ParsePolicy("8/m")
	if err != nil {
		t.Fatal(err)
	}
	limits := &fhttp.Limits{Limiter: ratelimit.NewMemory(), IP: ipPolicy}
	var addrs []string
	for range 2 {
		server := httptest.NewServer(fhttp.NewServer(fhttp.Deps{
			Checkout: service,
			Verify: func(token string) (fhttp.Identity, error) {
				c, err := tokens.Verify(token)
				return fhttp.Identity{UserID: c.UserID, Admin: c.Admin}, err
			},
			Limits:         limits,
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, // nginx
		}))
		t.Cleanup(server.Close)
		addrs = append(addrs, server.Listener.Addr().String())
	}
	nginx := startNginx(t, addrs)
	client := &http.Client{Timeout: 5 * time.Second}
	bearer := func(user string, admin bool) http.Header {
		token, err := tokens.Mint(user, admin, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	}
	call := func(method, path, body string, header http.Header) (*http.Response, string) {
		t.Helper()
		return do(t, client, nginx.url, method, path, body, header)
	}

	now := time.Now().UTC()
	resp, body := call("POST", "/admin/flash-sales", fmt.Sprintf(`{"name":"Launch",
		"start_time":%q,"end_time":%q,"items":[{"product_id":"p1","name":"Phone",
		"original_price":"999.00","sale_price":"499.00","currency":"USD","total_quantity":5,"per_user_limit":1}]}`,
		now.Add(-time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)), bearer("admin", true))
	var sale struct {
		SaleID string `json:"sale_id"`
		Items  []struct {
			ItemID string `json:"item_id"`
		} `json:"items"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &sale) != nil || len(sale.Items) != 1 {
		t.Fatalf("create sale: %d %s", resp.StatusCode, body)
	}

	// The sale page: fetched once, then from the cache, then 304.
	path := "/flash-sales/" + sale.SaleID
	miss, _ := call("GET", path, "", nil)
	hit, _ := call("GET", path, "", nil)
	if miss.StatusCode != http.StatusOK || miss.Header.Get("X-Cache-Status") != "MISS" || hit.Header.Get("X-Cache-Status") != "HIT" {
		t.Fatalf("sale page twice: %d %q then %q, want 200 MISS then HIT", miss.StatusCode,
			miss.Header.Get("X-Cache-Status"), hit.Header.Get("X-Cache-Status"))
	}
	if miss.Header.Get("RateLimit") == "" || hit.Header.Get("RateLimit") != "" {
		t.Errorf("RateLimit %q on the fetch, %q from the cache: want it only on the fetch",
			miss.Header.Get("RateLimit"), hit.Header.Get("RateLimit"))
	}
	etag := miss.Header.Get("ETag")
	if resp, _ := call("GET", path, "", http.Header{"If-None-Match": {etag}}); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: %d, want 304", etag, resp.StatusCode)
	}

	// An order, placed and read back through nginx.
	user := bearer("user-1", false)
	resp, body = call("POST", path+"/orders", fmt.Sprintf(`{"item_id":%q,"quantity":1}`, sale.Items[0].ItemID), user)
	var order struct {
		OrderID string `json:"order_id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &order) != nil {
		t.Fatalf("place order: %d %s", resp.StatusCode, body)
	}
	resp, _ = call("GET", "/orders/"+order.OrderID, "", user)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Cache-Status") != "" {
		t.Errorf("get order: %d, cache status %q; want 200 and no cache", resp.StatusCode, resp.Header.Get("X-Cache-Status"))
	}

	// Use up this client's per-IP limit (8/m; 4 requests so far reached
	// an instance), then claim to be someone else: flashsale must still
	// see 127.0.0.1, so the claim changes nothing.
	limited := false
	for range 8 {
		if resp, _ := call("GET", "/orders/"+order.OrderID, "", user); resp.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("the per-IP limit of 8/m never answered 429")
	}
	spoofed := bearer("user-1", false)
	spoofed.Set("X-Forwarded-For", "198.51.100.23")
	if resp, _ := call("GET", "/orders/"+order.OrderID, "", spoofed); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a spoofed X-Forwarded-For after the limit: %d, want 429 still", resp.StatusCode)
	}
}
