package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/flashsale/flashsale"
)

// The ways an email channel talks to its server.
const (
	// TLSStartTLS upgrades a plain connection (port 587) and refuses a
	// server that cannot.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465, smtps://).
	TLSImplicit = "tls"
	// TLSNone sends in clear (port 25): a local relay or a test server.
	// Credentials are then only sent to localhost.
	TLSNone = "none"
)

// EmailConfig configures the email channel.
type EmailConfig struct {
	// URL is the server, credentials and sender:
	// smtp://user:pass@host:587?from=shop@example.com&tls=starttls|tls|none.
	// tls defaults to starttls (tls for smtps://); the port to 587, 465
	// or 25 to match.
	URL string
	// TLS, when set, is the TLS configuration (a test trusting its own
	// CA); its ServerName defaults to the URL's host.
	TLS *tls.Config
	// Recipient returns a user's email address. When nil, a user id that
	// is an address is used as such, and any other user has none: their
	// deliveries are given up, with the reason recorded.
	Recipient func(ctx context.Context, userID string) (string, error)
}

// Email sends a plain text message per event over SMTP, through
// connections it keeps open between messages (RSET before each reuse),
// so that a burst of events (a lottery's waitlist) pays one handshake,
// TLS and login per connection, not per message. The Message-ID is the
// notification's id, so a mail system (or a person) can tell a redelivery
// from a new message.
type Email struct {
	addr, host string
	mode       string
	from       *mail.Address
	auth       *url.Userinfo // nil: no AUTH
	tls        *tls.Config
	recipient  func(ctx context.Context, userID string) (string, error)
	idle       chan idleClient
}

// idleClient is a logged-in connection between messages.
type idleClient struct {
	client *smtp.Client
	since  time.Time
}

// Email keeps at most maxIdle connections between messages, each for at
// most idleFor: servers drop a silent client after a few minutes (RFC
// 5321 suggests five), and a dropped one costs a failed RSET and a new
// connection.
const (
	maxIdle = 4
	idleFor = 30 * time.Second
)

// replyTimeout bounds the wait for each of the server's replies.
const replyTimeout = 30 * time.Second

// NewEmail checks cfg and returns the channel.
func NewEmail(cfg EmailConfig) (*Email, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("notify: the SMTP URL does not parse: %w", err)
	}
	e := &Email{host: u.Hostname(), mode: TLSStartTLS, auth: u.User, recipient: cfg.Recipient}
	switch u.Scheme {
	case "smtp":
	case "smtps":
		e.mode = TLSImplicit
	default:
		return nil, fmt.Errorf("notify: the SMTP URL's scheme is %q, not smtp or smtps", u.Scheme)
	}
	query := u.Query()
	for key := range query {
		if key != "from" && key != "tls" {
			return nil, fmt.Errorf("notify: the SMTP URL has an unknown parameter %q (known: from, tls)", key)
		}
	}
	if mode := query.Get("tls"); mode != "" {
		if mode != TLSStartTLS && mode != TLSImplicit && mode != TLSNone {
			return nil, fmt.Errorf("notify: the SMTP URL's tls=%q is not starttls, tls or none", mode)
		}
		e.mode = mode
	}
	if e.from, err = mail.ParseAddress(query.Get("from")); err != nil {
		return nil, fmt.Errorf("notify: the SMTP URL needs from=<sender address>: %w", err)
	}
	if e.host == "" {
		return nil, errors.New("notify: the SMTP URL has no host")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{TLSStartTLS: "587", TLSImplicit: "465", TLSNone: "25"}[e.mode]
	}
	e.addr = net.JoinHostPort(e.host, port)
	e.tls = &tls.Config{ServerName: e.host, MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		e.tls = cfg.TLS.Clone()
		if e.tls.ServerName == "" {
			e.tls.ServerName = e.host
		}
	}
	if e.mode == TLSNone && e.auth != nil && !isLoopback(e.host) {
		return nil, fmt.Errorf("notify: the SMTP URL sends a password in clear (tls=none) to %s; only a local relay may get one so", e.host)
	}
	if e.recipient == nil {
		e.recipient = userAddress
	}
	e.idle = make(chan idleClient, maxIdle)
	return e, nil
}

