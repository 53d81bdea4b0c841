package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
)

// TestMain lets a test start this very binary as the real program in a
// child process (FLASHSALE_TEST_RUN_MAIN=1), so it can be killed with
// SIGKILL like a crashing server.
func TestMain(m *testing.M) {
	if os.Getenv("FLASHSALE_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const testSecret = "cmd-test-secret-cmd-test-secret"

// waitForURL waits until the program prints its address.
func waitForURL(t *testing.T, out *lineWatcher) string {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, "the server to print its address", func() bool { return out.url() != "" })
	return out.url()
}

// testEnv is a test's environment: the settings every test needs, then
// the test's own as VARIABLE=value, which take precedence.
func testEnv(dataDir string, settings ...string) func(string) string {
	env := map[string]string{
		"FLASHSALE_JWT_SECRET":            testSecret,
		"FLASHSALE_DATA_DIR":              dataDir,
		"FLASHSALE_ADDR":                  "127.0.0.1:0",
		"FLASHSALE_RATE_LIMIT_ORDER_USER": "off",
		"FLASHSALE_RATE_LIMIT_IP":         "off",
	}
	for _, s := range settings {
		k, v, _ := strings.Cut(s, "=")
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// startInProcess runs 'flashsale serve' in this process until the returned
// stop function cancels it; stop returns run's error.
func startInProcess(t *testing.T, dataDir string, extra ...string) (string, func() error) {
	t.Helper()
	url, _, stop := startWatched(t, dataDir, extra...)
	return url, stop
}

// startWatched is startInProcess that also returns what the program
// printed and logged.
func startWatched(t *testing.T, dataDir string, extra ...string) (string, *lineWatcher, func() error) {
	t.Helper()
	return startWithEnv(t, testEnv(dataDir), extra...)
}

// startWithEnv is startWatched with an environment of the test's own.
func startWithEnv(t *testing.T, getenv func(string) string, extra ...string) (string, *lineWatcher, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWatcher{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"flashsale", "serve"}, extra...), getenv, out, out) }()
	url := waitForURL(t, out)
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("serve did not stop within 30 s")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return url, out, stop
}

