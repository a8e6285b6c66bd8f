package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/pbxgate/pbxgate/drivers/forward"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// mailbox is a real SMTP server (emersion/go-smtp) on loopback, as a local
// relay would be: no TLS, no auth. STARTTLS and AUTH are tested in
// drivers/forward.
type mailbox struct {
	got  chan string
	down atomic.Bool // answer 451 (try again later)
}

type mboxSession struct{ m *mailbox }

func (m *mailbox) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return mboxSession{m}, nil }
func (s mboxSession) Mail(string, *gosmtp.MailOptions) error {
	if s.m.down.Load() {
		return &gosmtp.SMTPError{Code: 451, Message: "try again later"}
	}
	return nil
}
func (mboxSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s mboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.m.got <- string(b)
	return err
}
func (mboxSession) Reset()        {}
func (mboxSession) Logout() error { return nil }

func startMailbox(t *testing.T) (*mailbox, *forward.SMTP) {
	t.Helper()
	m := &mailbox{got: make(chan string, 4)}
	srv := gosmtp.NewServer(m)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	mailer, err := forward.NewSMTP(forward.SMTPConfig{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port,
		TLS: forward.PlainOnly, From: "pbxgate <gw@example.com>", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return m, mailer
}

func TestEmailForwardThroughSMTP(t *testing.T) {
	t.Parallel()
	mb, mailer := startMailbox(t)
	v := newEnv(t, func(c *Config) { c.Mailer = mailer })
	v.save(Rule{Name: "mail", Order: 1, Keyword: Always, Actions: []Action{{Type: EmailForward,
		To: []string{"team@example.com"}, Subject: "Neue Nachricht von {NICKNAME}"}}})
	res := v.handle(anna, "Rückruf bitte")
	var data string
	select {
	case data = <-mb.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no e-mail arrived")
	}
	if res.Outcomes[0].Status != Done {
		t.Errorf("outcome %+v", res.Outcomes[0])
	}
	for _, want := range []string{"Subject: Neue Nachricht von Anna", "From: +4915112345678 Anna", "R=C3=BCckruf bitte", "Received: 2026-03-02 10:00:00 (UTC+01:00)"} {
		if !strings.Contains(data, want) {
			t.Errorf("mail lacks %q:\n%s", want, data)
		}
	}
	// Server saying "later": retried, and delivered once it is back.
	mb.down.Store(true)
	res = v.handle(anna, "zweite")
	if o := res.Outcomes[0]; o.Status != Retrying || !strings.Contains(o.Detail, "451") {
		t.Fatalf("outcome %+v", o)
	}
	mb.down.Store(false)
	v.clk.Add(time.Minute)
	if n, err := v.e.RetryDue(context.Background()); n != 1 || err != nil {
		t.Fatalf("retry: %d %v", n, err)
	}
	select {
	case data = <-mb.got:
		if !strings.Contains(data, "zweite") {
			t.Errorf("retried mail: %s", data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("retry sent no e-mail")
	}
}

// flaky answers 500 for its first fails requests, then 200, and hands
// every request body and signature to the test.
type flaky struct {
	fails  int32
	n      atomic.Int32
	bodies chan []byte
	sigs   chan string
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.bodies <- b
	f.sigs <- r.Header.Get(forward.SignatureHeader)
	if f.n.Add(1) <= f.fails {
		http.Error(w, "database down", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func TestHTTPForwardRetriesAcrossRestart(t *testing.T) {
	t.Parallel()
	f := &flaky{fails: 2, bodies: make(chan []byte, 10), sigs: make(chan string, 10)}
	srv := httptest.NewServer(f)
	defer srv.Close()
	v := newEnv(t)
	v.save(Rule{Name: "crm", Order: 1, Keyword: Always, Actions: []Action{{Type: HTTPForward, URL: srv.URL + "/in", Secret: "k3y"}}})
	ctx := context.Background()

	res := v.handle(anna, "Hallo CRM")
	o := res.Outcomes[0]
	if o.Status != Retrying || o.Attempts != 1 || !strings.Contains(o.Detail, "500") || !o.NextAt.Equal(v.clk.Now().Add(time.Minute)) {
		t.Fatalf("first attempt: %+v", o)
	}
	body, sig := <-f.bodies, <-f.sigs
	if !forward.Verify("k3y", body, sig) {
		t.Errorf("signature %q does not verify", sig)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if p["MSG"] != "Hallo CRM" || p["MSISDN"] != anna || p["CONTACTID"] != "c-42" || p["CONTACTREMARK"] != "VIP" ||
		p["TIMESTAMP"] != "2026-03-02 10:00:00" || p["UTC"] != "+01:00" || p["MEDIATYPE"] != "text" ||
		p["FIELDS"].(map[string]any)["city"] != "Köln" || p["MSGID"] != res.Inbound.ID {
		t.Errorf("payload %s", body)
	}

	// Not due yet: nothing happens.
	if n, _ := v.e.RetryDue(ctx); n != 0 {
		t.Fatalf("retried %d before due", n)
	}
	// Power cut: the retry is stored and continues after the restart.
	v.restart()
	v.clk.Add(time.Minute)
	if n, err := v.e.RetryDue(ctx); n != 1 || err != nil {
		t.Fatalf("after restart: %d %v", n, err)
	}
	<-f.bodies
	<-f.sigs
	rec, _ := v.e.Record(ctx, res.Inbound.ID)
	if o := rec.Outcomes[0]; o.Status != Retrying || o.Attempts != 2 || !o.NextAt.Equal(v.clk.Now().Add(2*time.Minute)) {
		t.Fatalf("second attempt: %+v (backoff doubles)", o)
	}
	v.clk.Add(2 * time.Minute)
	if n, err := v.e.RetryDue(ctx); n != 1 || err != nil {
		t.Fatalf("third: %d %v", n, err)
	}
	<-f.bodies
	<-f.sigs
	rec, _ = v.e.Record(ctx, res.Inbound.ID)
	if o := rec.Outcomes[0]; o.Status != Done || o.Attempts != 3 || len(rec.Outcomes) != 1 {
		t.Fatalf("third attempt: %+v", rec.Outcomes)
	}
	if jobs, _ := v.e.Pending(ctx); len(jobs) != 0 {
		t.Errorf("jobs left: %+v", jobs)
	}
	if f.n.Load() != 3 {
		t.Errorf("%d requests, want 3", f.n.Load())
	}
}

func TestFailingForwardNeverLosesTheMessage(t *testing.T) {
	t.Parallel()
	f := &flaky{fails: 1 << 30, bodies: make(chan []byte, 10), sigs: make(chan string, 10)}
	srv := httptest.NewServer(f)
	defer srv.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	defer gone.Close()
	v := newEnv(t)
	v.save(Rule{Name: "fwd", Order: 1, Keyword: Always, Continue: true, Actions: []Action{
		{Type: HTTPForward, URL: srv.URL},
		{Type: HTTPForward, URL: gone.URL + "/wrong-path"},
		{Type: AutoAnswer, Text: "Danke"},
	}})
	ctx := context.Background()
	res := v.handle(anna, "wichtige Nachricht")
	if len(res.Outcomes) != 3 || res.Outcomes[0].Status != Retrying || res.Outcomes[1].Status != Failed ||
		!strings.Contains(res.Outcomes[1].Detail, "404") || res.Outcomes[2].Status != Done {
		t.Fatalf("outcomes %+v", res.Outcomes)
	}
	// Attempts 2..4 (the configured maximum), then failed for good.
	for i := 0; i < 3; i++ {
		v.clk.Add(10 * time.Minute)
		if n, err := v.e.RetryDue(ctx); n != 1 || err != nil {
			t.Fatalf("retry %d: %d %v", i, n, err)
		}
	}
	rec, err := v.e.Record(ctx, res.Inbound.ID)
	if err != nil || rec.Inbound.Text != "wichtige Nachricht" {
		t.Fatalf("message lost: %v", err)
	}
	if o := rec.Outcomes[0]; o.Status != Failed || o.Attempts != 4 {
		t.Errorf("after all attempts: %+v", o)
	}
	if jobs, _ := v.e.Pending(ctx); len(jobs) != 0 {
		t.Errorf("jobs left: %+v", jobs)
	}
	if len(v.out.replies) != 1 {
		t.Errorf("the answer after a failing forward: %d", len(v.out.replies))
	}
}

func TestHTTPBotRoundTrip(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		msg, _ := p["MSG"].(string)
		if msg == "schweig" {
			_, _ = io.WriteString(w, `{}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"text": "Bot an " + p["NICKNAME"].(string) + ": " + strings.ToUpper(msg)})
	}))
	defer srv.Close()
	v := newEnv(t)
	v.save(Rule{Name: "bot", Order: 1, Keyword: Always, Actions: []Action{{Type: HTTPBot, URL: srv.URL}}})
	res := v.handleIn(message.Inbound{ID: "wa-1", Kind: message.WhatsApp, Channel: "wa", From: "491700000009", Name: "Kai", Text: "öffnungszeiten?", At: v.clk.Now()})
	if len(v.out.replies) != 1 || v.out.replies[0].Text != "Bot an Kai: ÖFFNUNGSZEITEN?" || v.out.replies[0].To != "491700000009" || v.out.replies[0].Channel != "wa" {
		t.Fatalf("replies %+v outcomes %+v", v.out.replies, res.Outcomes)
	}
	res = v.handle(anna, "schweig")
	if len(v.out.replies) != 1 || res.Outcomes[0].Detail != detailNoBotReply || res.Outcomes[0].Status != Done {
		t.Errorf("empty answer: %+v", res.Outcomes)
	}
}

func TestRunRetriesInTheBackground(t *testing.T) {
	t.Parallel()
	f := &flaky{fails: 1, bodies: make(chan []byte, 10), sigs: make(chan string, 10)}
	srv := httptest.NewServer(f)
	defer srv.Close()
	v := newEnv(t, func(c *Config) {
		c.Now = nil // the real clock: Run waits for real
		c.Retry = Retry{First: 20 * time.Millisecond, Max: time.Second, Attempts: 3}
	})
	v.save(Rule{Name: "crm", Order: 1, Keyword: Always, Actions: []Action{{Type: HTTPForward, URL: srv.URL}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.e.Run(ctx) }()
	res, err := v.e.Handle(ctx, message.Inbound{ID: "bg-1", Kind: message.SMS, Channel: "sms1", From: anna, Text: "x"})
	if err != nil || res.Outcomes[0].Status != Queued {
		t.Fatalf("%+v %v", res.Outcomes, err)
	}
	for i := 0; i < 2; i++ {
		select {
		case <-f.bodies:
			<-f.sigs
		case <-time.After(10 * time.Second):
			t.Fatalf("request %d never came", i+1)
		}
	}
	// The successful request has been answered; wait for the record.
	deadline := time.After(10 * time.Second)
	for {
		rec, _ := v.e.Record(ctx, "bg-1")
		if rec.Outcomes[0].Status == Done {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("never done: %+v", rec.Outcomes)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestShutdownDuringAForwardKeepsItForLater(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	v := newEnv(t)
	v.save(Rule{Name: "crm", Order: 1, Keyword: Always, Actions: []Action{{Type: HTTPForward, URL: srv.URL}}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	if _, err := v.e.Handle(ctx, message.Inbound{ID: "sd-1", Kind: message.SMS, Channel: "sms1", From: anna, Text: "x", At: v.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	// The worker's attempt is cut off by the shutdown.
	if _, err := v.e.RetryDue(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	res, _ := v.e.Record(context.Background(), "sd-1")
	if o := res.Outcomes[0]; o.Status != Retrying || o.Attempts != 0 {
		t.Fatalf("interrupted forward: %+v", o)
	}
	jobs, _ := v.e.Pending(context.Background())
	if len(jobs) != 1 || jobs[0].Attempts != 0 || jobs[0].NextAt.After(v.clk.Now()) {
		t.Fatalf("jobs %+v", jobs)
	}
}

// A dead endpoint does not hold up inbound messages: Handle stores and
// returns at once, the forward waits for the worker.
func TestHangingForwardDoesNotBlockInbound(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	v := newEnv(t)
	v.save(Rule{Name: "crm", Order: 1, Keyword: Always, Actions: []Action{{Type: HTTPForward, URL: srv.URL}, {Type: AutoAnswer, Text: "Danke!"}}})
	for i := range 3 {
		res, err := v.e.Handle(context.Background(), message.Inbound{ID: fmt.Sprintf("h-%d", i), Kind: message.SMS, Channel: "sms1", From: anna, Text: "x", At: v.clk.Now()})
		if err != nil || !res.Finished || res.Outcomes[0].Status != Queued || res.Outcomes[1].Status != Done {
			t.Fatalf("message %d: %+v %v", i, res.Outcomes, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("Handle waited on the endpoint (%d requests)", n)
	}
	if jobs, _ := v.e.Pending(context.Background()); len(jobs) != 3 {
		t.Fatalf("%d forwards queued, want 3", len(jobs))
	}
}
