package http

import (
	"cmp"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/flashsale/flashsale/internal/deployment"
)

// OpenAPIDocument is the document the server embeds and serves, for the
// contract check of the harness (package http_test): responses are held
// to exactly what a client is given.
var OpenAPIDocument = openAPI

// ContractChecks counts the responses of this process's run held to the
// document by the harness: Responses in all (status, content type, and
// headers), Bodies of them whose JSON body was validated against its
// schema too.
var ContractChecks struct {
	Responses, Bodies atomic.Int64
}

// reportContractChecks prints, once per deployment kind (TestMain, after
// the kind's run), how many responses the contract check saw; go test -v
// shows it. A fuzz run or a list of the tests prints nothing.
func reportContractChecks() {
	if fuzzing() {
		return
	}
	kind := cmp.Or(os.Getenv("FLASHSALE_TEST_HTTP_DEPLOYMENT"), string(deployment.Embedded))
	fmt.Printf("openapi.json contract: %d responses checked on the %s deployment, %d JSON bodies validated against their schemas\n",
		ContractChecks.Responses.Load(), kind, ContractChecks.Bodies.Load())
}
