package paysim

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testclock"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/paymenttest"
)

func request(key, token string) flashsale.ChargeRequest {
	return flashsale.ChargeRequest{
		IdempotencyKey: key,
		OrderID:        "order-1",
		Amount:         49900,
		Currency:       "USD",
		Token:          token,
		Method:         "credit_card",
	}
}

func TestTokens(t *testing.T) {
	tests := []struct {
		token  string
		status flashsale.PaymentStatus
		reason string
	}{
		{TokenVisa, flashsale.PaymentSucceeded, ""},
		{"tok_visa_2", flashsale.PaymentSucceeded, ""},
		{"tok_visa_", flashsale.PaymentDeclined, DeclineInvalidToken},
		{TokenChargeDeclined, flashsale.PaymentDeclined, DeclineCardDeclined},
		{TokenInsufficientFunds, flashsale.PaymentDeclined, DeclineInsufficientFunds},
		{"tok_unknown", flashsale.PaymentDeclined, DeclineInvalidToken},
		{"", flashsale.PaymentDeclined, DeclineInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			sim := New(Options{})
			ctx := context.Background()
			got, err := sim.Charge(ctx, request("key-1", tt.token))
			if err != nil {
				t.Fatalf("Charge: %v", err)
			}
			if got.Status != tt.status || got.DeclineReason != tt.reason {
				t.Fatalf("Charge = %+v, want status %s reason %q", got, tt.status, tt.reason)
			}
			succeeded := tt.status == flashsale.PaymentSucceeded
			if hasID := strings.HasPrefix(got.PaymentID, "pay_"); hasID != succeeded {
				t.Errorf("PaymentID = %q: a payment id belongs to successful charges only", got.PaymentID)
			}
			if wantCharges := map[bool]int{true: 1, false: 0}[succeeded]; sim.Charges() != wantCharges {
				t.Errorf("Charges() = %d, want %d", sim.Charges(), wantCharges)
			}
			looked, err := sim.Lookup(ctx, flashsale.ChargeRequest{IdempotencyKey: "key-1"})
			if err != nil || looked != got {
				t.Errorf("Lookup = %+v, %v; want %+v", looked, err, got)
			}
		})
	}
}

// Each card has one fingerprint, whichever call asks; each numbered visa
// is a card of its own; a token that names no card has none.
func TestFingerprints(t *testing.T) {
	sim := New(Options{})
	seen := make(map[string]string)
	for _, token := range []string{TokenVisa, "tok_visa_1", "tok_visa_2", "tok_visa_farm",
		TokenChargeDeclined, TokenInsufficientFunds, TokenTimeout} {
		fp, err := sim.Fingerprint(t.Context(), token)
		if err != nil || !strings.HasPrefix(fp, "fp_") {
			t.Fatalf("Fingerprint(%q) = %q, %v", token, fp, err)
		}
		if again, _ := New(Options{}).Fingerprint(t.Context(), token); again != fp {
			t.Errorf("Fingerprint(%q) = %q, then %q from another simulator", token, fp, again)
		}
		if other, dup := seen[fp]; dup {
			t.Errorf("%q and %q share fingerprint %q", token, other, fp)
		}
		seen[fp] = token
	}
	for _, token := range []string{"", "tok_unknown", "tok_visa_"} {
		if fp, err := sim.Fingerprint(t.Context(), token); fp != "" || err != nil {
			t.Errorf("Fingerprint(%q) = %q, %v; want none", token, fp, err)
		}
	}
}

func TestPaymentIDsAreUnique(t *testing.T) {
	sim := New(Options{})
	first, _ := sim.Charge(context.Background(), request("key-1", TokenVisa))
	second, _ := sim.Charge(context.Background(), request("key-2", TokenVisa))
	if first.PaymentID == second.PaymentID {
		t.Fatalf("two charges share the payment id %q", first.PaymentID)
	}
	if sim.Charges() != 2 {
		t.Fatalf("Charges() = %d, want 2", sim.Charges())
	}
}

