package pbx

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// rawUA writes hand-made SIP requests from a UDP socket on loopback, so a
// test controls Call-ID, CSeq, From tag and Via branch exactly.
type rawUA struct {
	t    testing.TB
	conn *net.UDPConn
}

func newRawUA(t testing.TB) *rawUA {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawUA{t: t, conn: c}
}

// message sends a MESSAGE from extension 201 to customer at gw and
// returns the final response's start line and headers (RFC 3261 §7.1,
// §8.1.1; the transaction is identified by branch, RFC 3261 §17.2.3).
func (u *rawUA) message(gw, callID string, cseq int, fromTag, branch, body string) string {
	u.t.Helper()
	local := u.conn.LocalAddr().String()
	req := fmt.Sprintf("MESSAGE sip:%s@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:201@127.0.0.1>;tag=%s\r\n"+
		"To: <sip:%s@%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: %d MESSAGE\r\n"+
		"Content-Type: text/plain;charset=UTF-8\r\n"+
		"Content-Length: %d\r\n\r\n%s",
		customer, gw, local, branch, fromTag, customer, gw, callID, cseq, len(body), body)
	dst, _ := net.ResolveUDPAddr("udp", gw)
	if _, err := u.conn.WriteToUDP([]byte(req), dst); err != nil {
		u.t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		// Failure guard only: an answer comes within a second by design.
		_ = u.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		n, _, err := u.conn.ReadFromUDP(buf)
		if err != nil {
			u.t.Fatalf("no answer to MESSAGE %s/%d (branch %s): %v", callID, cseq, branch, err)
		}
		res := string(buf[:n])
		if strings.Contains(res, "branch=z9hG4bK"+branch) && !strings.HasPrefix(res, "SIP/2.0 1") {
			return res
		}
	}
}

func statusOf(res string) string {
	line, _, _ := strings.Cut(res, "\r\n")
	return strings.TrimPrefix(line, "SIP/2.0 ")
}

// countingSessions counts what reaches the sessions.
type countingSessions struct {
	Sessions
	calls atomic.Int32
}

func (c *countingSessions) FromExtension(ctx context.Context, ext, contact, text string) error {
	c.calls.Add(1)
	return c.Sessions.FromExtension(ctx, ext, contact, text)
}

// smsOut is the SMS channel as the sessions see it: it records each
// message ID it took, like the pool's store does.
type smsOut struct {
	mu  sync.Mutex
	ids map[string]int
}

func (o *smsOut) Send(_ context.Context, m message.Outbound) error {
	o.mu.Lock()
	o.ids[m.ID]++
	o.mu.Unlock()
	return nil
}

func (o *smsOut) counts() (total int, dup bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range o.ids {
		total += n
		dup = dup || n > 1
	}
	return total, dup
}

func peerGateway(t testing.TB) *Gateway {
	g := runGateway(t, config.SIP{Enabled: true, Mode: "peer", Transport: "udp", Listen: "127.0.0.1:0",
		Domain: "pbxgate.test", PeerAddress: "127.0.0.1:9", AllowFrom: []string{"127.0.0.1/32"}, MaxBodyBytes: 1000})
	<-g.ready
	return g
}

// realSessions is a session manager on a store on disk whose SMS channel
// records what it took; extensions may start conversations on it.
func realSessions(t testing.TB, g *Gateway) (*countingSessions, *smsOut) {
	st, err := store.Open(store.Options{Dir: t.TempDir(), Logger: testLogger(), SyncWrites: os.Getenv("PBX_NOSYNC") == ""})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	out := &smsOut{ids: map[string]int{}}
	mgr, err := session.New(session.Config{Store: st, Deliverer: g, Logger: testLogger(), DefaultChannel: "sms",
		Channels: []session.Channel{{Name: "sms", Kind: message.SMS, Sender: out, Route: session.Target{Kind: session.ToExtension, ID: "201"}}}})
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingSessions{Sessions: mgr}
	g.SetSessions(cs)
	return cs, out
}

