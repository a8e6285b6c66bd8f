package pbx

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/pbxgate/pbxgate/gateway/session"
)

// sendBody sends a MESSAGE with the given Content-Type ("" : none) and raw
// body bytes to user at dest and returns the final response.
func (p *phone) sendBody(dest, user, ct string, body []byte) (*sip.Response, error) {
	host, port, _ := net.SplitHostPort(dest)
	pn, _ := strconv.Atoi(port)
	req := sip.NewRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", User: user, Host: host, Port: pn})
	ph, _, _ := net.SplitHostPort(p.addr)
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.user, Host: ph}, Params: tagParams()})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: host}, Params: sip.NewParams()})
	if ct != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", ct))
	}
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return p.client.Do(ctx, req)
}

func onlySession(t *testing.T, r *rig) session.Session {
	t.Helper()
	ss, err := r.mgr.List(true, 0)
	if err != nil || len(ss) != 1 {
		t.Fatalf("open sessions %+v %v, want one", ss, err)
	}
	return ss[0]
}

// The reply leaves from the SIM the customer wrote to last (docs/pbx.md,
// "Messages from extensions"): a customer who writes to sim1 and then to
// sim2 is answered from sim2; once an admin pinned sim1, from sim1 even
// after the customer wrote to sim2 again. Real SIP through Kamailio, SMS
// through two simulated modems.
func TestE2EReplyFromTheSIMWrittenToLast(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{sims: 2})
	sim1, sim2 := r.sims[0], r.sims[1]
	p := newPhone(t, "201", "127.0.0.1", r.k.addr)
	p.register(60)

	r.smsTo(sim1, customer, "Hallo an SIM 1", false)
	if got := p.nextFrom(customer, "SMS to sim1"); got.Body != "Hallo an SIM 1" {
		t.Fatalf("extension got %+v", got)
	}
	if res, err := p.send(r.k.addr, customer, "Antwort eins"); err != nil || res.StatusCode != 202 {
		t.Fatalf("reply: %s", codeOf(res, err))
	}
	r.waitSentBy(sim1, customer, "Antwort eins")

	r.smsTo(sim2, customer, "Jetzt an SIM 2", false)
	if got := p.nextFrom(customer, "SMS to sim2"); got.Body != "Jetzt an SIM 2" {
		t.Fatalf("extension got %+v", got)
	}
	if res, err := p.send(r.k.addr, customer, "Antwort zwei"); err != nil || res.StatusCode != 202 {
		t.Fatalf("reply: %s", codeOf(res, err))
	}
	r.waitSentBy(sim2, customer, "Antwort zwei")
	if sentText(sim1, customer, "Antwort zwei") {
		t.Fatal("the reply also left from sim1, which the customer no longer writes to")
	}
	s := onlySession(t, r)
	if s.Sender != sim2.Number() && s.Sender != "sim2" {
		t.Fatalf("session sender %q, want sim2", s.Sender)
	}
	if !containsOp(s.Timeline, "sender") {
		t.Fatalf("the sender change is not in the timeline: %+v", s.Timeline)
	}

	// Pinned by the admin: the customer writing to sim2 does not move it.
	if err := r.mgr.PinSender(context.Background(), s.ID, "portal:admin", "sim1"); err != nil {
		t.Fatal(err)
	}
	r.smsTo(sim2, customer, "Noch einmal an SIM 2", false)
	if got := p.nextFrom(customer, "SMS to sim2 after the pin"); got.Body != "Noch einmal an SIM 2" {
		t.Fatalf("extension got %+v", got)
	}
	if res, err := p.send(r.k.addr, customer, "Antwort drei"); err != nil || res.StatusCode != 202 {
		t.Fatalf("reply: %s", codeOf(res, err))
	}
	r.waitSentBy(sim1, customer, "Antwort drei")
	if sentText(sim2, customer, "Antwort drei") {
		t.Fatal("the reply left from sim2 although the admin pinned sim1")
	}
	if s := onlySession(t, r); s.Sender != "sim1" || !s.SenderPinned {
		t.Fatalf("pinned session %+v", s)
	}
}

