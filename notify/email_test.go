package notify_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/flashsale/flashsale"
	"github.com/flashsale/flashsale/internal/testenv"
	"github.com/flashsale/flashsale/notify"
)

// mailServer is a real SMTP server on loopback, in this process. It
// requires AUTH PLAIN as shop/secret and refuses, with 550, any recipient
// whose address starts with "nobody".
type mailServer struct {
	addr string
	// trust is what a client must trust to talk TLS to it.
	trust *tls.Config

	mu       sync.Mutex
	received []receivedMail
	conns    []*smtp.Conn // every connection a client opened
}

type receivedMail struct {
	from, to string
	tls      bool
	data     []byte
}

// startMailServer starts a server that speaks TLS from the first byte
// when implicitTLS is set, and offers STARTTLS otherwise.
func startMailServer(t *testing.T, implicitTLS bool) *mailServer {
	t.Helper()
	// httptest's certificate is made for 127.0.0.1: it serves this
	// server too.
	certs := httptest.NewTLSServer(nil)
	serverTLS := &tls.Config{Certificates: certs.TLS.Certificates}
	roots := x509.NewCertPool()
	roots.AddCert(certs.Certificate())
	certs.Close()

	m := &mailServer{trust: &tls.Config{RootCAs: roots}}
	server := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		m.mu.Lock()
		// A connection begins a session again after STARTTLS.
		if !slices.Contains(m.conns, c) {
			m.conns = append(m.conns, c)
		}
		m.mu.Unlock()
		return &mailSession{server: m, tls: isTLS, conn: c}, nil
	}))
	server.Domain = "localhost"
	server.TLSConfig = serverTLS
	server.AllowInsecureAuth = true // tls=none sends credentials to localhost in clear
	server.ReadTimeout, server.WriteTimeout = 10*time.Second, 10*time.Second
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS {
		listener = tls.NewListener(listener, serverTLS)
	}
	m.addr = listener.Addr().String()
	go server.Serve(listener)
	t.Cleanup(func() { server.Close() })
	return m
}

// connections is how many connections clients have opened.
func (m *mailServer) connections() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.conns)
}

// hangUp closes every connection, as a server does to idle clients.
func (m *mailServer) hangUp() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.conns {
		c.Close()
	}
}

func (m *mailServer) mails() []receivedMail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]receivedMail(nil), m.received...)
}

