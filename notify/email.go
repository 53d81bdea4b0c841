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
	"net/smtp"
	"net/textproto"
	"net/url"
	"time"

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

// Email sends a plain text message per event over SMTP, one connection per
// message. The Message-ID is the notification's id, so a mail system
// (or a person) can tell a redelivery from a new message.
type Email struct {
	addr, host string
	mode       string
	from       *mail.Address
	auth       *url.Userinfo // nil: no AUTH
	tls        *tls.Config
	recipient  func(ctx context.Context, userID string) (string, error)
}

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
	if e.recipient == nil {
		e.recipient = userAddress
	}
	return e, nil
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

// send delivers one message over a connection of its own, within ctx.
func (e *Email) send(ctx context.Context, to string, msg []byte) error {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		return err
	}
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if e.mode == TLSImplicit {
		tc := tls.Client(conn, e.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return err
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, e.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if e.mode == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("the mail server does not offer STARTTLS (set tls=none to send in clear)")
		}
		if err := c.StartTLS(e.tls); err != nil {
			return err
		}
	}
	if e.auth != nil {
		password, _ := e.auth.Password()
		// PlainAuth refuses to send the password in clear to any host
		// but localhost.
		if err := c.Auth(smtp.PlainAuth("", e.auth.Username(), password, e.host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		var reply *textproto.Error
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
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