// Bodies an extension may send (RFC 3428 §9: the body is a MIME body of
// any type; RFC 3261 §21.4.13: a 415 lists what is accepted in Accept):
// text/plain in ISO-8859-1, windows-1252 and UTF-16 reaches the customer
// as the same text; message/cpim (RFC 3862) carries its inner text/plain;
// an unknown charset or type gets 415 with Accept; an empty or blank body
// gets 400, stores nothing and sends no SMS; a national number (0170…) is
// read in region.default_country (DE here).
func TestE2EBodiesAndNationalNumbers(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{})
	p := newPhone(t, "201", "127.0.0.1", r.k.addr)
	p.register(60)
	r.sms(customer, "Guten Tag", false)
	p.nextFrom(customer, "customer SMS")

	utf16le := []byte{0xFF, 0xFE} // byte order mark, then "Tschüß" little-endian
	for _, r := range "Tschüß" {
		utf16le = append(utf16le, byte(r), byte(r>>8))
	}
	// RFC 3862 §6 example, shortened: message headers, an empty line, the
	// encapsulated MIME object (its headers, an empty line, the content).
	cpim := "From: MR SANDERS <im:piglet@100akerwood.com>\r\n" +
		"To: Depressed Donkey <im:eeyore@100akerwood.com>\r\n" +
		"DateTime: 2000-12-13T13:40:00-08:00\r\n" +
		"Subject: the weather will be fine today\r\n" +
		"NS: imdn <urn:ietf:params:imdn>\r\n" +
		"imdn.Message-ID: 34jk324j\r\n" +
		"\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-ID: <1234567890@foo.com>\r\n" +
		"\r\n" +
		"Grüße über CPIM"
	accepted := []struct {
		name, ct string
		body     []byte
		want     string
	}{
		{"ISO-8859-1", "text/plain;charset=ISO-8859-1", []byte("Gr\xfc\xdfe aus K\xf6ln"), "Grüße aus Köln"},
		{"windows-1252", "text/plain; charset=windows-1252", []byte("Preis: 5 \x80"), "Preis: 5 €"},
		{"UTF-16 with BOM", "text/plain;charset=UTF-16", utf16le, "Tschüß"},
		{"CPIM", "message/cpim", []byte(cpim), "Grüße über CPIM"},
	}
	for _, c := range accepted {
		if res, err := p.sendBody(r.k.addr, customer, c.ct, c.body); err != nil || res.StatusCode != 202 {
			t.Fatalf("%s: %s, want 202", c.name, codeOf(res, err))
		}
		r.waitSent(customer, c.want)
	}

	for _, c := range []struct{ name, ct string }{
		{"KOI8-R", "text/plain;charset=KOI8-R"},
		{"HTML", "text/html"},
	} {
		res, err := p.sendBody(r.k.addr, customer, c.ct, []byte("x"))
		if err != nil || res.StatusCode != 415 {
			t.Fatalf("%s: %s, want 415", c.name, codeOf(res, err))
		}
		if a := res.GetHeader("Accept"); a == nil || !strings.Contains(a.Value(), "charset=ISO-8859-1") || !strings.Contains(a.Value(), "message/cpim") {
			t.Fatalf("%s: 415 without an Accept listing what is supported: %v", c.name, res)
		}
	}

	s := onlySession(t, r)
	before, _ := r.mgr.Log(s.ID)
	sentBefore := len(r.sim.Sent())
	for _, body := range []string{"", "  \r\n\t "} {
		res, err := p.sendBody(r.k.addr, customer, "text/plain;charset=UTF-8", []byte(body))
		if err != nil || res.StatusCode != 400 {
			t.Fatalf("body %q: %s, want 400", body, codeOf(res, err))
		}
		if w := res.GetHeader("Warning"); w == nil || !strings.Contains(w.Value(), "empty") {
			t.Fatalf("400 without the reason: %v", res)
		}
	}
	if n := p.nextFrom(customer, "notice about the empty message"); !strings.Contains(n.Body, "empty") {
		t.Fatalf("extension was told %+v", n)
	}
	// A message after the blank ones: once it is sent, the blank ones
	// would have been too.
	if res, err := p.send(r.k.addr, customer, "Nach dem Leeren"); err != nil || res.StatusCode != 202 {
		t.Fatalf("reply: %s", codeOf(res, err))
	}
	r.waitSent(customer, "Nach dem Leeren")
	after, _ := r.mgr.Log(s.ID)
	if len(after) != len(before)+1 || len(r.sim.Sent()) != sentBefore+1 {
		t.Fatalf("blank bodies left traces: chat log %d → %d entries, SMS sent %d → %d (want +1 each)",
			len(before), len(after), sentBefore, len(r.sim.Sent()))
	}

	// National number through Kamailio: the same customer, the same session.
	if res, err := p.send(r.k.addr, "01701234567", "National geschrieben"); err != nil || res.StatusCode != 202 {
		t.Fatalf("reply to 01701234567: %s, want 202", codeOf(res, err))
	}
	r.waitSent(customer, "National geschrieben")
	if s2 := onlySession(t, r); s2.ID != s.ID {
		t.Fatalf("the national number opened another session %s (want %s)", s2.ID, s.ID)
	}
	res, err := p.send(r.k.addr, "0123", "zu kurz")
	if err != nil || res.StatusCode != 404 {
		t.Fatalf("reply to 0123: %s, want 404", codeOf(res, err))
	}
}

