package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTrafficProtectionSettings(t *testing.T) {
	none := func(string) string { return "" }
	c, err := parseConfig(nil, none, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInflight != 4096 || c.ShedWait != 20*time.Millisecond || c.InventoryConcurrency != 256 ||
		c.InventoryWait != 50*time.Millisecond || c.Throttle != nil || c.ReactionTime != 150*time.Millisecond {
		t.Fatalf("defaults %+v", c)
	}

	env := map[string]string{"FLASHSALE_MAX_INFLIGHT": "off", "FLASHSALE_THROTTLE": "5000:0.5,20000:0.2",
		"FLASHSALE_INVENTORY_CONCURRENCY": "0", "FLASHSALE_INVENTORY_WAIT": "5ms", "FLASHSALE_REACTION_TIME": "300ms"}
	c, err = parseConfig([]string{"--shed-wait", "0s"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxInflight != 0 || c.ShedWait != 0 || c.InventoryConcurrency != 0 || c.InventoryWait != 5*time.Millisecond || c.ReactionTime != 300*time.Millisecond ||
		len(c.Throttle) != 2 || c.Throttle[1].Above != 20000 || c.Throttle[1].Factor != 0.2 {
		t.Fatalf("config %+v", c)
	}

	for _, bad := range []map[string]string{
		{"FLASHSALE_MAX_INFLIGHT": "-1"},
		{"FLASHSALE_MAX_INFLIGHT": "lots"},
		{"FLASHSALE_INVENTORY_CONCURRENCY": "1.5"},
		{"FLASHSALE_INVENTORY_WAIT": "0s"},
		{"FLASHSALE_SHED_WAIT": "-1ms"},
		{"FLASHSALE_THROTTLE": "5000:2"},
		{"FLASHSALE_ACK": "fsync"},
		{"FLASHSALE_ACK_REPLICAS": "-1"},
		{"FLASHSALE_QUEUE_RATE": "0"},
		{"FLASHSALE_EVENTS_PER_USER": "01"},
		{"FLASHSALE_REACTION_TIME": "5ms"},
		{"FLASHSALE_REACTION_TIME": "3s"},
	} {
		if _, err := parseConfig(nil, func(k string) string { return bad[k] }, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestServeExposesSheddingAndThrottling(t *testing.T) {
	url, stop := startInProcess(t, t.TempDir(), "--max-inflight", "100", "--throttle", "5000:0.5")
	defer stop()
	body := metrics(t, url)
	for _, gauge := range []string{"flashsale_inflight_requests ", "flashsale_throttle_level 0", "flashsale_request_rate "} {
		if !strings.Contains(body, "\n"+gauge) {
			t.Errorf("/metrics has no %q", gauge)
		}
	}
}

// With --metrics-addr, /metrics is served on that address alone: the
// API's address answers 404 for it, as for any unknown path, and the
// metrics address serves nothing else. The metrics there are the API's.
// Without it /metrics stays on the API's address
// (TestServeExposesSheddingAndThrottling).
func TestMetricsOnAnAddressOfTheirOwn(t *testing.T) {
	url, out, _ := startWatched(t, t.TempDir(), "--metrics-addr", "127.0.0.1:0")
	m := regexp.MustCompile(`msg="metrics listening" addr=(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics address logged:\n%s", out.String())
	}
	metricsURL := "http://" + m[1]

	if status, body := (client{t, url}).call("GET", "/metrics", "", nil); status != http.StatusNotFound || body["error"] == nil {
		t.Errorf("GET /metrics on the API's address: %d %v, want 404 not_found", status, body)
	}
	if status, _ := (client{t, url}).call("GET", "/healthz", "", nil); status != http.StatusOK {
		t.Errorf("GET /healthz: %d", status)
	}
	if body := metrics(t, metricsURL); !strings.Contains(body, `flashsale_http_requests_total{code="404",route="not_found"} 1`) ||
		!strings.Contains(body, `flashsale_http_requests_total{code="200",route="healthz"}`) {
		t.Errorf("the metrics address does not count the API's requests:\n%.3000s", body)
	}
	resp, err := http.Get(metricsURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /healthz on the metrics address: %d, want 404", resp.StatusCode)
	}
}

// Every setting of serve is in the README's configuration table, by its
// variable and its flag.
func TestEverySettingIsInTheREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range (&config{}).settings() {
		row := "| `" + s.env + "` | `--" + s.flag + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README's configuration table has no row starting %s", row)
		}
	}
}

// The Redis ack is a distributed mode's choice: asked for without Redis and
// PostgreSQL it is refused, not silently ignored.
func TestRedisAckNeedsDistributedMode(t *testing.T) {
	getenv := testEnv(t.TempDir(), "FLASHSALE_ACK=redis")
	err := run(t.Context(), []string{"flashsale", "serve"}, getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "FLASHSALE_ACK=redis needs distributed mode") {
		t.Fatalf("serve with FLASHSALE_ACK=redis alone: %v", err)
	}
}

// A secret may come from a file named by <variable>_FILE, as container
// secrets are mounted; the variable itself wins.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "jwt")
	if err := os.WriteFile(file, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	cfg, err := parseConfig(nil, env(map[string]string{"FLASHSALE_JWT_SECRET_FILE": file}), io.Discard)
	if err != nil || cfg.JWTSecret != "from-a-file" {
		t.Fatalf("secret from a file: %q, %v", cfg.JWTSecret, err)
	}
	cfg, err = parseConfig(nil, env(map[string]string{"FLASHSALE_JWT_SECRET_FILE": file, "FLASHSALE_JWT_SECRET": "direct"}), io.Discard)
	if err != nil || cfg.JWTSecret != "direct" {
		t.Fatalf("variable and file: %q, %v", cfg.JWTSecret, err)
	}
	if _, err := parseConfig(nil, env(map[string]string{"FLASHSALE_JWT_SECRET_FILE": filepath.Join(dir, "missing")}), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "FLASHSALE_JWT_SECRET_FILE") {
		t.Fatalf("a missing secret file: %v", err)
	}
	if _, err := parseConfig(nil, env(map[string]string{"FLASHSALE_ADDR_FILE": file}), io.Discard); err != nil {
		t.Fatalf("_FILE of a setting that is no secret is not read: %v", err)
	}
}
