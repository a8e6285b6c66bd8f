package pbx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/session"
)

// recordTx is the server transaction of one fuzzed request: it keeps the
// responses the gateway gives.
type recordTx struct {
	mu   sync.Mutex
	res  []*sip.Response
	done chan struct{}
}

func (tx *recordTx) Respond(res *sip.Response) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	tx.res = append(tx.res, res)
	return nil
}
func (tx *recordTx) Acks() <-chan *sip.Request          { return nil }
func (tx *recordTx) OnCancel(sip.FnTxCancel) bool       { return false }
func (tx *recordTx) Terminate()                         {}
func (tx *recordTx) OnTerminate(sip.FnTxTerminate) bool { return false }
func (tx *recordTx) Done() <-chan struct{}              { return tx.done }
func (tx *recordTx) Err() error                         { return nil }
func (tx *recordTx) responses() []*sip.Response         { tx.mu.Lock(); defer tx.mu.Unlock(); return tx.res }
func (s *fuzzSessions) calls() []string                 { s.mu.Lock(); defer s.mu.Unlock(); return s.got }
func (s *fuzzSessions) reset()                          { s.mu.Lock(); s.got = nil; s.mu.Unlock() }
func newRecordTx() *recordTx                            { return &recordTx{done: make(chan struct{})} }
func (s *fuzzSessions) record(ext, contact, text string) {
	s.mu.Lock()
	s.got = append(s.got, ext+"\x00"+contact+"\x00"+text)
	s.mu.Unlock()
}
func sessionErrFor(text string) error { return sessionErrs[strings.TrimSpace(firstWord(text))] }
func firstWord(s string) string       { f, _, _ := strings.Cut(s, " "); return f }
func (s *fuzzSessions) FromExtension(_ context.Context, ext, contact, text string) error {
	s.record(ext, contact, text)
	return sessionErrFor(text)
}

// fuzzSessions takes what the gateway hands on; a body starting with one
// of sessionErrs' words makes it refuse the way session.Manager does.
type fuzzSessions struct {
	mu  sync.Mutex
	got []string
}

var sessionErrs = map[string]error{
	"#nosession": fmt.Errorf("%w: fuzz", session.ErrNoSession),
	"#closed":    fmt.Errorf("%w: fuzz", session.ErrWindowClosed),
	"#badcmd":    fmt.Errorf("%w: fuzz", session.ErrBadCommand),
	"#broken":    errors.New("fuzz: store failed"),
}

var wantCode = map[string]int{"#nosession": 403, "#closed": 488, "#badcmd": 400, "#broken": 500}

