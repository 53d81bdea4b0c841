package http

// A speed shortcut of the error path, apart from the contract code: the
// answer is the same bytes json.Marshal writes, which
// TestErrorBodiesAreMarshalOutput holds it to; the figures it buys are in
// docs/BENCHMARKS.md (the sold-out path).

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/flashsale/flashsale"
)

// errorBodies keeps the rendered bodies of the errors a rush answers again
// and again (sold_out above all, from a shared error, to most requests of
// a sale), so that each answer is a map lookup instead of a json.Marshal.
// Bodies are keyed by their whole content, so a kept body is the very
// bytes Marshal would write. Only the codes in keptErrorCodes are kept,
// since their messages are the service's own words and never quote a
// request (an unknown field, a path): a client cannot fill the table. It
// holds at most maxRenderedErrors bodies; past that, bodies are rendered
// each time. Readers take no lock: the table is replaced whole, under mu,
// when a body is added.
type errorBodies struct {
	mu     sync.Mutex
	bodies atomic.Pointer[map[errorDetail]jsonBody]
}

// maxRenderedErrors bounds errorBodies. The kept codes have a few messages
// each: some carry a number from the sale's settings or the stock ("at
// most 2 per customer", "only 3 left").
const maxRenderedErrors = 64

// keptErrorCodes lists the codes whose bodies errorBodies keeps: the
// rejections of a rush and of overload. rate_limited is not among them:
// its retry_after_ms is the limiter's, to the millisecond, a new body
// almost every time.
var keptErrorCodes = map[string]bool{
	flashsale.ESoldOut:              true,
	flashsale.EAlreadyPurchased:     true,
	flashsale.ESaleNotActive:        true,
	flashsale.EQuantityExceedsLimit: true,
	flashsale.EInvalidQuantity:      true,
	flashsale.EOverloaded:           true,
	flashsale.EUnavailable:          true,
	flashsale.EUnauthenticated:      true,
	flashsale.EForbidden:            true,
}

func (c *errorBodies) render(d errorDetail) (jsonBody, error) {
	if m := c.bodies.Load(); m != nil {
		if b, ok := (*m)[d]; ok {
			return b, nil
		}
	}
	b, err := marshalBody(errorBody{Error: d})
	if err != nil || !keptErrorCodes[d.Code] {
		return b, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.bodies.Load()
	if old != nil && len(*old) >= maxRenderedErrors {
		return b, nil
	}
	m := map[errorDetail]jsonBody{d: b}
	if old != nil {
		maps.Copy(m, *old)
	}
	c.bodies.Store(&m)
	return b, nil
}
