//go:build unix

package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flashsale/flashsale/internal/testenv"
)

// nginxServer is nginx, run from this folder's nginx.conf, on a spare
// loopback port.
type nginxServer struct {
	url  string
	dir  string // its -p prefix: access.log lands here
	stop func()
}

// startNginx runs nginx.conf in front of upstreams ("host:port") and stops
// it when the test ends.
func startNginx(t *testing.T, upstreams []string) *nginxServer {
	t.Helper()
	bin := nginxBinary(t)
	dir := t.TempDir()
	conf, err := os.ReadFile("nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "server %s;\n", u)
	}
	addr := spareAddr(t)
	for name, content := range map[string]string{
		"nginx.conf":             string(conf),
		"flashsale-servers.conf": servers.String(),
		"flashsale-listen.conf":  "listen " + addr + ";\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	globals := "daemon off;"
	if os.Geteuid() == 0 {
		// Under root the workers would run as nobody, who cannot enter
		// the test's private temporary folder to write the cache.
		globals += " user root;"
	}
	cmd := exec.Command(bin, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr", "-g", globals)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// Its own process group, so the workers can be killed with the master
	// should it ignore SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := sync.OnceFunc(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("nginx output:\n%s", logs.String())
		}
	})

	testenv.Eventually(t, 5*time.Second, "nginx to listen on "+addr, func() bool {
		select {
		case <-exited:
			t.Fatalf("nginx exited at start:\n%s", logs.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return &nginxServer{url: "http://" + addr, dir: dir, stop: stop}
}

// nginxBinary finds nginx, or skips the test when it is not installed,
// unless FLASHSALE_TEST_REQUIRE_SERVICES=1 says the machine must have it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/nginx") // not on PATH for most users
	}
	if err != nil {
		testenv.Missing(t, "nginx is not installed: run scripts/services.sh or apt-get install nginx-light")
	}
	return bin
}

// The shipped example includes, as they are, make a valid configuration.
func TestShippedConfigurationIsValid(t *testing.T) {
	t.Parallel()
	conf, err := filepath.Abs("nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginxBinary(t), "-t", "-q", "-p", t.TempDir()+"/", "-c", conf, "-e", "stderr").CombinedOutput()
	if err != nil {
		t.Errorf("nginx -t: %v\n%s", err, out)
	}
}

// spareAddr is a loopback address with a port nothing listens on.
func spareAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedBuffer collects nginx's output, written by exec's copying goroutine
// while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stack is nginx in front of fake flashsale instances.
type stack struct {
	*nginxServer
	instances []*instance
	client    *http.Client
	// releaseEvents ends the instances' event streams.
	releaseEvents func()
}

func newStack(t *testing.T, instances int) *stack {
	t.Helper()
	release := make(chan struct{})
	s := &stack{releaseEvents: sync.OnceFunc(func() { close(release) })}
	var addrs []string
	for i := range instances {
		in := &instance{name: "instance-" + strconv.Itoa(i), release: release}
		server := httptest.NewServer(in.handler())
		t.Cleanup(server.Close)
		in.server = server
		s.instances = append(s.instances, in)
		addrs = append(addrs, server.Listener.Addr().String())
	}
	// Cleanups run last-registered first: streams end, then nginx stops,
	// then the instances close.
	s.nginxServer = startNginx(t, addrs)
	t.Cleanup(s.releaseEvents)
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(transport.CloseIdleConnections)
	s.client = &http.Client{Transport: transport, Timeout: 5 * time.Second}
	return s
}

// seen is every request the instances served, in no particular order.
func (s *stack) seen() []request {
	var all []request
	for _, in := range s.instances {
		in.mu.Lock()
		all = append(all, in.seen...)
		in.mu.Unlock()
	}
	return all
}

// hits counts the requests for method and path (query included) that
// reached an instance.
func (s *stack) hits(method, path string) int {
	n := 0
	for _, r := range s.seen() {
		if r.method == method && r.path == path {
			n++
		}
	}
	return n
}

// do sends one request through nginx and reads the whole answer.
func (s *stack) do(t *testing.T, method, path, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	return do(t, s.client, s.url, method, path, body, header)
}

func do(t *testing.T, client *http.Client, base, method, path, body string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, string(b)
}

// instance stands in for one flashsale process: it answers like flashsale
// where the config tells routes apart, and records each request.
type instance struct {
	name    string
	server  *httptest.Server
	release <-chan struct{}
	mu      sync.Mutex
	seen    []request
	served  int
	// flooded is set once a flood stream is written out in full.
	flooded atomic.Bool
}

// request is what an instance saw of one request.
type request struct {
	instance     string
	method, path string // path with its query
	item         string // place-order's item_id
	forwardedFor string
	realIP       string
	forwarded    string
	ifNoneMatch  string
}

func (in *instance) record(r *http.Request, item string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.seen = append(in.seen, request{
		instance: in.name, method: r.Method, path: r.URL.RequestURI(), item: item,
		forwardedFor: strings.Join(r.Header.Values("X-Forwarded-For"), ", "),
		realIP:       r.Header.Get("X-Real-IP"),
		forwarded:    r.Header.Get("Forwarded"),
		ifNoneMatch:  r.Header.Get("If-None-Match"),
	})
	in.served++
	return in.served
}

// Sale pages take a while to render here, so that concurrent requests
// all arrive while the first is still at the instance.
const renderTime = 200 * time.Millisecond

func (in *instance) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /flash-sales", func(w http.ResponseWriter, r *http.Request) {
		n := in.record(r, "")
		if r.URL.Query().Get("status") == "limited" {
			// A 429 of the per-IP limit, as flashsale sends it: no
			// caching headers, this client's quota.
			w.Header().Set("RateLimit-Policy", `"ip-1s";q=10;w=1`)
			w.Header().Set("RateLimit", fmt.Sprintf(`"ip-1s";r=0;t=%d`, n))
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusTooManyRequests, `{"error":{"code":"rate_limited","message":"too many requests"}}`)
			return
		}
		page(w, r, n, "public, max-age=1")
	})
	mux.HandleFunc("GET /flash-sales/{sale_id}", func(w http.ResponseWriter, r *http.Request) {
		n := in.record(r, "")
		time.Sleep(renderTime)
		page(w, r, n, "public, max-age=1")
	})
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		page(w, r, in.record(r, ""), "public, max-age=3600")
	})
	mux.HandleFunc("POST /flash-sales/{sale_id}/orders", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ItemID string `json:"item_id"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		in.record(r, body.ItemID)
		if body.ItemID == "crash" {
			hangUp(w)
			return
		}
		writeJSON(w, http.StatusConflict, `{"error":{"code":"sold_out","message":"sold out"}}`)
	})
	// Personal routes answer with headers that would make them cacheable:
	// the config alone must keep them out of the cache.
	personal := func(w http.ResponseWriter, r *http.Request) {
		n := in.record(r, "")
		if r.PathValue("order_id") == "crash" {
			hangUp(w)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("ETag", `"personal"`)
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"instance":%q,"served":%d}`, in.name, n))
	}
	mux.HandleFunc("GET /orders/{order_id}", personal)
	mux.HandleFunc("GET /admin/flash-sales/{sale_id}/stats", personal)
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		in.record(r, "")
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "public, max-age=60")
		// No X-Accel-Buffering (flashsale sends "no"): the config alone
		// must stop nginx from buffering the stream.
		w.WriteHeader(http.StatusOK)
		if r.URL.Query().Has("flood") {
			// 64 MiB of heartbeats, far more than the sockets between
			// here and the client hold.
			chunk := bytes.Repeat([]byte(": heartbeat\n\n"), 64<<10/13)
			for range 64 << 20 / len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			in.flooded.Store(true)
			return
		}
		io.WriteString(w, "id: 1\nevent: order\ndata: {\"status\":\"confirmed\"}\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-in.release:
		case <-r.Context().Done():
		}
	})
	return mux
}

