package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
)

// Asking any command for help is answered, and is no failure.
func TestHelpIsASuccess(t *testing.T) {
	for _, args := range [][]string{
		{"help"}, {"--help"}, {"serve", "--help"}, {"serve", "-h"}, {"token", "--help"}, {"migrate", "--help"},
		{"reconcile", "--help"}, {"loadtest", "--help"}, {"verify-draw", "--help"},
	} {
		var out, errOut bytes.Buffer
		if err := run(t.Context(), append([]string{"flashsale"}, args...), testEnv(t.TempDir()), &out, &errOut); err != nil {
			t.Errorf("flashsale %s: %v", strings.Join(args, " "), err)
		}
		if out.Len()+errOut.Len() == 0 {
			t.Errorf("flashsale %s printed no help", strings.Join(args, " "))
		}
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"flashsale", "serve", "--no-such-flag"}, testEnv(t.TempDir()), &out, &out); err == nil {
		t.Error("an unknown flag is no failure")
	}
}

// The binary says which build it is, on the command line and to Prometheus.
func TestVersionAndBuildInfo(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"flashsale", "version"}, testEnv(""), &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "flashsale ") || len(strings.TrimSpace(out.String())) <= len("flashsale ") {
		t.Fatalf("version printed %q", out.String())
	}
	url, _ := startInProcess(t, t.TempDir())
	if !strings.Contains(metrics(t, url), "flashsale_build_info{") {
		t.Fatal("/metrics has no flashsale_build_info")
	}
}

// A fleet whose instances each made up a secret would refuse each other's
// tokens: distributed mode does not start without one.
func TestDistributedModeNeedsTheSecret(t *testing.T) {
	env := testEnv(t.TempDir())
	getenv := func(key string) string {
		switch key {
		case "FLASHSALE_JWT_SECRET":
			return ""
		case "FLASHSALE_REDIS_URL":
			return "redis://127.0.0.1:1"
		case "FLASHSALE_POSTGRES_URL":
			return "postgres://127.0.0.1:1/none"
		}
		return env(key)
	}
	var out bytes.Buffer
	err := run(t.Context(), []string{"flashsale", "serve"}, getenv, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "FLASHSALE_JWT_SECRET") {
		t.Fatalf("serve in distributed mode without a secret: %v", err)
	}
}

// On shutdown with a drain wait, /readyz fails at once while requests are
// still served, so a load balancer takes the instance out before its
// listener closes.
func TestShutdownDrainsBehindAFailingReadyz(t *testing.T) {
	url, stop := startInProcess(t, t.TempDir(), "--drain-wait", "3s")
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	testenv.Eventually(t, 10*time.Second, "/readyz to fail", func() bool { return readyStatus(t, url) == http.StatusServiceUnavailable })
	if status, body := (client{t, url}).call("GET", "/flash-sales", "", nil); status != http.StatusOK {
		t.Fatalf("a request during the drain: %d %v", status, body)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}
