package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flashsale/flashsale"
)

// A body from the table is the very bytes json.Marshal writes, for every
// code, kept or not, on the first answer and on later ones.
func TestErrorBodiesAreMarshalOutput(t *testing.T) {
	var c errorBodies
	details := []errorDetail{
		{Code: flashsale.ESoldOut, Message: "the item is sold out"},
		{Code: flashsale.ESoldOut, Message: "only 2 left"},
		{Code: flashsale.EOverloaded, Message: "busy <retry> & wait", RetryAfterMS: 1000},
		{Code: flashsale.EUnauthenticated, Message: "the token is invalid or expired"},
		{Code: flashsale.EInvalidRequest, Message: "unknown field \"x\"", Field: "items[0].x"},
		{Code: flashsale.EPaymentFailed, Message: "declined", Reason: "card_declined"},
		{Code: flashsale.ESaleNotActive, Message: "caf\u00e9 \u2028 \xff"},
	}
	for _, d := range details {
		want, err := json.Marshal(errorBody{Error: d})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		for i := range 3 {
			b, err := c.render(d)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.body, want) || b.contentLength[0] != fmt.Sprint(len(want)) {
				t.Fatalf("render %d of %+v: %q (Content-Length %s), want %q", i, d, b.body, b.contentLength[0], want)
			}
		}
	}
	kept := *c.bodies.Load()
	if _, ok := kept[details[4]]; ok {
		t.Error("an invalid_request body, which quotes the request, was kept")
	}
	if _, ok := kept[details[0]]; !ok {
		t.Error("the sold_out body was not kept")
	}
}

func TestErrorBodiesAreBounded(t *testing.T) {
	var c errorBodies
	for i := range 10 * maxRenderedErrors {
		if _, err := c.render(errorDetail{Code: flashsale.ESoldOut, Message: fmt.Sprintf("only %d left", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(*c.bodies.Load()); n != maxRenderedErrors {
		t.Fatalf("%d bodies kept, want %d", n, maxRenderedErrors)
	}
	d := errorDetail{Code: flashsale.ESoldOut, Message: "past the bound"}
	b, err := c.render(d)
	if want, _ := json.Marshal(errorBody{Error: d}); err != nil || !bytes.Equal(b.body, append(want, '\n')) {
		t.Fatalf("past the bound: %q, %v", b.body, err)
	}
}

// Many requests answer from shared error values at once: writing one must
// not change it (the race detector watches), and the headers of each
// answer are its own.
func TestSharedErrorAnsweredConcurrently(t *testing.T) {
	s := &server{Deps: Deps{}}
	shared := &flashsale.Error{Code: flashsale.EOverloaded, Message: "busy"}
	r := httptest.NewRequest("POST", "/flash-sales/s/orders", nil)
	done := make(chan *httptest.ResponseRecorder)
	for range 8 {
		go func() {
			w := httptest.NewRecorder()
			s.error(w, r, shared)
			done <- w
		}()
	}
	for range 8 {
		w := <-done
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" ||
			w.Body.String() != `{"error":{"code":"overloaded","message":"busy","retry_after_ms":1000}}`+"\n" {
			t.Fatalf("%d %v %q", w.Code, w.Header(), w.Body)
		}
	}
	if shared.RetryAfter != 0 {
		t.Fatalf("the shared error was changed: RetryAfter %v", shared.RetryAfter)
	}
}

// The header values of a body are shared by every answer: a handler that
// adds to one answer's headers after writing must not reach the next.
func TestSharedHeaderValuesStayPut(t *testing.T) {
	s := &server{Deps: Deps{}}
	r := httptest.NewRequest("POST", "/flash-sales/s/orders", nil)
	first := httptest.NewRecorder()
	s.error(first, r, &flashsale.Error{Code: flashsale.ESoldOut, Message: "the item is sold out"})
	first.Header().Add("Content-Type", "text/plain")
	first.Header().Add("Content-Length", "1")
	second := httptest.NewRecorder()
	s.error(second, r, &flashsale.Error{Code: flashsale.ESoldOut, Message: "the item is sold out"})
	if ct, cl := second.Header().Values("Content-Type"), second.Header().Values("Content-Length"); len(ct) != 1 || ct[0] != "application/json" || len(cl) != 1 || cl[0] != "63" {
		t.Fatalf("second answer's headers: Content-Type %q, Content-Length %q", ct, cl)
	}
}

// A dependency's failure that reaches the handler without a code of its
// own (a deadline that ran out deep in a driver, a broken connection, a
// commit in doubt) asks the client to retry; only our own bugs are a 500.
func TestDependencyFaultsAreUnavailableNeverInternal(t *testing.T) {
	s := &server{Deps: Deps{Logger: slog.New(slog.DiscardHandler)}}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	cases := []struct {
		err    error
		status int
	}{
		{fmt.Errorf("reserve order o: %w", context.DeadlineExceeded), http.StatusServiceUnavailable},
		{fmt.Errorf("query: %w", refused), http.StatusServiceUnavailable},
		{fmt.Errorf("read reply: %w", io.ErrUnexpectedEOF), http.StatusServiceUnavailable},
		{fmt.Errorf("commit: %w", flashsale.ErrWriteInDoubt), http.StatusServiceUnavailable},
		{errors.New("nil map write"), http.StatusInternalServerError},
	}
	for _, c := range cases {
		w, r := httptest.NewRecorder(), httptest.NewRequest("POST", "/flash-sales/s/orders", nil)
		s.error(w, r, c.err)
		var body errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if w.Code != c.status {
			t.Errorf("%v: status %d, want %d", c.err, w.Code, c.status)
		}
		if c.status == http.StatusServiceUnavailable && (body.Error.Code != flashsale.EUnavailable || w.Header().Get("Retry-After") == "") {
			t.Errorf("%v: %s, Retry-After %q; want unavailable with Retry-After", c.err, w.Body, w.Header().Get("Retry-After"))
		}
		if strings.Contains(w.Body.String(), c.err.Error()) {
			t.Errorf("%v: the answer shows the internal error: %s", c.err, w.Body)
		}
	}
}

// asError finds a *flashsale.Error anywhere in the chain, and answers the
// cases every request asks, no error and the error itself, without an
// allocation.
func TestAsError(t *testing.T) {
	own := &flashsale.Error{Code: flashsale.ESoldOut}
	for name, c := range map[string]struct {
		err  error
		want *flashsale.Error
	}{
		"none":    {nil, nil},
		"itself":  {own, own},
		"wrapped": {fmt.Errorf("reserving: %w", own), own},
		"other":   {errors.New("disk full"), nil},
	} {
		if got, ok := asError(c.err); got != c.want || ok != (c.want != nil) {
			t.Errorf("%s: %v, %v; want %v", name, got, ok, c.want)
		}
	}
	for name, err := range map[string]error{"none": nil, "itself": own} {
		if allocs := testing.AllocsPerRun(100, func() { asError(err) }); allocs != 0 {
			t.Errorf("%s: %.0f allocations", name, allocs)
		}
	}
}