// page answers like flashsale's sale pages: an ETag over the content (the
// serving count n, like server_time, is left out), the given
// Cache-Control, a per-request RateLimit state, and 304 on a match.
func page(w http.ResponseWriter, r *http.Request, n int, cacheControl string) {
	etag := `"` + strings.ReplaceAll(r.URL.Path, "/", "_") + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", cacheControl)
	h.Set("RateLimit-Policy", `"ip-1s";q=10;w=1`)
	h.Set("RateLimit", fmt.Sprintf(`"ip-1s";r=9;t=%d`, n))
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, fmt.Sprintf(`{"path":%q,"served":%d}`, r.URL.Path, n))
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body+"\n")
}

// hangUp closes the connection without an answer, as a crashing instance
// would.
func hangUp(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

func TestCachesSalePages(t *testing.T) {
	t.Parallel()
	s := newStack(t, 3)

	// A refresh storm on a page nobody has fetched yet: one request
	// reaches an instance, every client gets its answer.
	const clients = 20
	type answer struct {
		status    int
		body      string
		etag      string
		rateLimit string
		err       error
	}
	answers := make(chan answer, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			resp, err := s.client.Get(s.url + "/flash-sales/s1")
			if err != nil {
				answers <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			answers <- answer{resp.StatusCode, string(body), resp.Header.Get("ETag"), resp.Header.Get("RateLimit"), err}
		})
	}
	wg.Wait()
	close(answers)
	if n := s.hits("GET", "/flash-sales/s1"); n != 1 {
		t.Fatalf("%d concurrent GETs reached the instances %d times, want once", clients, n)
	}
	var first answer
	withQuota := 0
	for a := range answers {
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.status != http.StatusOK || a.etag == "" {
			t.Fatalf("got %d with ETag %q, want 200 with an ETag", a.status, a.etag)
		}
		if first.body == "" {
			first = a
		}
		if a.body != first.body || a.etag != first.etag {
			t.Fatalf("clients got different pages: %q %s and %q %s", first.body, first.etag, a.body, a.etag)
		}
		if a.rateLimit != "" {
			withQuota++
		}
	}
	// Only the client whose request reached the instance sees its quota.
	if withQuota != 1 {
		t.Errorf("%d answers carried a RateLimit header, want only the one that reached an instance", withQuota)
	}

	// A client holding the current copy gets 304 from nginx.
	resp, body := s.do(t, "GET", "/flash-sales/s1", "", http.Header{"If-None-Match": {first.etag}})
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("If-None-Match with the current ETag: %d %q, want 304 and no body", resp.StatusCode, body)
	}
	// A query string (a cache buster) does not reach the instances.
	resp, _ = s.do(t, "GET", "/flash-sales/s1?nocache=12345", "", nil)
	if resp.Header.Get("X-Cache-Status") != "HIT" {
		t.Errorf("a sale page with a query string: cache status %q, want HIT", resp.Header.Get("X-Cache-Status"))
	}
	if n := len(s.seen()); n != 1 {
		t.Fatalf("instances saw %d requests, want 1: %+v", n, s.seen())
	}

	// The list is cached per filter, the OpenAPI document too.
	for _, path := range []string{"/flash-sales", "/flash-sales?status=active", "/openapi.json"} {
		for range 3 {
			if resp, _ := s.do(t, "GET", path, "", nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", path, resp.StatusCode)
			}
		}
		if n := s.hits("GET", path); n != 1 {
			t.Errorf("3 GETs of %s reached the instances %d times, want once", path, n)
		}
	}

	// Kept only as long as the instance said (max-age=1): afterwards the
	// first request revalidates with the instance, which answers 304.
	resp = waitForCacheStatus(t, s, "/flash-sales/s1")
	if got := resp.Header.Get("X-Cache-Status"); got != "REVALIDATED" || resp.StatusCode != http.StatusOK {
		t.Errorf("after max-age: %d with cache status %q, want 200 REVALIDATED", resp.StatusCode, got)
	}
	conditional := 0
	for _, r := range s.seen() {
		if r.path == "/flash-sales/s1" && r.ifNoneMatch == first.etag {
			conditional++
		}
	}
	if n := s.hits("GET", "/flash-sales/s1"); n != 2 || conditional != 1 {
		t.Errorf("after max-age the instances saw %d requests, %d with If-None-Match %s; want a second one, conditional", n, conditional, first.etag)
	}

	// With no instance answering, the last copy is served.
	for _, in := range s.instances {
		in.server.Close()
	}
	resp = waitForCacheStatus(t, s, "/flash-sales/s1")
	if got := resp.Header.Get("X-Cache-Status"); got != "STALE" || resp.StatusCode != http.StatusOK {
		t.Errorf("with every instance down: %d with cache status %q, want 200 STALE", resp.StatusCode, got)
	}
}