func TestTimeoutRecordsNoCharge(t *testing.T) {
	sim := New(Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := sim.Charge(ctx, request("key-1", TokenTimeout))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Charge error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	// The key was never used up: a retry with a working card charges.
	got, err := sim.Charge(context.Background(), request("key-1", TokenVisa))
	if err != nil || got.Status != flashsale.PaymentSucceeded {
		t.Fatalf("retry = %+v, %v; want success", got, err)
	}

	// Once Lookup has answered that a key made no charge, it never will:
	// the caller has released the unit on that answer.
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := sim.Charge(ctx, request("key-2", TokenTimeout)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Charge error = %v, want one wrapping context.DeadlineExceeded", err)
	}
	if _, err := sim.Lookup(context.Background(), flashsale.ChargeRequest{IdempotencyKey: "key-2"}); !errors.Is(err, flashsale.ErrNoCharge) {
		t.Fatalf("Lookup error = %v, want ErrNoCharge", err)
	}
	if got, err := sim.Charge(context.Background(), request("key-2", TokenVisa)); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("charge after the Lookup = %+v, %v; want ErrKeyReused", got, err)
	}
	if sim.Charges() != 1 {
		t.Fatalf("Charges() = %d, want 1", sim.Charges())
	}
}

func TestLookupUnknownKey(t *testing.T) {
	if _, err := New(Options{}).Lookup(context.Background(), flashsale.ChargeRequest{IdempotencyKey: "never-used"}); !errors.Is(err, flashsale.ErrNoCharge) {
		t.Fatalf("Lookup error = %v, want ErrNoCharge", err)
	}
}

func TestRepeatedKeyReturnsFirstOutcome(t *testing.T) {
	for _, token := range []string{TokenVisa, TokenChargeDeclined} {
		t.Run(token, func(t *testing.T) {
			sim := New(Options{})
			first, err := sim.Charge(context.Background(), request("key-1", token))
			if err != nil {
				t.Fatal(err)
			}
			again, err := sim.Charge(context.Background(), request("key-1", token))
			if err != nil || again != first {
				t.Fatalf("repeat = %+v, %v; want the first outcome %+v", again, err, first)
			}
			if first.Status == flashsale.PaymentSucceeded && sim.Charges() != 1 {
				t.Fatalf("Charges() = %d after a repeated key, want 1", sim.Charges())
			}
		})
	}
}

func TestRepeatedKeyWithOtherParametersIsRefused(t *testing.T) {
	sim := New(Options{})
	first, _ := sim.Charge(context.Background(), request("key-1", TokenChargeDeclined))
	if _, err := sim.Charge(context.Background(), request("key-1", TokenVisa)); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("Charge error = %v, want ErrKeyReused", err)
	}
	if got, err := sim.Lookup(context.Background(), flashsale.ChargeRequest{IdempotencyKey: "key-1"}); err != nil || got != first {
		t.Fatalf("Lookup = %+v, %v; want the first outcome %+v", got, err, first)
	}
	if sim.Charges() != 0 {
		t.Fatalf("Charges() = %d, want 0", sim.Charges())
	}
}