// rawRequest sends a hand-made request (method, no body) from the raw UA
// to gw and returns the final response (RFC 3261 §8.1.1).
func (u *rawUA) rawRequest(gw, method string) string {
	u.t.Helper()
	local := u.conn.LocalAddr().String()
	branch := strconv.FormatInt(time.Now().UnixNano(), 36)
	req := fmt.Sprintf("%s sip:%s@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:201@127.0.0.1>;tag=%s\r\n"+
		"To: <sip:%s@%s>\r\n"+
		"Call-ID: %s@127.0.0.1\r\n"+
		"CSeq: 1 %s\r\n"+
		"Contact: <sip:201@%s>\r\n"+
		"Content-Length: 0\r\n\r\n",
		method, customer, gw, local, branch, branch, customer, gw, branch, method, local)
	dst, _ := net.ResolveUDPAddr("udp", gw)
	if _, err := u.conn.WriteToUDP([]byte(req), dst); err != nil {
		u.t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		_ = u.conn.SetReadDeadline(time.Now().Add(15 * time.Second)) // failure guard only
		n, _, err := u.conn.ReadFromUDP(buf)
		if err != nil {
			u.t.Fatalf("no answer to %s: %v", method, err)
		}
		res := string(buf[:n])
		if strings.Contains(res, "branch=z9hG4bK"+branch) && !strings.HasPrefix(res, "SIP/2.0 1") {
			return res
		}
	}
}

