package forward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"net"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// received is one message the loopback server accepted.
type received struct {
	from   string
	to     []string
	data   []byte
	tls    bool
	authed string
}

// backend is a real SMTP server (emersion/go-smtp) that requires STARTTLS
// before AUTH PLAIN, and hands each message to a channel.
type backend struct {
	user, pass string
	rejectRcpt string // answer 550 for this address
	got        chan received
}

type session struct {
	b    *backend
	conn *gosmtp.Conn
	cur  received
}

func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	return &session{b: b, conn: c}, nil
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.b.user || pass != s.b.pass {
			return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.cur.authed = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.cur.authed == "" {
		return gosmtp.ErrAuthRequired
	}
	s.cur.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if to == s.b.rejectRcpt {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.cur.data = b
	s.b.got <- s.cur
	return nil
}

func (s *session) Reset()        { s.cur = received{authed: s.cur.authed} }
func (s *session) Logout() error { return nil }

// startSMTP runs the server on a loopback port with the httptest
// certificate (valid for 127.0.0.1) and returns its port and a client TLS
// config that trusts it.
func startSMTP(t *testing.T, b *backend) (int, *tls.Config) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	cert := ts.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	ts.Close()

	srv := gosmtp.NewServer(b)
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.AllowInsecureAuth = false // AUTH only after STARTTLS
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr).Port, &tls.Config{RootCAs: pool}
}

func TestSMTPStartTLSAuthAndUTF8(t *testing.T) {
	t.Parallel()
	b := &backend{user: "gw", pass: "s3cret", got: make(chan received, 1)}
	port, tlsCfg := startSMTP(t, b)
	m, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, Username: "gw", Password: "s3cret",
		From: "pbxgate <gw@example.com>", TLSConfig: tlsCfg, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	body := "Von: +4915112345678\n\nGrüße aus Köln – " + strings.Repeat("lange Zeile ", 20) + "\nПривет"
	if err := m.Mail(context.Background(), []string{"support@example.com", "Team <team@example.com>"}, "SMS von +49151 – Anfrage", body); err != nil {
		t.Fatal(err)
	}
	var r received
	select {
	case r = <-b.got:
	case <-time.After(10 * time.Second):
		t.Fatal("server got no message")
	}
	if !r.tls || r.authed != "gw" {
		t.Errorf("tls=%v authed=%q: want STARTTLS and AUTH", r.tls, r.authed)
	}
	if r.from != "gw@example.com" || strings.Join(r.to, ",") != "support@example.com,team@example.com" {
		t.Errorf("envelope from %q to %v", r.from, r.to)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(r.data)))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v", err)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subj != "SMS von +49151 – Anfrage" {
		t.Errorf("subject %q (%v)", subj, err)
	}
	if msg.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
		t.Fatalf("headers %v", msg.Header)
	}
	got, err := io.ReadAll(quotedprintableReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	// DATA ends the message with a line break; the rest arrives as sent.
	if strings.TrimSuffix(strings.ReplaceAll(string(got), "\r\n", "\n"), "\n") != body {
		t.Errorf("body\n%q\nwant\n%q", got, body)
	}
}

func TestSMTPWrongPasswordIsPermanent(t *testing.T) {
	t.Parallel()
	b := &backend{user: "gw", pass: "right", got: make(chan received, 1)}
	port, tlsCfg := startSMTP(t, b)
	m, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, Username: "gw", Password: "wrong",
		From: "gw@example.com", TLSConfig: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Mail(context.Background(), []string{"a@example.com"}, "s", "b")
	var se *Error
	if !errors.As(err, &se) || se.Stage != "auth" || se.Code != 535 || !se.Permanent() {
		t.Fatalf("got %v, want a permanent auth error 535", err)
	}
}

func TestSMTPRejectedRecipientIsPermanent(t *testing.T) {
	t.Parallel()
	b := &backend{user: "gw", pass: "pw", rejectRcpt: "gone@example.com", got: make(chan received, 1)}
	port, tlsCfg := startSMTP(t, b)
	m, _ := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, Username: "gw", Password: "pw", From: "gw@example.com", TLSConfig: tlsCfg})
	err := m.Mail(context.Background(), []string{"gone@example.com"}, "s", "b")
	var se *Error
	if !errors.As(err, &se) || se.Stage != "rcpt" || !se.Permanent() || !strings.Contains(err.Error(), "gone@example.com") {
		t.Fatalf("got %v", err)
	}
}

func TestSMTPUntrustedCertificateFails(t *testing.T) {
	t.Parallel()
	b := &backend{user: "gw", pass: "pw", got: make(chan received, 1)}
	port, _ := startSMTP(t, b)
	m, _ := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, Username: "gw", Password: "pw", From: "gw@example.com",
		TLSConfig: &tls.Config{RootCAs: x509.NewCertPool()}})
	err := m.Mail(context.Background(), []string{"a@example.com"}, "s", "b")
	var se *Error
	if !errors.As(err, &se) || se.Stage != "starttls" || se.Permanent() {
		t.Fatalf("got %v, want a (retryable) starttls failure", err)
	}
}

func TestSMTPServerDownIsRetryable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	m, _ := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: port, From: "gw@example.com", TLS: PlainOnly})
	err = m.Mail(context.Background(), []string{"a@example.com"}, "s", "b")
	var se *Error
	if !errors.As(err, &se) || se.Stage != "connect" || se.Permanent() {
		t.Fatalf("got %v", err)
	}
}

func TestNewSMTPRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  SMTPConfig
		want string
	}{
		{SMTPConfig{From: "a@b.c"}, "host"},
		{SMTPConfig{Host: "h", From: "nope"}, "from"},
		{SMTPConfig{Host: "h", From: "a@b.c", TLS: "ssl"}, "tls"},
		{SMTPConfig{Host: "h", From: "a@b.c", TLS: PlainOnly, Username: "u"}, "unencrypted"},
	} {
		if _, err := NewSMTP(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error about %s", c.cfg, err, c.want)
		}
	}
}

// A server that accepts the connection and never speaks must not hold the
// engine: the context ends the attempt, and it is retryable.
func TestSMTPSilentServerEndsWithTheContext(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			conns <- c
		}
	}()
	m, _ := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: "gw@example.com", TLS: PlainOnly})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Mail(ctx, []string{"a@example.com"}, "s", "b") }()
	c := <-conns
	defer c.Close()
	cancel()
	select {
	case err := <-done:
		var se *Error
		if !errors.As(err, &se) || se.Permanent() {
			t.Fatalf("got %v, want a retryable error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Mail ignored the cancelled context")
	}
}
