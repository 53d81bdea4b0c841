package http

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// deploymentKinds are the deployments the HTTP suite runs on besides the
// embedded one, by FLASHSALE_TEST_HTTP_DEPLOYMENT (see the harness's
// adapters).
var deploymentKinds = []string{"distributed", "distributed-redis-ack"}

// TestMain runs the whole HTTP suite once per deployment kind, so that one
// `go test ./...` holds every kind to the same tests: here on the embedded
// adapters, then once more for each distributed kind, in a child process of
// this test binary with FLASHSALE_TEST_HTTP_DEPLOYMENT set and the same
// flags. A kind whose servers cannot be reached skips its tests, or fails
// them under FLASHSALE_TEST_REQUIRE_SERVICES=1 (internal/testenv's rule).
// Setting the variable runs that kind alone.
func TestMain(m *testing.M) {
	code := m.Run()
	if os.Getenv("FLASHSALE_TEST_HTTP_DEPLOYMENT") != "" {
		os.Exit(code)
	}
	for _, kind := range deploymentKinds {
		fmt.Printf("=== the HTTP suite on the %s deployment\n", kind)
		child := exec.Command(os.Args[0], os.Args[1:]...)
		child.Env = append(os.Environ(), "FLASHSALE_TEST_HTTP_DEPLOYMENT="+kind)
		child.Stdout, child.Stderr = os.Stdout, os.Stderr
		if err := child.Run(); err != nil {
			fmt.Printf("--- FAIL: the HTTP suite on the %s deployment: %v\n", kind, err)
			code = 1
		}
	}
	os.Exit(code)
}