func headerOf(res, name string) string {
	for _, line := range strings.Split(res, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// A call or another method pbxgate does not support gets 405 with the
// Allow header RFC 3261 §8.2.1 requires (§21.4.6: "The response MUST
// include an Allow header field containing a list of valid methods").
func TestUnsupportedMethodsGet405WithAllow(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	g := runGateway(t, gatewayCfg(k, "udp"))
	waitState(t, g, "registered") // the registrar (127.0.0.1) may send requests
	u := newRawUA(t)
	for _, method := range []string{"INVITE", "SUBSCRIBE", "INFO"} {
		res := u.rawRequest(g.Addr().String(), method)
		if statusOf(res) != "405 Method Not Allowed" {
			t.Fatalf("%s: %q, want 405", method, statusOf(res))
		}
		allow := headerOf(res, "Allow")
		if !strings.Contains(allow, "MESSAGE") || !strings.Contains(allow, "OPTIONS") || strings.Contains(allow, method) {
			t.Fatalf("%s: Allow %q, want MESSAGE and OPTIONS only\n%s", method, allow, res)
		}
	}
	res := u.rawRequest(g.Addr().String(), "OPTIONS")
	if statusOf(res) != "200 OK" || headerOf(res, "Allow") != allowMethods || !strings.Contains(headerOf(res, "Accept"), "message/cpim") {
		t.Fatalf("OPTIONS: %s", res)
	}
}

// Ring all: when one member takes the chat, the other members are told so
// from pbxgate's own identity (the From user is the gateway's SIP user,
// not the customer's number, so it does not read as the customer's
// words); the member who took it gets no such notice.
func TestE2ERingAllTakenNotice(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{route: session.Target{Kind: session.ToQueue, ID: "team"},
		queues: []session.Queue{{Name: "team", Members: []string{"201", "202", "203"}, Assignment: session.Manual, Distribution: session.RingAll}}})
	phones := map[string]*phone{}
	for _, ext := range []string{"201", "202", "203"} {
		phones[ext] = newPhone(t, ext, "127.0.0.1", r.k.addr)
		phones[ext].register(60)
	}
	r.sms(customer, "Wer ist da?", false)
	for _, p := range phones {
		if got := p.nextFrom(customer, "offered to every member"); got.Body != "Wer ist da?" {
			t.Fatalf("%s got %+v", p.user, got)
		}
	}
	if res, err := phones["202"].send(r.k.addr, customer, "Ich übernehme."); err != nil || res.StatusCode != 202 {
		t.Fatalf("202's reply: %s", codeOf(res, err))
	}
	for _, ext := range []string{"201", "203"} {
		n := phones[ext].next("taken notice")
		if n.From != "gw" || n.Display != "pbxgate" || !strings.Contains(n.Body, "taken by 202") || !strings.Contains(n.Body, customer) {
			t.Fatalf("%s was told %+v, want a notice from the gateway naming 202 and the customer", ext, n)
		}
	}
	r.waitSent(customer, "Ich übernehme.")
	phones["202"].none("the member who took it gets no notice")
}

// One thread per channel: a customer who writes on two channels appears
// on the phone as two chats — the first channel's from the plain number,
// the other's from <number>*<channel> (RFC 3261 §25.1 allows "*" in the
// user part) — each with a display name naming the channel; the agent's
// reply in a thread leaves on that thread's channel.
func TestE2EOneThreadPerChannel(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOpts{service: true})
	sim1, simService := r.sims[0], r.sims[1]
	p := newPhone(t, "201", "127.0.0.1", r.k.addr)
	p.register(60)
	r.smsTo(sim1, customer, "Über SMS", false)
	plain := p.next("chat on channel sms")
	if plain.From != customer || plain.Display != customer+" · sms" || plain.Body != "Über SMS" {
		t.Fatalf("chat on sms: %+v", plain)
	}
	r.smsTo(simService, customer, "Über Service", false)
	other := p.next("chat on channel service")
	if other.From != customer+"*service" || other.Display != customer+" · service" || other.Body != "Über Service" {
		t.Fatalf("chat on service: %+v", other)
	}
	// Reply in each thread, the later-active one first.
	if res, err := p.send(r.k.addr, customer, "Antwort per SMS"); err != nil || res.StatusCode != 202 {
		t.Fatalf("reply in the plain thread: %s", codeOf(res, err))
	}
	if res, err := p.send(r.k.addr, other.From, "Antwort per Service"); err != nil || res.StatusCode != 202 {
		t.Fatalf("reply in the service thread: %s", codeOf(res, err))
	}
	r.waitSentBy(sim1, customer, "Antwort per SMS")
	r.waitSentBy(simService, customer, "Antwort per Service")
	if sentText(simService, customer, "Antwort per SMS") || sentText(sim1, customer, "Antwort per Service") {
		t.Fatal("a reply left on the other thread's channel")
	}
	res, err := p.send(r.k.addr, customer+"*nope", "Hallo")
	if err != nil || res.StatusCode != 404 {
		t.Fatalf("reply in an unknown thread: %s, want 404", codeOf(res, err))
	}
}

// The session manager keeps threads: replies in a channel's thread reach it.
var _ ThreadSessions = (*session.Manager)(nil)