// A MESSAGE retransmitted — on the same transaction (same branch) or as a
// new one (another branch, as a proxy may send it), with the same Call-ID,
// CSeq and From tag — gets the first one's 202 and never becomes a
// second SMS (RFC 3261 §17.2.1, RFC 3428 §7). A new CSeq is a new message.
func TestRetransmittedMessageSentOnce(t *testing.T) {
	t.Parallel()
	g := peerGateway(t)
	cs, out := realSessions(t, g)
	gw := g.Addr().String()
	u := newRawUA(t)
	for i, branch := range []string{"a1", "a1", "a2", "a3"} {
		if got := statusOf(u.message(gw, "call-1@pbx", 1, "ft1", branch, "Guten Tag")); got != "202 Accepted" {
			t.Fatalf("MESSAGE #%d (branch %s): %q, want 202 Accepted", i+1, branch, got)
		}
	}
	if got := statusOf(u.message(gw, "call-1@pbx", 2, "ft1", "b1", "Noch etwas")); got != "202 Accepted" {
		t.Fatalf("next MESSAGE: %q", got)
	}
	if n := cs.calls.Load(); n != 2 {
		t.Fatalf("the sessions got %d messages, want 2 (one per CSeq)", n)
	}
	deadline := time.Now().Add(10 * time.Second) // failure guard only
	for {
		total, dup := out.counts()
		if dup || total > 2 {
			t.Fatalf("SMS channel took %v, want two messages once each", out.ids)
		}
		if total == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SMS channel took %v, want two messages", out.ids)
		}
		time.Sleep(5 * time.Millisecond) // polling a state; the deadline guards
	}
}

// stalled is a session manager whose store does not answer: it waits
// until the caller gives up (closes the gate, ends ctx) and then, like
// session.Manager, stores nothing.
type stalled struct {
	ok    atomic.Bool
	calls atomic.Int32
}

func (s *stalled) FromExtension(ctx context.Context, _, _, _ string) error {
	s.calls.Add(1)
	if s.ok.Load() {
		return nil
	}
	<-ctx.Done()
	return session.ErrBusy
}

// When the reply cannot be stored in time, the extension gets 503 with
// Retry-After (RFC 3261 §21.5.4) instead of a 500 after 10 s; the same
// MESSAGE again gets the same 503 without another attempt, and once
// pbxgate can take messages again a new one is accepted.
func TestBusyAnswers503WithRetryAfter(t *testing.T) {
	t.Parallel()
	g := peerGateway(t)
	s := &stalled{}
	g.SetSessions(s)
	gw := g.Addr().String()
	u := newRawUA(t)
	res := u.message(gw, "call-2@pbx", 7, "ft2", "c1", "Hallo")
	if statusOf(res) != "503 Service Unavailable" || !strings.Contains(res, "\r\nRetry-After: 1\r\n") {
		t.Fatalf("stalled store answered:\n%s\nwant 503 with Retry-After", res)
	}
	if res := u.message(gw, "call-2@pbx", 7, "ft2", "c2", "Hallo"); statusOf(res) != "503 Service Unavailable" {
		t.Fatalf("retransmission answered %q", statusOf(res))
	}
	if n := s.calls.Load(); n != 1 {
		t.Fatalf("sessions asked %d times, want once", n)
	}
	s.ok.Store(true)
	if res := u.message(gw, "call-2@pbx", 8, "ft2", "c3", "Hallo"); statusOf(res) != "202 Accepted" {
		t.Fatalf("after the stall: %q", statusOf(res))
	}
}

// More replies at once than pbxgate stores in parallel: the excess gets
// 503 at once rather than waiting in line.
func TestTooManyAtOnceGet503(t *testing.T) {
	t.Parallel()
	g := peerGateway(t)
	s := &stalled{}
	g.SetSessions(s)
	// Fill every slot as stalled replies do.
	for range maxReplies {
		g.replies <- struct{}{}
	}
	u := newRawUA(t)
	res := u.message(g.Addr().String(), "call-3@pbx", 1, "ft3", "d1", "Hallo")
	if statusOf(res) != "503 Service Unavailable" || !strings.Contains(res, "Retry-After: 1") {
		t.Fatalf("answer with every slot taken:\n%s", res)
	}
	if n := s.calls.Load(); n != 0 {
		t.Fatalf("sessions asked %d times with no slot free", n)
	}
	for range maxReplies {
		<-g.replies
	}
	s.ok.Store(true)
	if res := u.message(g.Addr().String(), "call-3@pbx", 2, "ft3", "d2", "Hallo"); statusOf(res) != "202 Accepted" {
		t.Fatalf("with slots free: %q", statusOf(res))
	}
}
