package loadtest

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// wireServer is a test server that counts the connections it accepted.
func wireServer(t *testing.T, handler http.Handler) (*httptest.Server, *atomic.Int64, *wireClient) {
	t.Helper()
	server := httptest.NewUnstartedServer(handler)
	var conns atomic.Int64
	server.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			conns.Add(1)
		}
	}
	server.Start()
	t.Cleanup(server.Close)
	client, err := newWireClient(server.URL+"/base/", 2*time.Second, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.closeIdle)
	return server, &conns, client
}

func TestWireClientReadsEveryFraming(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /base/length", func(w http.ResponseWriter, r *http.Request) {
		var body strings.Builder
		_, _ = fmt.Fprint(&body, r.Header.Get("Authorization"), "|", r.Header.Get("Idempotency-Key"), "|", r.Header.Get("Content-Type"), "|")
		buf := make([]byte, 100)
		n, _ := r.Body.Read(buf)
		body.Write(buf[:n])
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Retry-After", "3")
		_, _ = w.Write([]byte(body.String()))
	})
	mux.HandleFunc("GET /base/chunked", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("first,"))
		w.(http.Flusher).Flush() // no length known: chunked
		_, _ = w.Write([]byte("second"))
	})
	mux.HandleFunc("GET /base/unchanged", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
		}
	})
	mux.HandleFunc("GET /base/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(maxResponseBody+10))
		_, _ = w.Write([]byte(strings.Repeat("x", maxResponseBody+10)))
	})
	mux.HandleFunc("GET /base/closing", func(w http.ResponseWriter, r *http.Request) {
		conn, buffered, _ := w.(http.Hijacker).Hijack()
		// An HTTP/1.0 answer without a length: the body ends at the close.
		_, _ = buffered.WriteString("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
		_ = buffered.Flush()
		conn.Close()
	})
	_, conns, client := wireServer(t, mux)
	ctx := context.Background()

	resp := client.roundTrip(ctx, request{method: "POST", path: "/length", token: "tok", idempotencyKey: "key-1", body: []byte(`{"a":1}`)})
	if resp.err != nil || resp.status != 200 || string(resp.body) != `Bearer tok|key-1|application/json|{"a":1}` ||
		resp.etag != `"v1"` || resp.retryAfter != 3*time.Second {
		t.Fatalf("length-framed answer: %+v, body %q", resp, resp.body)
	}
	resp = client.roundTrip(ctx, request{method: "GET", path: "/chunked"})
	if resp.err != nil || string(resp.body) != "first,second" {
		t.Fatalf("chunked answer: %+v, body %q", resp, resp.body)
	}
	resp = client.roundTrip(ctx, request{method: "GET", path: "/unchanged", ifNoneMatch: `"v1"`})
	if resp.err != nil || resp.status != http.StatusNotModified || len(resp.body) != 0 {
		t.Fatalf("304: %+v", resp)
	}
	resp = client.roundTrip(ctx, request{method: "GET", path: "/big"})
	if resp.err != nil || len(resp.body) != maxResponseBody {
		t.Fatalf("a body over the cap: %v, %d bytes read", resp.err, len(resp.body))
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("%d connections for four answers with a known end, want one kept alive", got)
	}
	resp = client.roundTrip(ctx, request{method: "GET", path: "/closing"})
	if resp.err != nil || resp.status != 200 || string(resp.body) != "until the end" {
		t.Fatalf("answer ended by the close: %+v, body %q", resp, resp.body)
	}
	if resp = client.roundTrip(ctx, request{method: "GET", path: "/chunked"}); resp.err != nil || conns.Load() != 2 {
		t.Errorf("after a closed connection: %v, %d connections, want a new one", resp.err, conns.Load())
	}
}

// A kept-alive connection the server closed while idle is replaced without
// an error when repeating the request is safe, and only then.
func TestWireClientReplacesAConnectionClosedWhileIdle(t *testing.T) {
	var hits atomic.Int64
	server, conns, client := wireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	ctx := context.Background()
	for _, req := range []request{
		{method: "GET", path: "/"},
		{method: "POST", path: "/", idempotencyKey: "k", body: []byte("{}")},
	} {
		if resp := client.roundTrip(ctx, req); resp.err != nil {
			t.Fatal(resp.err)
		}
		server.CloseClientConnections()
		if resp := client.roundTrip(ctx, req); resp.err != nil || string(resp.body) != "ok" {
			t.Errorf("%s %s after the server closed the idle connection: %v", req.method, req.idempotencyKey, resp.err)
		}
	}
	// The GET's first connection, its replacement (which carried the
	// first POST), and the POST's replacement.
	if hits.Load() != 4 || conns.Load() != 3 {
		t.Errorf("%d requests served on %d connections, want 4 on 3", hits.Load(), conns.Load())
	}

	// A POST without a key might have been acted on: it is not repeated.
	if resp := client.roundTrip(ctx, request{method: "POST", path: "/", body: []byte("{}")}); resp.err != nil {
		t.Fatal(resp.err)
	}
	server.CloseClientConnections()
	if resp := client.roundTrip(ctx, request{method: "POST", path: "/", body: []byte("{}")}); resp.err == nil {
		t.Error("a POST without an idempotency key was sent again on a new connection")
	}
}

