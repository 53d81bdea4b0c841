package loadtest

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// wireClient is the generator's HTTP/1.1 client. It writes a request and
// reads its answer on the caller's goroutine, over keep-alive connections it
// pools. net/http's client runs a reader and a writer goroutine per
// connection and hands every request and answer between them and the
// caller; measured in the herd, that cost as much CPU per request as the
// service's answer, CPU a generator sharing the machine takes from the
// service it measures. The API answers small bodies with a Content-Length,
// which is all this client needs to be fast for; it still reads chunked
// bodies and bodies ended by the connection's close.
type wireClient struct {
	addr      string // host:port to dial
	host      string // Host header
	basePath  string // prefix of every request path, without a trailing slash
	tlsConfig *tls.Config
	dialer    net.Dialer
	timeout   time.Duration

	mu      sync.Mutex
	idle    []*wireConn
	maxIdle int
}

// wireConn is one keep-alive connection.
type wireConn struct {
	net.Conn
	r *bufio.Reader
	w *bufio.Writer
	// reused is set once the connection has carried an answer: a later
	// request that fails before any answer may have met the server closing
	// it while idle.
	reused bool
	// watched is the context whose end interrupts the connection's
	// requests, and unwatch stops that. One registration serves every
	// request of a run on the connection: registering per request would
	// make all workers contend for the run context's lock.
	watched context.Context
	unwatch func() bool
}

// watch makes the end of ctx interrupt conn's requests. It reports false
// when conn was watching another context that has already ended: the
// interruption may land at any moment, so conn cannot be used.
func (conn *wireConn) watch(ctx context.Context) bool {
	if conn.watched == ctx {
		return true
	}
	if conn.unwatch != nil && !conn.unwatch() {
		return false
	}
	conn.watched = ctx
	conn.unwatch = context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	return true
}

func (conn *wireConn) close() {
	if conn.unwatch != nil {
		conn.unwatch()
	}
	conn.Close()
}

// aLongTimeAgo is a deadline in the past: setting it interrupts a blocked
// read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

func newWireClient(baseURL string, timeout time.Duration, maxIdle int) (*wireClient, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	c := &wireClient{
		host: u.Host, basePath: trimSlash(u.EscapedPath()), timeout: timeout, maxIdle: maxIdle,
		dialer: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
	}
	port := u.Port()
	switch u.Scheme {
	case "http":
		port = cmp.Or(port, "80")
	case "https":
		port = cmp.Or(port, "443")
		c.tlsConfig = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
	default:
		return nil, fmt.Errorf("base URL %q: want http or https", baseURL)
	}
	c.addr = net.JoinHostPort(u.Hostname(), port)
	return c, nil
}

func trimSlash(path string) string {
	for len(path) > 0 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	return path
}

// closeIdle closes the pooled connections.
func (c *wireClient) closeIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, conn := range idle {
		conn.close()
	}
}

func (c *wireClient) get(ctx context.Context) (*wireConn, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		conn := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return conn, nil
	}
	c.mu.Unlock()
	return c.dial(ctx)
}

// dial opens a new connection.
func (c *wireClient) dial(ctx context.Context) (*wireConn, error) {
	var raw net.Conn
	var err error
	if c.tlsConfig != nil {
		raw, err = (&tls.Dialer{NetDialer: &c.dialer, Config: c.tlsConfig}).DialContext(ctx, "tcp", c.addr)
	} else {
		raw, err = c.dialer.DialContext(ctx, "tcp", c.addr)
	}
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: raw, r: bufio.NewReaderSize(raw, 16<<10), w: bufio.NewWriterSize(raw, 4<<10)}, nil
}

// warm opens n connections at once, has each carry one GET of path and
// leaves those the server keeps open idle in the pool; it returns how many
// it pooled. A crowd at a sale's start presses on connections opened
// before it (its browsers', or those of the load balancer in front of the
// service): the service should meet its presses, not as many TCP
// handshakes in the same instant. The answers are not looked at.
func (c *wireClient) warm(ctx context.Context, n int, path string) int {
	opened := make(chan *wireConn, n)
	var dialers sync.WaitGroup
	for range n {
		dialers.Go(func() {
			conn, err := c.dial(ctx)
			if err != nil {
				return
			}
			if resp, _, keep := c.exchange(ctx, conn, request{method: "GET", path: path}); resp.err != nil || !keep {
				conn.close()
				return
			}
			opened <- conn
		})
	}
	dialers.Wait()
	close(opened)
	pooled := 0
	for conn := range opened {
		c.put(conn)
		pooled++
	}
	return pooled
}

func (c *wireClient) put(conn *wireConn) {
	conn.reused = true
	c.mu.Lock()
	if len(c.idle) < c.maxIdle {
		c.idle = append(c.idle, conn)
		conn = nil
	}
	c.mu.Unlock()
	if conn != nil {
		conn.close()
	}
}

