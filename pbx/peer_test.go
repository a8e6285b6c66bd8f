package pbx

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/session"
)

// In peer mode only the allow-listed PBX may send; refusals carry a
// Warning, and the extension also gets the reason as a chat.
func TestPeerAllowListAndRefusals(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	g := runGateway(t, config.SIP{Enabled: true, Mode: "peer", Transport: "udp", Listen: "127.0.0.1:0",
		Domain: "pbxgate.test", PeerAddress: k.addr, AllowFrom: []string{"127.0.0.1/32"}, MaxBodyBytes: 1000})
	if r := g.Registration(); r.State != "disabled" {
		t.Fatalf("peer mode registration state %+v", r)
	}
	f := &fromExt{got: make(chan string, 1), err: fmt.Errorf("%w: test", session.ErrNoSession)}
	g.SetSessions(f)
	gw := g.Addr().String()

	outsider := newPhone(t, "666", "127.0.0.2", k.addr)
	res, err := outsider.send(gw, customer, "let me in")
	if err != nil || res.StatusCode != 403 {
		t.Fatalf("MESSAGE from outside the allow-list: %s, want 403", codeOf(res, err))
	}
	if w := res.GetHeader("Warning"); w == nil || !strings.Contains(w.Value(), "allow_from") {
		t.Fatalf("403 without a Warning naming allow_from: %v", res)
	}
	select {
	case got := <-f.got:
		t.Fatalf("refused request reached the sessions: %q", got)
	default:
	}

	p := newPhone(t, "201", "127.0.0.1", k.addr)
	p.register(60)
	res, err = p.send(gw, customer, "Hallo")
	if err != nil || res.StatusCode != 403 {
		t.Fatalf("MESSAGE without a session: %s, want 403", codeOf(res, err))
	}
	if w := res.GetHeader("Warning"); w == nil || !strings.Contains(w.Value(), "no open session") {
		t.Fatalf("403 without the reason: %v", res)
	}
	<-f.got
	note := p.next("refusal as a chat")
	if note.From != customer || !strings.Contains(note.Body, "not sent") {
		t.Fatalf("extension was told %+v", note)
	}

	// The same refusal again within seconds: answered, but no second
	// notice (a phone answering chats automatically must not loop).
	if res, err := p.send(gw, customer, "Hallo?"); err != nil || res.StatusCode != 403 {
		t.Fatalf("repeated MESSAGE without a session: %s", codeOf(res, err))
	}
	<-f.got
	res, err = p.send(gw, "hotline", "Hallo")
	if err != nil || res.StatusCode != 404 {
		t.Fatalf("MESSAGE to a non-number: %s, want 404", codeOf(res, err))
	}
	if n := p.next("refusal as a chat"); !strings.Contains(n.Body, "not a customer number") {
		t.Fatalf("extension was told %+v", n)
	}

	f.mu.Lock()
	f.err = nil
	f.mu.Unlock()
	res, err = p.send(gw, "0049170999", "Hallo")
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("MESSAGE to 0049…: %s", codeOf(res, err))
	}
	if got := <-f.got; got != "201|+49170999|Hallo" {
		t.Fatalf("sessions got %q", got)
	}
}

// A MESSAGE through the PBX in peer mode: Kamailio is the allowed peer.
func TestPeerDeliversThroughPBX(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	g := runGateway(t, config.SIP{Enabled: true, Mode: "peer", Transport: "udp", Listen: "127.0.0.1:0",
		Domain: "pbxgate.test", PeerAddress: k.addr, AllowFrom: []string{"127.0.0.1"}, MaxBodyBytes: 1000})
	p := newPhone(t, "201", "127.0.0.1", k.addr)
	p.register(60)
	err := g.DeliverChat(context.Background(), "201", session.Chat{Contact: "491701234567", Name: "Erika Muster", Text: "Hi"})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.next("chat"); got.From != "+491701234567" || got.Display != "Erika Muster" || got.Body != "Hi" {
		t.Fatalf("extension got %+v", got)
	}
	err = g.DeliverChat(context.Background(), "299", session.Chat{Contact: customer, Text: "Hi"})
	if !errors.Is(err, session.ErrUnreachable) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("chat to an unregistered extension: %v, want unreachable (404)", err)
	}
}

// A long chat whose second part fails continues with that part on the
// retry: the extension never sees a part twice.
func TestRetryContinuesParts(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	g := runGateway(t, gatewayCfg(k, "udp"))
	waitState(t, g, "registered")
	p := newPhone(t, "201", "127.0.0.1", k.addr)
	p.register(60)
	p.failOn.Store(2)
	c := session.Chat{SessionID: "s1", Seq: 1, Contact: customer, Text: strings.Repeat("Wort ", 500)}
	err := g.DeliverChat(context.Background(), "201", c)
	if !errors.Is(err, session.ErrUnreachable) {
		t.Fatalf("first attempt: %v, want unreachable (480 on part 2)", err)
	}
	if err := g.DeliverChat(context.Background(), "201", c); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		got = append(got, p.next("part").Body[:6])
	}
	if strings.Join(got, "") != "(1/3) (2/3) (3/3) " {
		t.Fatalf("parts arrived as %q", got)
	}
	p.none("no repeated part")
}
