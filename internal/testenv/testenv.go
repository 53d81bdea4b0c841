// Package testenv reads the addresses of the servers tests need from the
// environment, with one rule for all of them: a test skips where its
// server is not configured (a laptop without it), and fails instead under
// FLASHSALE_TEST_REQUIRE_SERVICES=1 (CI), where a skip would hide it.
package testenv

import (
	"os"
	"testing"
)

// Server returns the value of the environment variable naming the server
// called name, or skips or fails the test as the package says.
func Server(tb testing.TB, variable, name string) string {
	tb.Helper()
	address := os.Getenv(variable)
	if address == "" {
		if os.Getenv("FLASHSALE_TEST_REQUIRE_SERVICES") == "1" {
			tb.Fatalf("%s is not set, and FLASHSALE_TEST_REQUIRE_SERVICES=1 requires %s", variable, name)
		}
		tb.Skipf("%s is not set; run scripts/services.sh to start %s", variable, name)
	}
	return address
}
