package http

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/flashsale/flashsale/internal/deployment"
)

// TestMain runs the whole HTTP suite once per deployment kind, so that one
// `go test ./...` holds every kind to the same tests: here on the embedded
// deployment, then once more for each distributed kind, in a child process of
// this test binary with FLASHSALE_TEST_HTTP_DEPLOYMENT set and the same
// flags. A kind whose servers cannot be reached skips its tests, or fails
// them under FLASHSALE_TEST_REQUIRE_SERVICES=1 (internal/testenv's rule).
// Setting the variable runs that kind alone.
func TestMain(m *testing.M) {
	code := m.Run()
	reportContractChecks()
	if os.Getenv("FLASHSALE_TEST_HTTP_DEPLOYMENT") != "" || fuzzing() {
		os.Exit(code)
	}
	for _, kind := range deployment.Kinds {
		if kind == deployment.Embedded {
			continue // this process's run
		}
		fmt.Printf("=== the HTTP suite on the %s deployment\n", kind)
		child := exec.Command(os.Args[0], os.Args[1:]...)
		child.Env = append(os.Environ(), "FLASHSALE_TEST_HTTP_DEPLOYMENT="+string(kind))
		child.Stdout, child.Stderr = os.Stdout, os.Stderr
		if err := child.Run(); err != nil {
			fmt.Printf("--- FAIL: the HTTP suite on the %s deployment: %v\n", kind, err)
			code = 1
		}
	}
	os.Exit(code)
}

// fuzzing reports whether this process fuzzes (go test -fuzz, or one of
// its workers) or only lists the tests (go test -list): a fuzz run's time
// is spent on the embedded deployment alone, not fuzzed again, as long,
// on each distributed kind, and a list is printed once. The seeds still
// run on every kind in a plain go test.
func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker", "test.list"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}