func TestConcurrentChargesWithOneKeyChargeOnce(t *testing.T) {
	for _, latency := range []time.Duration{0, 5 * time.Millisecond} {
		t.Run(latency.String(), func(t *testing.T) {
			sim := New(Options{Latency: latency})
			const callers = 100
			results := make([]flashsale.ChargeResult, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					var err error
					results[i], err = sim.Charge(context.Background(), request("key-1", TokenVisa))
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if sim.Charges() != 1 {
				t.Fatalf("Charges() = %d, want 1", sim.Charges())
			}
			for i, r := range results {
				if r != results[0] {
					t.Fatalf("caller %d got %+v, caller 0 got %+v", i, r, results[0])
				}
			}
		})
	}
}

func TestLatencyDelaysCharge(t *testing.T) {
	const latency = 30 * time.Millisecond
	sim := New(Options{Latency: latency})
	start := time.Now()
	if _, err := sim.Charge(context.Background(), request("key-1", TokenVisa)); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < latency {
		t.Fatalf("Charge answered after %v, want at least %v", elapsed, latency)
	}
}

func TestContextEndingDuringLatencyRecordsNothing(t *testing.T) {
	sim := New(Options{Latency: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	_, err := sim.Charge(ctx, request("key-1", TokenVisa))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Charge error = %v, want one wrapping context.Canceled", err)
	}
	if _, err := sim.Lookup(context.Background(), flashsale.ChargeRequest{IdempotencyKey: "key-1"}); !errors.Is(err, flashsale.ErrNoCharge) {
		t.Fatalf("Lookup error = %v, want ErrNoCharge", err)
	}
	if sim.Charges() != 0 {
		t.Fatalf("Charges() = %d, want 0", sim.Charges())
	}
}

func TestLookupWaitsForChargeInFlight(t *testing.T) {
	sim := New(Options{Latency: 30 * time.Millisecond})
	charged := make(chan flashsale.ChargeResult)
	go func() {
		r, _ := sim.Charge(context.Background(), request("key-1", TokenVisa))
		charged <- r
	}()
	waitInFlight(t, sim, "key-1") // so Lookup meets it in flight
	got, err := sim.Lookup(context.Background(), flashsale.ChargeRequest{IdempotencyKey: "key-1"})
	if want := <-charged; err != nil || got != want {
		t.Fatalf("Lookup = %+v, %v; want the charge's outcome %+v", got, err, want)
	}
}

// waitInFlight waits until the simulator holds the charge of key.
func waitInFlight(t *testing.T, sim *Simulator, key string) {
	t.Helper()
	testenv.Eventually(t, time.Minute, "charge "+key+" in flight", func() bool {
		sim.mu.Lock()
		defer sim.mu.Unlock()
		_, inFlight := sim.charges[key]
		return inFlight
	})
}

func TestWaiterTakesOverAnAbandonedCharge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := New(Options{Latency: 20 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		firstErr := make(chan error)
		go func() {
			_, err := sim.Charge(ctx, request("key-1", TokenVisa))
			firstErr <- err
		}()
		synctest.Wait() // the first charge is in flight
		secondResult := make(chan flashsale.ChargeResult)
		go func() {
			r, _ := sim.Charge(context.Background(), request("key-1", TokenVisa))
			secondResult <- r
		}()
		synctest.Wait() // the second waits for the first's outcome
		cancel()
		if err := <-firstErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("first charge error = %v, want context.Canceled", err)
		}
		if r := <-secondResult; r.Status != flashsale.PaymentSucceeded {
			t.Fatalf("second charge = %+v, want success", r)
		}
		if sim.Charges() != 1 {
			t.Fatalf("Charges() = %d, want 1", sim.Charges())
		}
	})
}

func TestInvalidRequests(t *testing.T) {
	sim := New(Options{})
	noKey := request("", TokenVisa)
	if _, err := sim.Charge(context.Background(), noKey); err == nil {
		t.Error("a charge without an idempotency key was accepted")
	}
	free := request("key-1", TokenVisa)
	free.Amount = 0
	if _, err := sim.Charge(context.Background(), free); err == nil {
		t.Error("a charge of zero was accepted")
	}
	if sim.Charges() != 0 {
		t.Fatalf("Charges() = %d, want 0", sim.Charges())
	}
}

func TestRetentionDefaultsToTenTimesWhatSettlingTakes(t *testing.T) {
	if sim := New(Options{}); sim.retention != DefaultRetention || DefaultRetention < 10*(2*10*time.Second+30*time.Second) {
		t.Fatalf("retention %v, DefaultRetention %v: want the default, ten times what the service takes to settle a charge", sim.retention, DefaultRetention)
	}
}

// Within the retention a repeated key charges once and Lookup answers;
// after it the key is forgotten.
func TestSettledChargeIsKeptForTheRetentionThenForgotten(t *testing.T) {
	clock := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	sim := New(Options{Retention: time.Hour, Now: clock.Now})
	ctx := context.Background()
	first, err := sim.Charge(ctx, request("key-1", TokenVisa))
	if err != nil {
		t.Fatal(err)
	}

	// The service settles an unknown outcome within about twice its payment
	// timeout; a client may retry later still, but within the retention.
	clock.Advance(59 * time.Minute)
	again, err := sim.Charge(ctx, request("key-1", TokenVisa))
	if err != nil || again != first || sim.Charges() != 1 {
		t.Fatalf("retry within the retention = %+v, %v, %d charges; want the first outcome %+v and one charge", again, err, sim.Charges(), first)
	}
	if got, err := sim.Lookup(ctx, flashsale.ChargeRequest{IdempotencyKey: "key-1"}); err != nil || got != first {
		t.Fatalf("Lookup within the retention = %+v, %v; want %+v", got, err, first)
	}
	if _, err := sim.Charge(ctx, request("key-1", TokenChargeDeclined)); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("reuse within the retention: %v, want ErrKeyReused", err)
	}

	clock.Advance(time.Minute)
	if _, err := sim.Lookup(ctx, flashsale.ChargeRequest{IdempotencyKey: "key-1"}); !errors.Is(err, flashsale.ErrNoCharge) {
		t.Fatalf("Lookup an hour after settling: %v, want ErrNoCharge", err)
	}
	// Only the fence of that answer is left.
	if c := sim.charges["key-1"]; len(sim.charges) != 1 || sim.settled.len() != 1 || !c.fenced {
		t.Fatalf("%d charges, %d queued after the retention: want the Lookup's fence alone", len(sim.charges), sim.settled.len())
	}
}