// waitForCacheStatus asks for path until nginx answers other than from
// its fresh copy (at most 3 s: max-age=1 to the next whole second), and
// returns that answer.
func waitForCacheStatus(t *testing.T, s *stack, path string) *http.Response {
	t.Helper()
	var resp *http.Response
	testenv.Eventually(t, 3*time.Second, "GET "+path+" to be more than a cache HIT", func() bool {
		resp, _ = s.do(t, "GET", path, "", nil)
		return resp.Header.Get("X-Cache-Status") != "HIT"
	})
	return resp
}

func TestNeverCachesPersonalOrUncacheableAnswers(t *testing.T) {
	t.Parallel()
	s := newStack(t, 2)
	auth := http.Header{"Authorization": {"Bearer user-token"}}
	for _, path := range []string{"/orders/o1", "/admin/flash-sales/s1/stats"} {
		for range 3 {
			resp, _ := s.do(t, "GET", path, "", auth)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Cache-Status") != "" {
				t.Fatalf("GET %s: %d, cache status %q; want 200 from an instance, no cache", path, resp.StatusCode, resp.Header.Get("X-Cache-Status"))
			}
		}
		if n := s.hits("GET", path); n != 3 {
			t.Errorf("3 GETs of %s reached the instances %d times, want 3 (never cached)", path, n)
		}
	}
	for range 3 {
		s.do(t, "POST", "/flash-sales/s1/orders", `{"item_id":"i1","quantity":1}`, auth)
	}
	if n := s.hits("POST", "/flash-sales/s1/orders"); n != 3 {
		t.Errorf("3 orders reached the instances %d times, want 3", n)
	}

	// A 429 carries no caching headers: each one comes from an instance,
	// with its own client's quota.
	var quotas []string
	for range 2 {
		resp, _ := s.do(t, "GET", "/flash-sales?status=limited", "", nil)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
			resp.Header.Get("RateLimit-Policy") == "" {
			t.Fatalf("429: %d %v, want 429 with Retry-After and the RateLimit headers", resp.StatusCode, resp.Header)
		}
		quotas = append(quotas, resp.Header.Get("RateLimit"))
	}
	if quotas[0] == quotas[1] {
		t.Errorf("two 429s carried the same RateLimit %q, want each its own", quotas[0])
	}

	// Metrics are not for the public.
	if resp, _ := s.do(t, "GET", "/metrics", "", nil); resp.StatusCode != http.StatusNotFound || s.hits("GET", "/metrics") != 0 {
		t.Errorf("GET /metrics: %d, want 404 from nginx", resp.StatusCode)
	}
}