func TestWireClientCancelAndTimeout(t *testing.T) {
	release := make(chan struct{})
	_, _, client := wireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer close(release)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	started := time.Now()
	resp := client.roundTrip(ctx, request{method: "GET", path: "/"})
	if resp.err == nil || time.Since(started) > time.Second {
		t.Errorf("a cancelled request returned %v after %v, want an error at once", resp.err, time.Since(started))
	}
	if len(client.idle) != 0 {
		t.Error("the interrupted connection went back to the pool")
	}

	client.timeout = 100 * time.Millisecond
	resp = client.roundTrip(context.Background(), request{method: "GET", path: "/"})
	if transportErrorClass(resp.err) != "timeout" {
		t.Errorf("a request past its timeout: %v (%s), want a timeout", resp.err, transportErrorClass(resp.err))
	}
}

func TestWireClientRefusesMalformedAnswers(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	answers := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: nine\r\n\r\n",
		"SMTP ready\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
	}
	go func() {
		for _, answer := range answers {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			_, _ = bufio.NewReader(conn).ReadString('\n')
			_, _ = conn.Write([]byte(answer))
			conn.Close()
		}
	}()
	client, err := newWireClient("http://"+listener.Addr().String(), time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, answer := range answers {
		if resp := client.roundTrip(context.Background(), request{method: "GET", path: "/"}); resp.err == nil {
			t.Errorf("answer %q accepted: %+v", answer, resp)
		}
	}
	if _, err := newWireClient("ftp://example.com", time.Second, 1); err == nil {
		t.Error("an ftp base URL was accepted")
	}
}

func TestWireClientSpeaksTLS(t *testing.T) {
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.URL.Path))
	}))
	defer server.Close()
	client, err := newWireClient(server.URL, time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer client.closeIdle()
	client.tlsConfig.RootCAs = x509.NewCertPool()
	client.tlsConfig.RootCAs.AddCert(server.Certificate())
	if resp := client.roundTrip(context.Background(), request{method: "GET", path: "/over-tls"}); resp.err != nil || string(resp.body) != "/over-tls" {
		t.Fatalf("%v, body %q", resp.err, resp.body)
	}
}

// Warmed connections carry the crowd's first requests: four requests in
// flight at once after warming four open no connection of their own. A
// connection the server does not keep is not pooled.
func TestWireClientWarmsConnectionsForTheCrowd(t *testing.T) {
	var warmups atomic.Int64
	arrived := make(chan struct{}, 4)
	release := make(chan struct{})
	_, conns, client := wireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/base/healthz" {
			warmups.Add(1)
			return
		}
		arrived <- struct{}{}
		<-release
	}))
	ctx := context.Background()
	if got := client.warm(ctx, 4, "/healthz"); got != 4 || warmups.Load() != 4 || conns.Load() != 4 {
		t.Fatalf("warm pooled %d, the server answered %d warm-ups on %d connections: want 4 each", got, warmups.Load(), conns.Load())
	}
	answers := make(chan response, 4)
	for range 4 {
		go func() { answers <- client.roundTrip(ctx, request{method: "GET", path: "/press"}) }()
	}
	for range 4 {
		<-arrived // all four in flight together, each on a connection of its own
	}
	close(release)
	for range 4 {
		if resp := <-answers; resp.err != nil || resp.status != http.StatusOK {
			t.Fatalf("a press on a warmed connection: %+v", resp)
		}
	}
	if got := conns.Load(); got != 4 {
		t.Errorf("the presses opened %d connections of their own", got-4)
	}

	_, _, closing := wireServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
	}))
	if got := closing.warm(ctx, 3, "/healthz"); got != 0 {
		t.Errorf("warm pooled %d connections the server closed", got)
	}
}
