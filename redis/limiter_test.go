package redis_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/flashsale/flashsale/ratelimit"
	"github.com/flashsale/flashsale/ratelimit/limitertest"
	"github.com/flashsale/flashsale/redis"
	"github.com/flashsale/flashsale/redis/redistest"
)

func TestLimiterConformance(t *testing.T) {
	client := redistest.Connect(t, redistest.URL(t))
	limitertest.Run(t, func(t *testing.T) limitertest.AllowAt {
		return redis.NewLimiter(client, redistest.Prefix(t, client)).AllowAt
	})
}

// TestLimiterOnCluster runs the suite on a Redis Cluster: each call's logs
// must share a slot, or the script is refused (CROSSSLOT).
func TestLimiterOnCluster(t *testing.T) {
	client := redistest.Connect(t, redistest.StartCluster(t, 3))
	limitertest.Run(t, func(t *testing.T) limitertest.AllowAt {
		return redis.NewLimiter(client, redistest.Prefix(t, client)).AllowAt
	})
}

func BenchmarkLimiter(b *testing.B) {
	client := redistest.Connect(b, redistest.URL(b))
	limitertest.Benchmark(b, func(b *testing.B) ratelimit.Limiter {
		return redis.NewLimiter(client, redistest.Prefix(b, client))
	})
}

// newCountingLimiter returns a limiter of its own and the count of its
// calls to Redis.
func newCountingLimiter(t *testing.T) (*redis.Limiter, *atomic.Int64) {
	client := redistest.Connect(t, redistest.URL(t))
	counting := &countingClient{Client: client}
	return redis.NewLimiter(counting, redistest.Prefix(t, client)), &counting.commands
}