// answerAll answers every SIP request on a loopback UDP socket with 200,
// standing in for the extensions the refusal notices go to.
func answerAll(tb testing.TB) string {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			msg, err := sip.ParseMessage(buf[:n])
			if req, ok := msg.(*sip.Request); err == nil && ok {
				_, _ = pc.WriteTo([]byte(sip.NewResponseFromRequest(req, 200, "OK", nil).String()), from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

var (
	e164Contact = regexp.MustCompile(`^\+[0-9]{7,15}$`)
	warning     = regexp.MustCompile(`^399 pbxgate\.test "[^"\\\x00-\x1f]*"$`)
)

// customerOracle is what RFC 3261 user parts an extension may write to
// mean a customer (seed 012 of the design: +<country><number> or
// 00<country><number>, percent-escapes allowed), written independently
// of Gateway.customer.
func customerOracle(user string) (string, bool) {
	u, err := url.PathUnescape(user)
	if err != nil {
		return "", false
	}
	if strings.HasPrefix(u, "00") {
		u = "+" + u[2:]
	}
	return u, e164Contact.MatchString(u)
}

// FuzzSIPMessage sends MESSAGE requests (RFC 3428) built from fuzzed
// request-URI user, From user, To user, Content-Type and body, parsed by
// sipgo's parser as the server would, to the handler that turns them into
// a chat for a customer (Gateway.onMessage), on a gateway in peer mode
// whose refusal notices go to a loopback socket.
//
// Properties: every request gets exactly one final response; a
// Content-Type other than text/plain is refused with 415 (RFC 3428 §7)
// before anything is handed on; otherwise a request to a customer number
// (request URI first, then To) reaches the sessions exactly once with the
// From user, that number and the body unchanged, and gets 202 (accepted for relay, RFC 3428 §7) or the code
// of the sessions' refusal; a request to anything else gets 404 and
// reaches nobody; a refusal's Warning (RFC 3261 §20.43) is one quoted
// text without quotes or control characters; and every response
// serialises to a message sipgo parses back with the same status.
func FuzzSIPMessage(f *testing.F) {
	peer := answerAll(f)
	g := runGateway(f, config.SIP{Enabled: true, Mode: "peer", Transport: "udp", Listen: "127.0.0.1:0",
		Domain: "pbxgate.test", PeerAddress: peer, AllowFrom: []string{"127.0.0.1/32"}, MaxBodyBytes: 1000})
	s := &fuzzSessions{}
	g.SetSessions(s)
	// Serve only once the listener is up (refusal notices go through it).
	select {
	case <-g.ready:
	case <-time.After(10 * time.Second):
		f.Fatal("gateway not listening within 10s")
	}

	f.Add("+4917012345678", "201", "+4917012345678", "text/plain;charset=UTF-8", []byte("Hallo, wir rufen zurück"))
	f.Add("004930123456", "201", "004930123456", "text/plain", []byte("#nosession hi"))
	f.Add("gw", "202", "%2B4930123456", "", []byte("#closed"))
	f.Add("+49301", "203", "bob", "text/plain", []byte("#badcmd"))
	f.Add("+4930123456", "204", "+4930123456", "application/im-iscomposing+xml", []byte("<isComposing/>"))
	f.Add("+4930123456", "205", "x", " TEXT/PLAIN ", []byte("#broken \"quote\"\r\n\\"))
	f.Add("unknown", "", "", "text/plain", []byte{})

	// Each input is a new transaction: the same Call-ID, CSeq and From tag
	// would be a retransmission, answered with the first answer (RFC 3261
	// §17.2.1) without reaching the sessions again.
	var calls atomic.Int64
	f.Fuzz(func(t *testing.T, ruser, fromUser, toUser, ctype string, body []byte) {
		callID := fmt.Sprintf("fuzz-%d@127.0.0.1", calls.Add(1))
		raw := "MESSAGE sip:" + ruser + "@127.0.0.1 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-fuzz\r\n" +
			"From: <sip:" + fromUser + "@127.0.0.1>;tag=f1\r\n" +
			"To: <sip:" + toUser + "@127.0.0.1>\r\n" +
			"Call-ID: " + callID + "\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
		if ctype != "" {
			raw += "Content-Type: " + ctype + "\r\n"
		}
		raw += fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + string(body)
		msg, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			return // the transport drops what does not parse
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.Method != sip.MESSAGE || req.From() == nil || req.To() == nil || req.Via() == nil || req.CSeq() == nil || req.CallID() == nil {
			return
		}
		req.SetSource("127.0.0.1:5070")
		s.reset()
		tx := newRecordTx()
		g.onMessage(req, tx)

		rs := tx.responses()
		if len(rs) != 1 {
			t.Fatalf("%d responses, want 1", len(rs))
		}
		res := rs[0]
		calls := s.calls()

		// What the gateway adds to the headers sipgo copies from the
		// request (Via, From, To, Call-ID, CSeq) is one line each: a
		// status line, and Accept or Warning. (The copied headers are
		// sipgo's: it echoes a From it accepted, "<sip:@;[@host>", in a
		// form its own parser refuses — found by this target, upstream.)
		text := res.String()
		status, _, _ := strings.Cut(text, "\r\n")
		if want := fmt.Sprintf("SIP/2.0 %d %s", res.StatusCode, res.Reason); status != want {
			t.Fatalf("status line %q, want %q", status, want)
		}
		for _, h := range []string{"Warning", "Accept"} {
			if v := res.GetHeader(h); v != nil && strings.ContainsAny(v.Value(), "\r\n") {
				t.Fatalf("%s header spans lines: %q", h, v.Value())
			}
		}
		if res.StatusCode != 202 && res.StatusCode != 415 {
			w := res.GetHeader("Warning")
			if w == nil || !warning.MatchString(w.Value()) {
				t.Fatalf("%d without a clean Warning: %v", res.StatusCode, w)
			}
		}

		if ct := req.ContentType(); ct != nil && !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct.Value())), "text/plain") {
			if res.StatusCode != 415 || len(calls) != 0 {
				t.Fatalf("Content-Type %q: %d, %d calls; want 415 and none", ct.Value(), res.StatusCode, len(calls))
			}
			return
		}
		contact, ok := customerOracle(req.Recipient.User)
		if !ok {
			contact, ok = customerOracle(req.To().Address.User)
		}
		if !ok {
			if res.StatusCode != 404 || len(calls) != 0 {
				t.Fatalf("to %q/%q (no customer): %d, %d calls; want 404 and none", req.Recipient.User, req.To().Address.User, res.StatusCode, len(calls))
			}
			return
		}
		want := ext(req) + "\x00" + contact + "\x00" + string(req.Body())
		if len(calls) != 1 || calls[0] != want {
			t.Fatalf("sessions got %q, want %q", calls, want)
		}
		code := 202
		if c, ok := wantCode[strings.TrimSpace(firstWord(string(req.Body())))]; ok {
			code = c
		}
		if res.StatusCode != code {
			t.Fatalf("status %d, want %d", res.StatusCode, code)
		}
	})
}

func ext(req *sip.Request) string { return req.From().Address.User }