// Charges settled at different times are forgotten each at its own time.
func TestChargesExpireInTheOrderTheySettled(t *testing.T) {
	clock := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	sim := New(Options{Retention: 10 * time.Minute, Now: clock.Now})
	ctx := context.Background()
	for _, key := range []string{"a", "b", "c"} {
		if _, err := sim.Charge(ctx, request(key, TokenVisa)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(5 * time.Minute)
	}
	// a settled 15 minutes ago, b 10, c 5.
	for key, kept := range map[string]bool{"a": false, "b": false, "c": true} {
		_, err := sim.Lookup(ctx, flashsale.ChargeRequest{IdempotencyKey: key})
		if found := err == nil; found != kept {
			t.Errorf("Lookup(%s) = %v, want found %v", key, err, kept)
		}
	}
}

// A simulator charging steadily holds only the last retention period's
// charges: memory stays flat however long it runs.
func TestMemoryIsBoundedByTheRetention(t *testing.T) {
	clock := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	sim := New(Options{Retention: time.Minute, Now: clock.Now})
	ctx := context.Background()
	const perSecond, seconds = 200, 600 // ten retention periods
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var afterOnePeriod uint64
	for second := range seconds {
		for i := range perSecond {
			if _, err := sim.Charge(ctx, request(fmt.Sprintf("key-%d-%d", second, i), TokenVisa)); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(time.Second)
		if second == 60 {
			afterOnePeriod = heap()
		}
	}
	grown := int64(heap()) - int64(afterOnePeriod)
	if held := len(sim.charges); held > 61*perSecond {
		t.Errorf("%d charges held after %d s, want at most a minute's %d", held, seconds, 61*perSecond)
	}
	if sim.Charges() != perSecond*seconds {
		t.Errorf("Charges() = %d, want %d", sim.Charges(), perSecond*seconds)
	}
	// Nine more periods of charges (108,000) cost no more than a fraction
	// of one period's; kept forever they would take ten times as much.
	if grown > int64(afterOnePeriod)/2 {
		t.Errorf("heap grew by %d bytes after the first retention period (%d then)", grown, afterOnePeriod)
	}
}

// A succeeded charge is refunded once per key: a repeat returns the first
// refund, another key for the same payment is refused, and so is a
// payment never made or another amount.
func TestRefund(t *testing.T) {
	sim := New(Options{})
	res, err := sim.Charge(t.Context(), request("key-1", TokenVisa))
	if err != nil {
		t.Fatal(err)
	}
	amount := request("key-1", TokenVisa).Amount
	first, err := sim.Refund(t.Context(), "refund:o1", res.PaymentID, amount)
	if err != nil || !strings.HasPrefix(first, "re_") {
		t.Fatalf("Refund = %q, %v", first, err)
	}
	if again, err := sim.Refund(t.Context(), "refund:o1", res.PaymentID, amount); err != nil || again != first {
		t.Fatalf("the refund repeated: %q, %v; want %q", again, err, first)
	}
	if _, err := sim.Refund(t.Context(), "refund:o2", res.PaymentID, amount); err == nil {
		t.Error("a payment refunded twice under two keys")
	}
	if _, err := sim.Refund(t.Context(), "refund:o3", "pay_unknown", amount); !errors.Is(err, ErrUnknownPayment) {
		t.Errorf("a refund of an unknown payment: %v", err)
	}
	if sim.Refunds() != 1 {
		t.Errorf("%d refunds made, want 1", sim.Refunds())
	}
}

func TestConformance(t *testing.T) {
	paymenttest.Run(t, func(t *testing.T) paymenttest.Harness {
		sim := New(Options{})
		return paymenttest.Harness{Provider: sim, Charges: sim.Charges}
	})
}