func TestRoutesOrdersByItem(t *testing.T) {
	t.Parallel()
	s := newStack(t, 3)
	// However the client writes the body, the item decides the instance.
	bodies := []string{
		`{"item_id":%q,"quantity":1}`,
		`{"quantity": 2, "item_id": %q}`,
		"{\n  \"item_id\" : %q,\n  \"quantity\": 1\n}",
	}
	instanceOf := map[string]string{}
	used := map[string]bool{}
	for i := range 12 {
		item := fmt.Sprintf("item-%d", i)
		for _, b := range bodies {
			for range 2 {
				resp, _ := s.do(t, "POST", "/flash-sales/s1/orders", fmt.Sprintf(b, item), nil)
				if resp.StatusCode != http.StatusConflict {
					t.Fatalf("place order: %d, want the instance's 409", resp.StatusCode)
				}
			}
		}
	}
	// A body naming no item (the instance answers 400) is routed by its
	// path, the sale: consistently too.
	for range 3 {
		s.do(t, "POST", "/flash-sales/s2/orders", `{"quantity":1}`, nil)
	}
	for _, r := range s.seen() {
		if prev, ok := instanceOf[r.item]; ok && prev != r.instance {
			t.Errorf("orders for %s went to %s and %s, want one instance", r.item, prev, r.instance)
		}
		instanceOf[r.item] = r.instance
		used[r.instance] = true
	}
	if len(instanceOf) != 13 {
		t.Fatalf("instances saw %d items, want 12 and the empty one", len(instanceOf))
	}
	if len(used) < 2 {
		t.Errorf("13 keys all went to %v, want them spread over the instances", used)
	}
}

