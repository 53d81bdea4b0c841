// Package testenv finds the servers and programs tests need, with one rule
// for all of them: a test skips where one is missing (a laptop without
// it), and fails instead under FLASHSALE_TEST_REQUIRE_SERVICES=1 (CI),
// where a skip would hide it. It also runs a test's background work.
package testenv

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// Server returns the value of the environment variable naming the server
// called name, or skips or fails the test as the package says.
func Server(tb testing.TB, variable, name string) string {
	tb.Helper()
	address := os.Getenv(variable)
	if address == "" {
		Missing(tb, "%s is not set; run scripts/services.sh to start %s", variable, name)
	}
	return address
}

// Missing skips the test for the reason given, or fails it where
// FLASHSALE_TEST_REQUIRE_SERVICES=1 requires everything.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	reason := fmt.Sprintf(format, args...)
	if os.Getenv("FLASHSALE_TEST_REQUIRE_SERVICES") == "1" {
		tb.Fatal(reason + " (FLASHSALE_TEST_REQUIRE_SERVICES=1 makes this a failure)")
	}
	tb.Skip(reason)
}

// Background runs work until the test ends, and waits for it to return
// before the test's earlier cleanups (closing what work uses) run.
func Background(tb testing.TB, work func(ctx context.Context)) {
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		work(ctx)
	}()
	tb.Cleanup(func() {
		stop()
		<-stopped
	})
}
