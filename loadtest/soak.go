package loadtest

import (
	"context"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"time"
)

// The soak scenario: a steady mix of page views and, for a share, single
// presses whose wins are paid or abandoned as in the herd.

// soakAction is one request of the soak mix, decided by whoever holds a
// random source so that the request itself needs none.
type soakAction struct {
	order bool
	user  *simUser
	item  int
	pays  bool
	think time.Duration
}

func (r *run) nextSoakAction(rng *mathrand.Rand) soakAction {
	if rng.Float64() >= r.cfg.OrderShare {
		return soakAction{}
	}
	return soakAction{
		order: true,
		user:  r.users[rng.IntN(len(r.users))],
		item:  rng.IntN(len(r.sale.items)),
		pays:  rng.Float64() < r.cfg.PayProbability,
		think: time.Duration(float64(r.cfg.ThinkTime) * (0.5 + rng.Float64())),
	}
}

// startSoak sends the steady mix: page views and, for a share, a single
// press by a random user whose win is paid or abandoned like in the herd.
func (r *run) startSoak(ctx context.Context) {
	act := func(a soakAction, intended time.Time) response {
		if !a.order {
			return r.client.do(ctx, request{endpoint: endpointGetSale, method: http.MethodGet, path: "/flash-sales/" + url.PathEscape(r.sale.id), intended: intended})
		}
		attempt := r.takeAttempt()
		if attempt == 0 {
			return response{}
		}
		resp := r.placeOrder(ctx, a.user, a.item, fmt.Sprintf("%s-soak-%d", a.user.id, attempt), intended)
		switch {
		case resp.status == http.StatusCreated || resp.status == http.StatusOK:
			if order, ok := r.ledger.reserved(a.user, r.sale.items[a.item].id, resp, r.trafficStart); ok {
				r.settle(ctx, a.user, order, a.pays, a.think)
			}
		case resp.code == "sold_out":
			r.ledger.soldOut(r.sale.items[a.item].id, r.trafficStart)
		}
		return resp
	}
	if r.cfg.Rate > 0 {
		// The schedule itself waits for the traffic start.
		r.sched.spawn(func() {
			r.openLoop(ctx, func() bool { return true }, func(intended time.Time) {
				r.pickerMu.Lock()
				a := r.nextSoakAction(r.pickerRand)
				r.pickerMu.Unlock()
				act(a, intended)
			})
		})
		return
	}
	untilStart := time.Until(r.trafficStart)
	for worker := range r.cfg.Concurrency {
		// A chain's steps run one at a time, so its source needs no lock.
		rng := mathrand.New(mathrand.NewPCG(r.cfg.Seed, uint64(len(r.users)+worker+1)))
		r.backToBack(ctx, untilStart, func() response { return act(r.nextSoakAction(rng), time.Time{}) })
	}
}