func TestRetriesOnlyIdempotentRequests(t *testing.T) {
	t.Parallel()
	s := newStack(t, 3)
	// Every instance hangs up on these. A GET may be tried on a second
	// instance; a POST that reached one never goes to another, so an
	// order cannot be placed twice.
	cases := []struct {
		method, path, body string
		attempts           int
	}{
		{"GET", "/orders/crash", "", 2},
		{"POST", "/flash-sales/s1/orders", `{"item_id":"crash","quantity":1}`, 1},
	}
	for _, c := range cases {
		resp, body := s.do(t, c.method, c.path, c.body, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(body, `"code":"unavailable"`) {
			t.Errorf("%s %s with no answer: %d %v %s, want 503 unavailable with Retry-After", c.method, c.path, resp.StatusCode, resp.Header, body)
		}
		if n := s.hits(c.method, c.path); n != c.attempts {
			t.Errorf("%s %s reached %d instances, want %d", c.method, c.path, n, c.attempts)
		}
	}
}

func TestForwardsTheClientAddressOnly(t *testing.T) {
	t.Parallel()
	s := newStack(t, 2)
	s.releaseEvents() // the stream answers and ends at once
	spoofed := http.Header{
		"X-Forwarded-For": {"203.0.113.7"},
		"X-Real-Ip":       {"203.0.113.8"},
		"Forwarded":       {"for=203.0.113.9"},
	}
	// One request per kind of location: a location that set a header of
	// its own would drop the server's.
	s.do(t, "GET", "/flash-sales/s1", "", spoofed)
	s.do(t, "POST", "/flash-sales/s1/orders", `{"item_id":"i1","quantity":1}`, spoofed)
	s.do(t, "GET", "/orders/o1", "", spoofed)
	s.do(t, "GET", "/events", "", spoofed)
	seen := s.seen()
	if len(seen) != 4 {
		t.Fatalf("instances saw %d requests, want 4: %+v", len(seen), seen)
	}
	for _, r := range seen {
		if r.forwardedFor != "127.0.0.1" || r.realIP != "127.0.0.1" || r.forwarded != "" {
			t.Errorf("%s %s reached the instance with X-Forwarded-For %q, X-Real-IP %q, Forwarded %q; want the client's socket address 127.0.0.1 alone",
				r.method, r.path, r.forwardedFor, r.realIP, r.forwarded)
		}
	}
}

func TestRefusesLargeBodies(t *testing.T) {
	t.Parallel()
	s := newStack(t, 2)
	// A body of exactly 64 KiB is allowed (docs/API.md: over 64 KiB is a 413).
	order := `{"item_id":"i1","quantity":1,"pad":"`
	atLimit := order + strings.Repeat("x", 64<<10-len(order)-2) + `"}`
	resp, _ := s.do(t, "POST", "/flash-sales/s1/orders", atLimit, nil)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("a 64 KiB body: %d, want it passed to the instance (409)", resp.StatusCode)
	}
	resp, body := s.do(t, "POST", "/flash-sales/s1/orders", atLimit+" ", nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"code":"request_too_large"`) ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("a body over 64 KiB: %d %q %s, want 413 request_too_large in JSON", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if n := s.hits("POST", "/flash-sales/s1/orders"); n != 1 {
		t.Errorf("instances saw %d orders, want only the one within the limit", n)
	}
}

func TestStreamsEventsUnbuffered(t *testing.T) {
	t.Parallel()
	s := newStack(t, 2)
	const token = "secret-token-value"
	resp, err := s.client.Get(s.url + "/events?access_token=" + token)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The instance keeps the stream open until released: the event must
	// arrive before that (the client's 5 s timeout bounds the read).
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() && !strings.HasPrefix(lines.Text(), "data: ") {
	}
	if !strings.HasPrefix(lines.Text(), "data: ") {
		t.Fatalf("no event arrived while the stream was open: %v", lines.Err())
	}
	s.releaseEvents()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Errorf("the stream did not end cleanly: %v", err)
	}

	// Unbuffered also means that a client who stops reading holds back
	// the instance's writes (flashsale's write timeout then drops it),
	// instead of nginx spooling the stream to disk on its behalf.
	flood, err := s.client.Get(s.url + "/events?flood")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // time for a buffering proxy to read ahead: what must not happen has no event to wait for
	for _, in := range s.instances {
		if in.flooded.Load() {
			t.Errorf("%s wrote 64 MiB to a client that reads nothing: nginx buffers the stream", in.name)
		}
	}
	flood.Body.Close()

	// The token in the query string stays out of the access log (flushed
	// when nginx stops).
	s.stop()
	log, err := os.ReadFile(filepath.Join(s.dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "/events") || strings.Contains(string(log), token) {
		t.Errorf("access log %q: want GET /events logged without its token", log)
	}
}
