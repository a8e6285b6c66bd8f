// Package forward delivers inbound messages outside the box for the
// automation rules: by e-mail over SMTP (STARTTLS, AUTH), to a web service
// as signed JSON, and to an HTTP chat bot whose answer goes back to the
// contact. Each call is one attempt; the rules engine persists retries.
package forward

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// TLS modes of an SMTP connection.
const (
	StartTLSRequired = "starttls" // upgrade with STARTTLS or fail (default)
	ImplicitTLS      = "tls"      // TLS from the first byte (port 465)
	PlainOnly        = "none"     // no TLS: only for a relay on the same host
)

// SMTPConfig is the mail server (automation.smtp).
type SMTPConfig struct {
	Host      string
	Port      int    // 587 (starttls), 465 (tls), 25
	TLS       string // starttls (default), tls, none
	Username  string // empty: no AUTH
	Password  string
	From      string        // envelope and header sender, e.g. "pbxgate <gw@example.com>"
	HelloName string        // EHLO name; empty: "localhost"
	Timeout   time.Duration // whole conversation; 0: 30s
	// TLSConfig overrides server verification (e.g. a private CA); nil:
	// the system roots with ServerName = Host.
	TLSConfig *tls.Config
}

// SMTP sends e-mails through one server. Safe for concurrent use; every
// message is one connection (forwards are rare, servers drop idle ones).
type SMTP struct {
	cfg  SMTPConfig
	from *mail.Address
}

// NewSMTP checks cfg and returns a mailer.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp: host is empty")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = StartTLSRequired
	case StartTLSRequired, ImplicitTLS, PlainOnly:
	default:
		return nil, fmt.Errorf("smtp: tls %q: use starttls, tls or none", cfg.TLS)
	}
	if cfg.Username != "" && cfg.TLS == PlainOnly {
		return nil, errors.New("smtp: refusing to send the password unencrypted: use tls starttls or tls with a username")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: from %q is not an e-mail address: %w", cfg.From, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	return &SMTP{cfg: cfg, from: from}, nil
}

// Error is a failed SMTP attempt. Permanent (a 5xx reply: bad address,
// rejected login) tells the rules engine not to retry.
type Error struct {
	Stage string // connect, starttls, auth, mail, rcpt, data
	Code  int    // SMTP reply code, 0 for network errors
	Err   error
}

func (e *Error) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("smtp %s: server replied %d: %v", e.Stage, e.Code, e.Err)
	}
	return fmt.Sprintf("smtp %s: %v", e.Stage, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying cannot help.
func (e *Error) Permanent() bool { return e.Code >= 500 }

func smtpErr(stage string, err error) error {
	se := &Error{Stage: stage, Err: err}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		se.Code = tp.Code
	}
	return se
}

// Mail sends a plain-text UTF-8 message to the given addresses.
func (s *SMTP) Mail(ctx context.Context, to []string, subject, body string) error {
	if len(to) == 0 {
		return &Error{Stage: "rcpt", Code: 550, Err: errors.New("no recipients")}
	}
	rcpts := make([]*mail.Address, 0, len(to))
	for _, t := range to {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return &Error{Stage: "rcpt", Code: 553, Err: fmt.Errorf("%q is not an e-mail address", t)}
		}
		rcpts = append(rcpts, a)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	tlsCfg := s.tlsConfig()
	var conn net.Conn
	var err error
	if s.cfg.TLS == ImplicitTLS {
		conn, err = (&tls.Dialer{Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return smtpErr("connect", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Closing the connection when ctx ends unblocks any read or write.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return smtpErr("connect", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HelloName); err != nil {
		return smtpErr("ehlo", err)
	}
	if s.cfg.TLS == StartTLSRequired {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return &Error{Stage: "starttls", Code: 554, Err: errors.New("the server does not offer STARTTLS; set tls: tls (port 465) or none for a local relay")}
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return smtpErr("starttls", err)
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return &Error{Stage: "auth", Code: 554, Err: errors.New("the server offers no AUTH; remove the username or check the port")}
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return smtpErr("auth", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return smtpErr("mail", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r.Address); err != nil {
			return smtpErr("rcpt", fmt.Errorf("%s: %w", r.Address, err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("data", err)
	}
	if _, err := w.Write(s.compose(rcpts, subject, body)); err != nil {
		return smtpErr("data", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("data", err)
	}
	// The message was accepted at the end of DATA; a failed QUIT must not
	// make the engine send it again.
	_ = c.Quit()
	return nil
}

func (s *SMTP) tlsConfig() *tls.Config {
	if s.cfg.TLSConfig != nil {
		c := s.cfg.TLSConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = s.cfg.Host
		}
		return c
	}
	return &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
}

// compose builds the RFC 5322 message: UTF-8 subject as an encoded word,
// quoted-printable body (safe for any line length and character).
func (s *SMTP) compose(to []*mail.Address, subject, body string) []byte {
	var b strings.Builder
	addrs := make([]string, len(to))
	for i, a := range to {
		addrs[i] = a.String()
	}
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	var id [12]byte
	_, _ = rand.Read(id[:])
	hdr := [][2]string{
		{"From", s.from.String()},
		{"To", strings.Join(addrs, ", ")},
		{"Subject", mime.QEncoding.Encode("utf-8", strings.ReplaceAll(subject, "\n", " "))},
		{"Date", time.Now().Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id[:]) + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"Auto-Submitted", "auto-generated"},
	}
	for _, h := range hdr {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")))
	_ = qp.Close()
	return []byte(b.String())
}