type mailSession struct {
	server   *mailServer
	conn     *smtp.Conn
	tls      bool
	authed   bool
	from, to string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "shop" || pass != "secret" {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = to
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	// After STARTTLS the connection is TLS though the session began in
	// clear.
	_, isTLS := s.conn.TLSConnectionState()
	s.server.mu.Lock()
	s.server.received = append(s.server.received, receivedMail{from: s.from, to: s.to, tls: isTLS || s.tls, data: data})
	s.server.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// tlsModes are the ways the channel talks to its server, each with
// whether the test server speaks TLS from the first byte.
var tlsModes = []struct {
	mode        string
	implicitTLS bool
}{{notify.TLSNone, false}, {notify.TLSStartTLS, false}, {notify.TLSImplicit, true}}

// Each way of talking to the server, end to end: an order's notification
// goes from the store through the dispatcher to the server, once, as a
// plain message with the order, the item, the amount and what to do next.
func TestEmailEndToEnd(t *testing.T) {
	for _, c := range tlsModes {
		t.Run(c.mode, func(t *testing.T) {
			server := startMailServer(t, c.implicitTLS)
			email, err := notify.NewEmail(notify.EmailConfig{
				URL: "smtp://shop:secret@" + server.addr + "?from=Flash+Sale+<shop@example.com>&tls=" + c.mode,
				TLS: server.trust,
			})
			if err != nil {
				t.Fatal(err)
			}
			shop := newShop(t, email.Name())
			run(t, notify.Config{Outbox: shop.store, Channels: []notify.Channel{email}, PollInterval: time.Millisecond})
			o := shop.reserve("alice@example.com")
			n := shop.notifications("alice@example.com")[0]
			testenv.Eventually(t, 10*time.Second, "delivered", func() bool { return !shop.delivery(n.ID, "email").DeliveredAt.IsZero() })

			mails := server.mails()
			if len(mails) != 1 {
				t.Fatalf("the server got %d messages, want 1", len(mails))
			}
			got := mails[0]
			if got.from != "shop@example.com" || got.to != "alice@example.com" || got.tls != (c.mode != notify.TLSNone) {
				t.Fatalf("envelope from %q to %q over TLS %v", got.from, got.to, got.tls)
			}
			msg, err := mail.ReadMessage(strings.NewReader(string(got.data)))
			if err != nil {
				t.Fatal(err)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
			if err != nil {
				t.Fatal(err)
			}
			for header, want := range map[string]string{
				"From": `"Flash Sale" <shop@example.com>`, "To": "<alice@example.com>",
				"Message-Id": "<" + n.ID + "@flashsale>", notify.EventIDHeader: n.ID,
				"Content-Type": "text/plain; charset=utf-8",
			} {
				if got := msg.Header.Get(header); got != want {
					t.Errorf("%s: %q, want %q", header, got, want)
				}
			}
			if want := "Reserved for you: Phone X, pay by 2026-06-01 12:10 UTC"; subject != want {
				t.Errorf("subject %q, want %q", subject, want)
			}
			for _, want := range []string{o.ID, "Phone X", "499.00 USD", "What to do next: pay for the order before 2026-06-01 12:10 UTC", n.ID} {
				if !strings.Contains(string(body), want) {
					t.Errorf("the body lacks %q:\n%s", want, body)
				}
			}
		})
	}
}

// A recipient the server refuses, and a user without an address, are
// given up at once with the reason kept; a bad password is retried, since
// the configuration may yet be fixed.
func TestEmailFailures(t *testing.T) {
	server := startMailServer(t, false)
	email, err := notify.NewEmail(notify.EmailConfig{
		URL: "smtp://shop:secret@" + server.addr + "?from=shop@example.com&tls=none",
	})
	if err != nil {
		t.Fatal(err)
	}
	shop := newShop(t, email.Name())
	run(t, notify.Config{Outbox: shop.store, Channels: []notify.Channel{email}, PollInterval: time.Millisecond})
	for user, reason := range map[string]string{"nobody@example.com": "550", "alice": `user "alice" has no email address`} {
		shop.reserve(user)
		id := shop.notifications(user)[0].ID
		testenv.Eventually(t, 10*time.Second, "given up", func() bool { return !shop.delivery(id, "email").Pending() })
		if d := shop.delivery(id, "email"); d.Attempts != 1 || !d.DeliveredAt.IsZero() || !strings.Contains(d.LastError, reason) {
			t.Errorf("%s: %+v, want given up on the first attempt with %q", user, d, reason)
		}
	}

	wrongPassword, err := notify.NewEmail(notify.EmailConfig{URL: "smtp://shop:wrong@" + server.addr + "?from=shop@example.com&tls=none"})
	if err != nil {
		t.Fatal(err)
	}
	misconfigured := newShop(t, wrongPassword.Name())
	run(t, notify.Config{Outbox: misconfigured.store, Channels: []notify.Channel{wrongPassword}, PollInterval: time.Millisecond})
	misconfigured.reserve("alice@example.com")
	id := misconfigured.notifications("alice@example.com")[0].ID
	testenv.Eventually(t, 10*time.Second, "the failed attempt recorded", func() bool { return misconfigured.delivery(id, "email").LastError != "" })
	if d := misconfigured.delivery(id, "email"); !d.Pending() || !strings.Contains(d.LastError, "535") {
		t.Fatalf("a bad password: %+v, want a 535 to retry", d)
	}
	if len(server.mails()) != 0 {
		t.Fatalf("the server received %d messages, want none", len(server.mails()))
	}
}

// Messages in a row share one connection (one handshake, TLS and login);
// one the server has hung up is replaced, and the message goes through.
func TestEmailReusesItsConnection(t *testing.T) {
	for _, c := range tlsModes {
		t.Run(c.mode, func(t *testing.T) {
			server := startMailServer(t, c.implicitTLS)
			email, err := notify.NewEmail(notify.EmailConfig{
				URL: "smtp://shop:secret@" + server.addr + "?from=shop@example.com&tls=" + c.mode, TLS: server.trust,
			})
			if err != nil {
				t.Fatal(err)
			}
			deliver := func(i int) {
				t.Helper()
				n := flashsale.Notification{ID: fmt.Sprint("id-", i), Event: flashsale.EventOrderCancelled, UserID: "alice@example.com",
					OrderID: "order-1", ItemName: "Phone X", Quantity: 1, Amount: 49_900, Currency: "USD", OccurredAt: start}
				if err := email.Deliver(t.Context(), n); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			for i := range 5 {
				deliver(i)
			}
			if got := server.connections(); got != 1 {
				t.Errorf("5 messages in a row took %d connections, want 1", got)
			}
			server.hangUp()
			deliver(5)
			if got, mails := server.connections(), len(server.mails()); got != 2 || mails != 6 {
				t.Errorf("after the server hung up: %d connections and %d messages, want 2 and 6", got, mails)
			}
		})
	}
}

func TestNewEmailChecksTheURL(t *testing.T) {
	for _, url := range []string{
		// A password in clear, to a server that is not this machine.
		"smtp://shop:secret@mail.example.com?from=a@example.com&tls=none",
		"http://host?from=a@example.com",
		"smtp://host",
		"smtp://host?from=not-an-address",
		"smtp://host?from=a@example.com&tls=sometimes",
		"smtp://host?from=a@example.com&port=25",
		"smtp://?from=a@example.com",
	} {
		if _, err := notify.NewEmail(notify.EmailConfig{URL: url}); err == nil {
			t.Errorf("NewEmail(%q) succeeded", url)
		}
	}
}

// Every event's message says what happened and what to do next.
func TestEmailBodies(t *testing.T) {
	server := startMailServer(t, false)
	email, err := notify.NewEmail(notify.EmailConfig{URL: "smtp://shop:secret@" + server.addr + "?from=shop@example.com&tls=none"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[flashsale.NotificationEvent][]string{
		flashsale.EventOrderReserved:   {"What to do next: pay for the order before 2026-06-01 12:10 UTC"},
		flashsale.EventPaymentDeclined: {"declined (card_declined)", "What to do next: pay again"},
		flashsale.EventOrderConfirmed:  {"Charged:  998.00 USD", "What to do next: nothing"},
		flashsale.EventPaymentFailed:   {"failed (card_declined)", "not charged", "place a new order"},
		flashsale.EventOrderExpired:    {"was not paid by 2026-06-01 12:10 UTC", "place a new order"},
		flashsale.EventOrderCancelled:  {"is cancelled", "Nothing was charged"},
		flashsale.EventOrderRefunded:   {"is refunded", "998.00 USD (refunded)"},
	}
	for event, phrases := range want {
		n := flashsale.Notification{
			ID: "id-" + string(event), Event: event, UserID: "alice@example.com", OrderID: "order-1",
			ItemName: "Phone X", Quantity: 2, Amount: 99_800, Currency: "USD", Reason: "card_declined",
			ExpiresAt: time.Date(2026, 6, 1, 12, 10, 0, 0, time.UTC), OccurredAt: start,
		}
		if err := email.Deliver(t.Context(), n); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		mails := server.mails()
		body := string(mails[len(mails)-1].data)
		for _, phrase := range append(phrases, "order-1", "Phone X") {
			if !strings.Contains(strings.ReplaceAll(body, "=\r\n", ""), phrase) {
				t.Errorf("%s: the message lacks %q:\n%s", event, phrase, body)
			}
		}
	}
}