// roundTrip sends req and reads the answer. A request that fails on a
// reused connection before any byte of an answer came back is sent again on
// another connection (the next idle one, else a new one), when repeating it
// is safe (a GET, or a request with an idempotency key), as net/http does:
// the server closing idle connections must not show as errors of the
// service. Each failed connection is closed, so this ends.
func (c *wireClient) roundTrip(ctx context.Context, req request) response {
	for {
		conn, err := c.get(ctx)
		if err != nil {
			return response{err: err}
		}
		if !conn.watch(ctx) {
			conn.close()
			continue
		}
		resp, answered, keep := c.exchange(ctx, conn, req)
		if resp.err == nil {
			if keep {
				c.put(conn)
			} else {
				conn.close()
			}
			return resp
		}
		conn.close()
		repeatable := req.method == "GET" || req.idempotencyKey != ""
		if !conn.reused || answered || !repeatable || ctx.Err() != nil {
			return resp
		}
	}
}

// exchange writes req on conn and reads the answer; the end of ctx, which
// conn watches, interrupts it at once rather than after its timeout (the
// caller then counts it as cut off). answered tells whether any byte of an
// answer arrived; keep whether conn can carry another request.
func (c *wireClient) exchange(ctx context.Context, conn *wireConn, req request) (resp response, answered, keep bool) {
	if err := conn.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		return response{err: err}, false, false
	}
	resp, answered, keep = c.transfer(conn, req)
	if ctx.Err() != nil {
		// The interruption (conn.watch) may land at any moment now, even on
		// the next request: the connection cannot carry one.
		keep = false
	}
	return resp, answered, keep
}

// transfer writes req on conn and reads the answer, as exchange says.
func (c *wireClient) transfer(conn *wireConn, req request) (resp response, answered, keep bool) {
	w := conn.w
	w.WriteString(req.method)
	w.WriteByte(' ')
	w.WriteString(c.basePath)
	w.WriteString(req.path)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(c.host)
	w.WriteString("\r\nUser-Agent: flashsale-loadtest\r\nAccept: application/json\r\n")
	writeHeader(w, "Authorization: Bearer ", req.token)
	writeHeader(w, "Idempotency-Key: ", req.idempotencyKey)
	writeHeader(w, "If-None-Match: ", req.ifNoneMatch)
	writeHeader(w, "Flashsale-Admission: ", req.admission)
	writeHeader(w, "Flashsale-Device: ", req.device)
	writeHeader(w, "Flashsale-Challenge: ", req.challenge)
	writeHeader(w, "X-Forwarded-For: ", req.forwardedFor)
	if req.body != nil {
		w.WriteString("Content-Type: application/json\r\nContent-Length: ")
		w.WriteString(strconv.Itoa(len(req.body)))
		w.WriteString("\r\n\r\n")
		w.Write(req.body)
	} else {
		w.WriteString("\r\n")
	}
	if err := w.Flush(); err != nil {
		return response{err: err}, false, false
	}

	r := conn.r
	line, err := r.ReadSlice('\n')
	if err != nil {
		return response{err: err}, len(line) > 0, false
	}
	status, http10, err := parseStatusLine(line)
	if err != nil {
		return response{err: err}, true, false
	}
	if status < 200 {
		// The API sends no interim answers, and this client asks for none
		// (no Expect: 100-continue).
		return response{err: fmt.Errorf("unexpected interim answer %d", status)}, true, false
	}
	resp.status = status
	keep = !http10
	length, chunked := int64(-1), false
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return response{err: err}, true, false
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return response{err: fmt.Errorf("malformed header line %q", line)}, true, false
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return response{err: fmt.Errorf("malformed Content-Length %q", value)}, true, false
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			}
		case bytes.EqualFold(name, []byte("ETag")):
			resp.etag = string(value)
		case bytes.EqualFold(name, []byte("Retry-After")):
			resp.retryAfter = parseRetryAfter(string(value), time.Now())
		case bytes.EqualFold(name, []byte("RateLimit")):
			// One field line per policy that judged the request
			// (per IP, per user).
			reset, exhausted := parseRateLimit(string(value))
			resp.limitReset = max(resp.limitReset, reset)
			resp.exhausted = append(resp.exhausted, exhausted...)
		}
	}

	limit := max(req.maxBody, maxResponseBody)
	switch {
	case req.method == "HEAD" || status == 204 || status == 304:
	case chunked:
		if resp.body, err = io.ReadAll(io.LimitReader(httputil.NewChunkedReader(r), limit)); err == nil {
			err = skipTrailer(r)
		}
		if int64(len(resp.body)) == limit {
			keep = false // the rest of the body is still on the wire
		}
	case length >= 0:
		resp.body = make([]byte, min(length, limit))
		if _, err = io.ReadFull(r, resp.body); err == nil && length > limit {
			_, err = io.CopyN(io.Discard, r, length-limit)
		}
	default:
		// No length: the body ends when the server closes the connection.
		resp.body, err = io.ReadAll(io.LimitReader(r, limit))
		keep = false
	}
	if err != nil {
		return response{err: err}, true, false
	}
	return resp, true, keep
}

func writeHeader(w *bufio.Writer, prefix, value string) {
	if value == "" {
		return
	}
	w.WriteString(prefix)
	w.WriteString(value)
	w.WriteString("\r\n")
}

// parseStatusLine reads "HTTP/1.1 409 Conflict\r\n".
func parseStatusLine(line []byte) (status int, http10 bool, err error) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return 0, false, fmt.Errorf("malformed status line %q", line)
	}
	return status, line[7] == '0', nil
}

// skipTrailer reads the trailer section that ends a chunked body.
func skipTrailer(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}