var limiterStart = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func allowAt(t *testing.T, l *redis.Limiter, key string, p ratelimit.Policy, at time.Duration) ratelimit.Decision {
	t.Helper()
	d, err := l.AllowAt(t.Context(), key, p, limiterStart.Add(at))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func parsePolicy(t *testing.T, text string) ratelimit.Policy {
	t.Helper()
	p, err := ratelimit.ParsePolicy(text)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLimiterAnswersRejectionsLocally checks that a client hammering while
// limited is answered without Redis for its whole Retry-After.
func TestLimiterAnswersRejectionsLocally(t *testing.T) {
	l, calls := newCountingLimiter(t)
	p := parsePolicy(t, "10/m")
	for range 10 {
		allowAt(t, l, "user", p, 0)
	}
	if d := allowAt(t, l, "user", p, 0); d.Allowed {
		t.Fatal("the 11th request was admitted")
	}
	before := calls.Load()
	for at := time.Duration(0); at < time.Minute; at += 10 * time.Millisecond {
		if d := allowAt(t, l, "user", p, at); d.Allowed {
			t.Fatalf("admitted at %v", at)
		}
	}
	if n := calls.Load() - before; n != 0 {
		t.Fatalf("%d calls to Redis during the wait, want none", n)
	}
	// Another key, and another policy for the same key, still ask Redis.
	allowAt(t, l, "other", p, 0)
	allowAt(t, l, "user", p.Named("ip"), 0)
	if n := calls.Load() - before; n != 2 {
		t.Fatalf("%d calls to Redis for keys not limited, want 2", n)
	}
	if !allowAt(t, l, "user", p, time.Minute).Allowed {
		t.Fatal("rejected once Retry-After elapsed")
	}
}

// TestLimiterCallsFollowAdmissions hammers under several limits, where a
// rejection by one may change its headers before the Retry-After ends
// (another limit's admission leaving its window), and so is remembered only
// until then: Redis still sees a few calls per admission, not per request.
func TestLimiterCallsFollowAdmissions(t *testing.T) {
	l, calls := newCountingLimiter(t)
	p := parsePolicy(t, "1/s,10/m")
	requests, admitted := 0, 0
	for at := time.Duration(0); at < 10*time.Minute; at += 10 * time.Millisecond {
		requests++
		if allowAt(t, l, "user", p, at).Allowed {
			admitted++
		}
	}
	if admitted != 100 {
		t.Fatalf("%d admitted, want 100", admitted)
	}
	t.Logf("%d requests, %d admitted, %d calls to Redis", requests, admitted, calls.Load())
	if n := calls.Load(); n > 3*int64(admitted) {
		t.Fatalf("%d calls to Redis for %d admissions", n, admitted)
	}
}

// TestLimiterRemembersBoundedRejections rejects more keys than the limiter
// remembers: asked again, at most LimiterCacheSize are answered locally.
func TestLimiterRemembersBoundedRejections(t *testing.T) {
	l, calls := newCountingLimiter(t)
	p := parsePolicy(t, "1/h")
	keys := redis.LimiterCacheSize + 1000
	// The first round admits every key, the second rejects each in Redis
	// and remembers what it can, the third counts what is remembered.
	for round := range 3 {
		before := calls.Load()
		forEachKey(t, keys, func(key string) error {
			_, err := l.AllowAt(t.Context(), key, p, limiterStart)
			return err
		})
		if round == 2 {
			local := int64(keys) - (calls.Load() - before)
			if local > redis.LimiterCacheSize || local < redis.LimiterCacheSize/2 {
				t.Fatalf("%d of %d rejected keys answered locally, want most of the %d remembered", local, keys, redis.LimiterCacheSize)
			}
		}
	}
}

// forEachKey calls do for keys distinct keys from many goroutines, so that
// their calls to Redis share round trips. A call that ran out of the
// limiter's time (a machine busy with other tests) is made again: what is
// tested here is what the limiter remembers, not how fast Redis answers.
func forEachKey(t *testing.T, keys int, do func(key string) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(keys); i = next.Add(1) {
				key := "user-" + strconv.FormatInt(i, 10)
				err := do(key)
				for retries := 0; err != nil && errors.Is(err, context.DeadlineExceeded) && retries < 3; retries++ {
					err = do(key)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestLimiterAllowUsesTheClock(t *testing.T) {
	client := redistest.Connect(t, redistest.URL(t))
	l := redis.NewLimiter(client, redistest.Prefix(t, client))
	p := parsePolicy(t, "1/h")
	if d, err := l.Allow(t.Context(), "user", p); err != nil || !d.Allowed {
		t.Fatalf("first request: %+v, %v", d, err)
	}
	d, err := l.Allow(t.Context(), "user", p)
	if err != nil || d.Allowed || d.RetryAfter <= 59*time.Minute {
		t.Fatalf("second request: %+v, %v; want rejected for about an hour", d, err)
	}
}

// TestLimiterInstancesShareLimits checks two instances' limiters on one
// Redis: admissions through either count against both.
func TestLimiterInstancesShareLimits(t *testing.T) {
	client := redistest.Connect(t, redistest.URL(t))
	prefix := redistest.Prefix(t, client)
	a, b := redis.NewLimiter(client, prefix), redis.NewLimiter(client, prefix)
	p := parsePolicy(t, "10/m")
	for i := range 10 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if !allowAt(t, l, "user", p, time.Duration(i)*time.Second).Allowed {
			t.Fatalf("request %d rejected", i+1)
		}
	}
	for _, l := range []*redis.Limiter{a, b} {
		if d := allowAt(t, l, "user", p, 10*time.Second); d.Allowed || d.RetryAfter != 50*time.Second {
			t.Fatalf("11th request: %+v, want rejected for 50s on either instance", d)
		}
	}
}

// TestLimiterWithoutRedis checks what a caller sees while Redis is out of
// reach: an error, within a bounded wait, for a key not known to be limited;
// a remembered rejection still answered locally.
func TestLimiterWithoutRedis(t *testing.T) {
	url := redistest.URL(t)
	proxy := newBlackholeProxy(t, url)
	// The keys are deleted at the end directly, not through the proxy.
	prefix := redistest.Prefix(t, redistest.Connect(t, url))
	l := redis.NewLimiter(redistest.Connect(t, "redis://"+proxy.addr), prefix)
	p := parsePolicy(t, "1/m")
	allowAt(t, l, "limited", p, 0)
	allowAt(t, l, "limited", p, 0)

	proxy.blackhole.Store(true)
	began := time.Now()
	_, err := l.AllowAt(t.Context(), "user", p, limiterStart)
	if err == nil {
		t.Fatal("admitted or rejected without Redis")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the wait's deadline", err)
	}
	if waited := time.Since(began); waited > 2*time.Second {
		t.Errorf("answered after %v, want a bounded wait", waited)
	}
	if d := allowAt(t, l, "limited", p, time.Second); d.Allowed || d.RetryAfter != 59*time.Second {
		t.Fatalf("remembered rejection: %+v, want rejected for 59s without Redis", d)
	}
}

// blackholeProxy forwards TCP connections to Redis until told to drop
// everything both ways: a network partition, with connections kept open.
type blackholeProxy struct {
	addr      string
	blackhole atomic.Bool
}

func newBlackholeProxy(t *testing.T, redisURL string) *blackholeProxy {
	opts, err := rueidis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{addr: listener.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		listener.Close()
		conns.Wait()
	})
	go func() {
		for {
			in, err := listener.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", opts.InitAddress[0])
			if err != nil {
				in.Close()
				continue
			}
			for _, pair := range [][2]net.Conn{{in, out}, {out, in}} {
				conns.Go(func() {
					p.forward(pair[0], pair[1])
					in.Close()
					out.Close()
				})
			}
		}
	}()
	return p
}

func (p *blackholeProxy) forward(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 && !p.blackhole.Load() {
			if _, err := to.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
