package pbx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/text/encoding/charmap"

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

// threadOracle is what RFC 3261 user parts an extension may write to
// mean a customer (seed 012 of the design: +<country><number> or
// 00<country><number>, percent-escapes allowed), written independently
// of Gateway.customer.
//
// A user part "<number>*<thread>" names a contact's thread of a channel
// other than the first; threaded is then true.
func threadOracle(user string) (contact string, ok, threaded bool) {
	u, err := url.PathUnescape(user)
	if err != nil {
		return "", false, false
	}
	if i := strings.LastIndexByte(u, '*'); i >= 0 {
		if i == len(u)-1 {
			return "", false, false
		}
		u, threaded = u[:i], true
	}
	if strings.HasPrefix(u, "00") {
		u = "+" + u[2:]
	}
	return u, e164Contact.MatchString(u), threaded
}

// FuzzSIPMessage sends MESSAGE requests (RFC 3428) built from fuzzed
// request-URI user, From user, To user, Content-Type and body, parsed by
// sipgo's parser as the server would, to the handler that turns them into
// a chat for a customer (Gateway.onMessage), on a gateway in peer mode
// whose refusal notices go to a loopback socket.
//
// Properties: every request gets exactly one final response; a
// Content-Type other than text/plain or message/cpim is refused with 415
// and Accept (RFC 3428 §7, RFC 3261 §21.4.13) before anything is handed
// on; the sessions only ever get valid, non-blank UTF-8; a UTF-8 request
// to a customer number (request URI first, then To) reaches the sessions
// exactly once with the From user, that number and the body unchanged,
// and gets 202 or the code of the sessions' refusal — or 400 when the body
// is blank or not UTF-8; a request to anything else gets 404 and reaches
// nobody; a refusal's Warning (RFC 3261 §20.43) is one quoted
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

	// Every input is a new MESSAGE: with the same Call-ID, CSeq and From
	// tag the gateway would answer it as a retransmission of the first.
	var seq atomic.Int64
	f.Fuzz(func(t *testing.T, ruser, fromUser, toUser, ctype string, body []byte) {
		raw := "MESSAGE sip:" + ruser + "@127.0.0.1 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-fuzz\r\n" +
			"From: <sip:" + fromUser + "@127.0.0.1>;tag=f1\r\n" +
			"To: <sip:" + toUser + "@127.0.0.1>\r\n" +
			"Call-ID: fuzz-" + strconv.FormatInt(seq.Add(1), 10) + "@127.0.0.1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n"
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
		wire := res.String()
		status, _, _ := strings.Cut(wire, "\r\n")
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
		if res.StatusCode == 415 && (res.GetHeader("Accept") == nil || len(calls) != 0) {
			t.Fatalf("415 without Accept (RFC 3261 §21.4.13) or handed on: %v, %d calls", res, len(calls))
		}
		for _, c := range calls {
			if txt := strings.SplitN(c, "\x00", 3)[2]; !utf8.ValidString(txt) || strings.TrimSpace(txt) == "" {
				t.Fatalf("sessions got a blank or invalid UTF-8 text %q", txt)
			}
		}

		form := contentForm(req)
		if form == unsupported {
			if res.StatusCode != 415 || len(calls) != 0 {
				t.Fatalf("Content-Type %q: %d, %d calls; want 415 and none", req.ContentType().Value(), res.StatusCode, len(calls))
			}
			return
		}
		contact, ok, threaded := threadOracle(req.Recipient.User)
		if !ok {
			contact, ok, threaded = threadOracle(req.To().Address.User)
		}
		if ok && threaded {
			// fuzzSessions keeps no threads: a reply in a channel's thread
			// finds no channel (404) once the body was read.
			if len(calls) != 0 || form == plainUTF8 && res.StatusCode != 404 && res.StatusCode != 400 {
				t.Fatalf("threaded %q/%q: %d, %d calls; want 404 (or 400) and none", req.Recipient.User, req.To().Address.User, res.StatusCode, len(calls))
			}
			return
		}
		if !ok {
			if form == plainUTF8 && res.StatusCode != 404 || len(calls) != 0 {
				t.Fatalf("to %q/%q (no customer): %d, %d calls; want 404 and none", req.Recipient.User, req.To().Address.User, res.StatusCode, len(calls))
			}
			return
		}
		if form != plainUTF8 {
			// Other charsets and CPIM: the general properties above.
			if len(calls) > 1 || len(calls) == 1 && !strings.HasPrefix(calls[0], ext(req)+"\x00"+contact+"\x00") {
				t.Fatalf("sessions got %q for %s/%s", calls, ext(req), contact)
			}
			return
		}
		got := req.Body()
		if undeclaredCharset(req) && !utf8.Valid(got) {
			// No charset and not UTF-8: read as Windows-1252 (x/text's
			// table of it, the WHATWG/Microsoft code page).
			got, _ = charmap.Windows1252.NewDecoder().Bytes(got)
		}
		text := strings.TrimPrefix(string(got), "\xEF\xBB\xBF")
		if !utf8.ValidString(text) || strings.TrimSpace(text) == "" {
			if res.StatusCode != 400 || len(calls) != 0 {
				t.Fatalf("blank or invalid UTF-8 body %q: %d, %d calls; want 400 and none", text, res.StatusCode, len(calls))
			}
			return
		}
		want := ext(req) + "\x00" + contact + "\x00" + text
		if len(calls) != 1 || calls[0] != want {
			t.Fatalf("sessions got %q, want %q", calls, want)
		}
		code := 202
		if c, ok := wantCode[strings.TrimSpace(firstWord(text))]; ok {
			code = c
		}
		if res.StatusCode != code {
			t.Fatalf("status %d, want %d", res.StatusCode, code)
		}
	})
}

// Content forms the oracle tells apart, from the Content-Type alone
// (RFC 3428 §7, RFC 2046 §4.1.2), without the gateway's parser.
const (
	plainUTF8   = iota // none, text/plain, text/plain;charset=UTF-8: the body as is
	unsupported        // a bare type other than text/plain and message/cpim: 415
	otherForm          // other charsets, CPIM, parameters the oracle does not read
)

var bareType = regexp.MustCompile(`^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$`)

func contentForm(req *sip.Request) int {
	ct := req.ContentType()
	if ct == nil {
		return plainUTF8
	}
	v := strings.ToLower(strings.Join(strings.Fields(ct.Value()), ""))
	switch {
	case v == "" || v == "text/plain" || v == "text/plain;charset=utf-8":
		return plainUTF8
	case bareType.MatchString(v) && v != "message/cpim":
		return unsupported
	}
	return otherForm
}

// undeclaredCharset: no Content-Type, or text/plain without parameters.
func undeclaredCharset(req *sip.Request) bool {
	ct := req.ContentType()
	return ct == nil || strings.ToLower(strings.Join(strings.Fields(ct.Value()), "")) == "text/plain" ||
		strings.TrimSpace(ct.Value()) == ""
}

func ext(req *sip.Request) string { return req.From().Address.User }
