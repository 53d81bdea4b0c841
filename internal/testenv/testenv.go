// Package testenv finds the servers and programs tests need, with one rule
// for all of them: a test skips where one is missing (a laptop without
// it), and fails instead under FLASHSALE_TEST_REQUIRE_SERVICES=1 (CI),
// where a skip would hide it. It also runs a test's background work.
package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// Standard is where a server is found when no variable names it: its URL
// on its standard port, and a check that it answers there as the tests
// need it to.
type Standard struct {
	URL    string
	Answer func(ctx context.Context, url string) error
}

// standards holds, per variable, the one check of its standard server
// that a test binary makes.
var standards sync.Map // variable -> func() error

// Server returns the server called name: the value of the environment
// variable naming it, else the standard one where it answers, as on a
// machine running Redis, PostgreSQL and NATS on their standard ports; or
// it skips or fails the test as the package says.
func Server(tb testing.TB, variable, name string, standard Standard) string {
	tb.Helper()
	if address := os.Getenv(variable); address != "" {
		return address
	}
	check, _ := standards.LoadOrStore(variable, sync.OnceValue(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return standard.Answer(ctx, standard.URL)
	}))
	err := check.(func() error)()
	if err != nil {
		Missing(tb, "%s is not set and %s does not answer at %s (%v); run scripts/services.sh to start it", variable, name, standard.URL, err)
	}
	return standard.URL
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