// mint runs 'flashsale token'.
func mint(t *testing.T, user string, admin bool) string {
	t.Helper()
	args := []string{"flashsale", "token", "--user", user}
	if admin {
		args = append(args, "--admin")
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, testEnv(""), &out, &errOut); err != nil {
		t.Fatalf("token: %v %s", err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

type client struct {
	t    *testing.T
	base string
}

func (c client) call(method, path, token string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// saleWithOrders creates a sale and leaves it with one order in each state
// that must survive a restart.
func saleWithOrders(t *testing.T, c client) (saleID, itemID string, orders map[string]string) {
	t.Helper()
	admin := mint(t, "admin", true)
	now := time.Now().UTC()
	status, sale := c.call("POST", "/admin/flash-sales", admin, map[string]any{
		"name": "Restart", "start_time": now.Add(-time.Minute).Format(time.RFC3339), "end_time": now.Add(time.Hour).Format(time.RFC3339),
		"items": []map[string]any{{"product_id": "p", "name": "Phone", "original_price": "10.00", "sale_price": "5.00",
			"currency": "USD", "total_quantity": 10, "per_user_limit": 1}},
	})
	if status != 201 {
		t.Fatalf("create sale: %d %v", status, sale)
	}
	saleID = sale["sale_id"].(string)
	itemID = sale["items"].([]any)[0].(map[string]any)["item_id"].(string)
	orders = map[string]string{}
	for _, user := range []string{"paid", "reserved", "cancelled"} {
		status, o := c.call("POST", "/flash-sales/"+saleID+"/orders", mint(t, user, false), map[string]any{"item_id": itemID, "quantity": 1})
		if status != 201 {
			t.Fatalf("order for %s: %d %v", user, status, o)
		}
		orders[user] = o["order_id"].(string)
	}
	if s, b := c.call("POST", "/orders/"+orders["paid"]+"/pay", mint(t, "paid", false), map[string]any{"payment_token": "tok_visa", "payment_method": "credit_card"}); s != 200 {
		t.Fatalf("pay: %d %v", s, b)
	}
	if s, b := c.call("POST", "/orders/"+orders["cancelled"]+"/cancel", mint(t, "cancelled", false), nil); s != 200 {
		t.Fatalf("cancel: %d %v", s, b)
	}
	return saleID, itemID, orders
}

// checkSurvivors asserts the state saleWithOrders left, after a restart.
func checkSurvivors(t *testing.T, c client, saleID string, orders map[string]string) {
	t.Helper()
	for user, want := range map[string]string{"paid": "confirmed", "reserved": "reserved", "cancelled": "cancelled"} {
		s, o := c.call("GET", "/orders/"+orders[user], mint(t, user, false), nil)
		if s != 200 || o["status"] != want {
			t.Errorf("%s's order after restart: %d %v, want %s", user, s, o["status"], want)
		}
	}
	_, stats := c.call("GET", "/admin/flash-sales/"+saleID+"/stats", mint(t, "admin", true), nil)
	it := stats["items"].([]any)[0].(map[string]any)
	if it["available"] != 8.0 || it["reserved"] != 1.0 || it["sold"] != 1.0 || it["total"] != 10.0 {
		t.Errorf("stock after restart: %v, want 8 available, 1 reserved, 1 sold", it)
	}
	// The reservation still counts against its user: a double click
	// returns it rather than taking a second unit.
	itemID := it["item_id"].(string)
	s, o := c.call("POST", "/flash-sales/"+saleID+"/orders", mint(t, "reserved", false), map[string]any{"item_id": itemID, "quantity": 1})
	if s != 200 || o["order_id"] != orders["reserved"] {
		t.Errorf("double click after restart: %d %v", s, o)
	}
}

func TestGracefulRestartKeepsEveryOrder(t *testing.T) {
	dir := t.TempDir()
	url, stop := startInProcess(t, dir)
	saleID, _, orders := saleWithOrders(t, client{t, url})
	if err := stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	url, _ = startInProcess(t, dir)
	checkSurvivors(t, client{t, url}, saleID, orders)
}

// startChild runs 'flashsale serve' as a process of its own (this test
// binary, see TestMain), with env added to the test's environment, so that
// it can be killed like a crashing server. It is killed when the test ends.
func startChild(t *testing.T, env ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = append(os.Environ(), "FLASHSALE_TEST_RUN_MAIN=1", "FLASHSALE_JWT_SECRET="+testSecret,
		"FLASHSALE_ADDR=127.0.0.1:0", "FLASHSALE_RATE_LIMIT_ORDER_USER=off", "FLASHSALE_RATE_LIMIT_IP=off")
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	// main reads os.Args: the child sees "<test binary> serve".
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out := &lineWatcher{}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(out, sc.Text())
		}
	}()
	return waitForURL(t, out), cmd
}

func TestKill9KeepsEveryAcknowledgedOrder(t *testing.T) {
	dir := t.TempDir()
	url, cmd := startChild(t, "FLASHSALE_DATA_DIR="+dir)
	saleID, _, orders := saleWithOrders(t, client{t, url})

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	url, _ = startInProcess(t, dir)
	checkSurvivors(t, client{t, url}, saleID, orders)
}

func TestDemoPrintsWorkingTokensAndSale(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lineWatcher{}
	env := testEnv(t.TempDir())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"flashsale", "serve", "--demo"}, env, out, out) }()
	url := waitForURL(t, out)
	testenv.Eventually(t, 10*time.Second, "the demo's tokens", func() bool { return strings.Contains(out.String(), "export ALICE=") })
	alice := regexp.MustCompile(`export ALICE=(\S+)`).FindStringSubmatch(out.String())
	saleID := regexp.MustCompile(`/flash-sales/([0-9a-f-]{36})`).FindStringSubmatch(out.String())
	if alice == nil || saleID == nil {
		t.Fatalf("demo output lacks a token or a sale:\n%s", out.String())
	}
	c := client{t, url}
	status, sale := c.call("GET", "/flash-sales/"+saleID[1], "", nil)
	if status != 200 || sale["status"] != "upcoming" {
		t.Fatalf("demo sale: %d %v", status, sale)
	}
	itemID := sale["items"].([]any)[0].(map[string]any)["item_id"].(string)
	if status, body := c.call("POST", "/flash-sales/"+saleID[1]+"/orders", alice[1], map[string]any{"item_id": itemID, "quantity": 1}); status != 400 || body["error"].(map[string]any)["code"] != "sale_not_active" {
		t.Fatalf("order before the demo starts: %d %v", status, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConfigFromEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{"FLASHSALE_ADDR": ":9999", "FLASHSALE_RATE_LIMIT_IP": "off", "FLASHSALE_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1/32"}
	getenv := func(k string) string { return env[k] }
	c, err := parseConfig([]string{"--addr", ":7777"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":7777" || c.RateLimitIP.Enabled() || len(c.TrustedProxies) != 2 || c.DataDir != "./data" ||
		c.RateLimitOrderUser.String() != "1/s,10/m" || c.PaymentAttempts != 3 {
		t.Fatalf("config %+v", c)
	}
	for _, bad := range []map[string]string{
		{"FLASHSALE_RATE_LIMIT_IP": "lots"},
		{"FLASHSALE_TRUSTED_PROXIES": "not-a-cidr"},
		{"FLASHSALE_PAYMENT_PROVIDER": "paypal"},
		{"FLASHSALE_PAYMENT_ATTEMPTS": "0"},
	} {
		if _, err := parseConfig(nil, func(k string) string { return bad[k] }, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if _, err := parseConfig([]string{"--payment-timeout", "soon"}, getenv, io.Discard); err == nil {
		t.Error("a bad flag was accepted")
	}
}

func TestUnknownCommandAndMissingSecret(t *testing.T) {
	if err := run(context.Background(), []string{"flashsale", "bake"}, testEnv(""), io.Discard, io.Discard); err == nil {
		t.Error("unknown command accepted")
	}
	noSecret := func(string) string { return "" }
	if err := run(context.Background(), []string{"flashsale", "token", "--user", "a"}, noSecret, io.Discard, io.Discard); err == nil {
		t.Error("token without a secret accepted")
	}
}

func TestReservationsReturnToStockAboutASecondAfterTheirDeadline(t *testing.T) {
	url, _ := startInProcess(t, t.TempDir(), "--expiry-tick", "100ms")
	c := client{t, url}
	admin := mint(t, "admin", true)
	now := time.Now().UTC()
	_, sale := c.call("POST", "/admin/flash-sales", admin, map[string]any{
		"name": "Short", "start_time": now.Add(-time.Minute).Format(time.RFC3339), "end_time": now.Add(time.Hour).Format(time.RFC3339),
		"reservation_ttl_seconds": 1,
		"items": []map[string]any{{"product_id": "p", "name": "Phone", "original_price": "10.00", "sale_price": "5.00",
			"currency": "USD", "total_quantity": 1, "per_user_limit": 1}},
	})
	saleID := sale["sale_id"].(string)
	itemID := sale["items"].([]any)[0].(map[string]any)["item_id"].(string)
	status, order := c.call("POST", "/flash-sales/"+saleID+"/orders", mint(t, "alice", false), map[string]any{"item_id": itemID, "quantity": 1})
	if status != 201 {
		t.Fatalf("reserve: %d %v", status, order)
	}
	deadline, _ := time.Parse(time.RFC3339Nano, order["reservation_expires_at"].(string))
	testenv.Eventually(t, time.Until(deadline)+10*time.Second, "the expired unit to come back", func() bool {
		_, stats := c.call("GET", "/admin/flash-sales/"+saleID+"/stats", admin, nil)
		it := stats["items"].([]any)[0].(map[string]any)
		return it["available"] == 1.0 && it["reserved"] == 0.0
	})
	// Measured, not asserted: a slow machine must not fail the test.
	t.Logf("the unit came back %v after the deadline (tick 100ms)", time.Since(deadline))
	status, body := c.call("POST", "/orders/"+order["order_id"].(string)+"/pay", mint(t, "alice", false),
		map[string]any{"payment_token": "tok_visa", "payment_method": "credit_card"})
	if status != 410 {
		t.Fatalf("pay after expiry: %d %v", status, body)
	}
}

// --pprof-addr serves Go's profiler beside the API.
func TestProfilerOnRequest(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	startInProcess(t, t.TempDir(), "--pprof-addr", addr)
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("pprof: %d %.200s", resp.StatusCode, body)
	}
}

// A process runs only the roles it is given: without api it serves the
// operational endpoints alone; without timeouts it never scans.
func TestRolesRunApart(t *testing.T) {
	// The api process starts first: by the time the worker, started after
	// it with the same tick, leads its timeout handler, the api process
	// would have led its own if it ran one.
	apiURL, _ := startInProcess(t, t.TempDir(), "--roles", "api", "--expiry-tick", "20ms")
	if status, body := (client{t, apiURL}).call("GET", "/flash-sales", "", nil); status != http.StatusOK {
		t.Errorf("GET /flash-sales with the api role: %d %v", status, body)
	}
	workerURL, _ := startInProcess(t, t.TempDir(), "--roles", "timeouts,notifications,orders", "--expiry-tick", "20ms")
	if status, body := (client{t, workerURL}).call("GET", "/flash-sales", "", nil); status != http.StatusNotFound {
		t.Errorf("GET /flash-sales without the api role: %d %v, want 404", status, body)
	}
	if resp, err := http.Get(workerURL + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz without the api role: %v %v", resp, err)
	}
	testenv.Eventually(t, 5*time.Second, "the timeout handler", func() bool { return leads(t, workerURL) })
	if leads(t, apiURL) {
		t.Error("a process without the timeouts role runs the timeout handler")
	}

	var out bytes.Buffer
	if err := run(t.Context(), []string{"flashsale", "serve", "--roles", "api,cashier"}, testEnv(t.TempDir()), &out, &out); err == nil ||
		!strings.Contains(err.Error(), "cashier") {
		t.Errorf("an unknown role: %v", err)
	}
}

// Embedded mode with --queue memory takes queued sales without a NATS
// server: a request is answered 202 and its status URL ends in the
// reservation.
func TestQueuedAdmissionInMemory(t *testing.T) {
	dataDir := t.TempDir()
	url, _ := startInProcess(t, dataDir, "--queue", "memory")
	c := client{t, url}
	saleID, itemID := createQueuedSale(t, c, 5)
	status, queued := placeOrder(t, url, "alice", saleID, itemID)
	if status != http.StatusAccepted {
		t.Fatalf("place order: %d %v, want 202", status, queued)
	}
	var body map[string]any
	testenv.Eventually(t, 15*time.Second, "alice's outcome", func() bool {
		status, body = c.call("GET", queued["status_url"].(string), mint(t, "alice", false), nil)
		return status != http.StatusAccepted
	})
	if status != http.StatusCreated || body["status"] != "reserved" {
		t.Fatalf("alice's outcome: %d %v, want the reservation", status, body)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "nats")); err == nil {
		t.Error("a NATS server kept data in the data folder")
	}
}
