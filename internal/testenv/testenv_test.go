package testenv_test

import (
	"context"
	"errors"
	"testing"

	"github.com/flashsale/flashsale/internal/testenv"
)

// A variable names the server; without one, the standard server is used
// where it answers, checked once; where it does not, the test skips.
func TestServer(t *testing.T) {
	t.Setenv("FLASHSALE_TEST_REQUIRE_SERVICES", "")
	checks := 0
	answering := testenv.Standard{URL: "std://answering", Answer: func(context.Context, string) error { checks++; return nil }}

	t.Setenv("FLASHSALE_TEST_ONE_URL", "named://one")
	if got := testenv.Server(t, "FLASHSALE_TEST_ONE_URL", "one", answering); got != "named://one" || checks != 0 {
		t.Errorf("with the variable set: %q after %d checks, want the variable's value and no check", got, checks)
	}
	for range 2 {
		if got := testenv.Server(t, "FLASHSALE_TEST_TWO_URL", "two", answering); got != "std://answering" {
			t.Errorf("without the variable: %q, want the standard server", got)
		}
	}
	if checks != 1 {
		t.Errorf("the standard server was checked %d times, want once", checks)
	}

	silent := testenv.Standard{URL: "std://silent", Answer: func(context.Context, string) error { return errors.New("connection refused") }}
	var reached bool
	t.Run("silent", func(t *testing.T) {
		testenv.Server(t, "FLASHSALE_TEST_THREE_URL", "three", silent)
		reached = true
	})
	if reached {
		t.Error("a test went on without a server")
	}
}