// isLoopback reports whether host is this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// userAddress takes a user id that is an email address as the address.
func userAddress(_ context.Context, userID string) (string, error) {
	a, err := mail.ParseAddress(userID)
	if err != nil || a.Address != userID {
		return "", Permanent(fmt.Errorf("user %q has no email address", userID))
	}
	return a.Address, nil
}

// Name is "email".
func (*Email) Name() string { return "email" }

// Deliver writes the event's message and sends it to the user.
func (e *Email) Deliver(ctx context.Context, n flashsale.Notification) error {
	to, err := e.recipient(ctx, n.UserID)
	if err != nil {
		return err
	}
	m, err := newMessage(n)
	if err != nil {
		return Permanent(err)
	}
	return e.send(ctx, to, e.compose(n, to, m))
}

// compose writes the message in RFC 5322 form. The subject is encoded
// when it needs to be, which also keeps a line break in an item's name
// from starting a header of its own.
func (e *Email) compose(n flashsale.Notification, to string, m message) []byte {
	var b bytes.Buffer
	header := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	header("From", e.from.String())
	header("To", (&mail.Address{Address: to}).String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", time.Now().UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+n.ID+"@flashsale>")
	header(EventIDHeader, n.ID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	body := quotedprintable.NewWriter(&b)
	body.Write([]byte(m.Body))
	body.Close()
	return b.Bytes()
}

// send delivers one message within ctx, over an idle connection when one
// still answers, else a new one. A connection goes back to the idle ones
// only after a message went through it whole.
func (e *Email) send(ctx context.Context, to string, msg []byte) error {
	c, err := e.client(ctx)
	if err != nil {
		return err
	}
	// A cancelled ctx closes the connection under whatever waits on it.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err = e.transfer(c, to, msg)
	if !stop() || err != nil {
		c.Close()
		return err
	}
	select {
	case e.idle <- idleClient{client: c, since: time.Now()}:
	default:
		c.Quit()
	}
	return nil
}

// transfer sends one message on c.
func (e *Email) transfer(c *smtp.Client, to string, msg []byte) error {
	if err := c.Mail(e.from.Address, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		var reply *smtp.SMTPError
		if errors.As(err, &reply) && reply.Code >= 500 {
			// The server refuses this recipient for good (550 no such
			// user); other failures, a bad password among them, are the
			// configuration's and are retried once it is fixed.
			return Permanent(err)
		}
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}

// client returns an idle connection that answers a RSET, closing those
// that do not or have idled too long, else a new logged-in one.
func (e *Email) client(ctx context.Context) (*smtp.Client, error) {
	for {
		select {
		case idle := <-e.idle:
			if time.Since(idle.since) < idleFor {
				stop := context.AfterFunc(ctx, func() { idle.client.Close() })
				err := idle.client.Reset()
				if stop() && err == nil {
					return idle.client, nil
				}
			}
			idle.client.Close()
			continue
		default:
		}
		return e.dial(ctx)
	}
}

// dial opens a connection, secures it as the URL says and logs in.
func (e *Email) dial(ctx context.Context) (*smtp.Client, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if e.mode == TLSImplicit {
		tc := tls.Client(conn, e.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	var c *smtp.Client
	if e.mode == TLSStartTLS {
		// Refuses a server without STARTTLS: set tls=none to send in
		// clear.
		if c, err = smtp.NewClientStartTLS(conn, e.tls); err != nil {
			conn.Close()
			return nil, err
		}
	} else {
		c = smtp.NewClient(conn)
		if err := c.Hello("localhost"); err != nil {
			c.Close()
			return nil, err
		}
	}
	// The library waits 5 minutes for a reply and 12 after a message, as
	// RFC 5321 suggests for a relay; a delivery attempt that waits that
	// long holds a dispatcher's turn for nothing: it fails and is retried.
	c.CommandTimeout, c.SubmissionTimeout = replyTimeout, replyTimeout
	if e.auth != nil {
		password, _ := e.auth.Password()
		if err := c.Auth(sasl.NewPlainClient("", e.auth.Username(), password)); err != nil {
			c.Close()
			return nil, fmt.Errorf("smtp auth: %w", err)
		}
	}
	return c, nil
}
