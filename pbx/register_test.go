package pbx

import (
	"context"
	"net"

	"github.com/emiago/sipgo/sip"

	"github.com/pbxgate/pbxgate/gateway/session"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fromExt records what extensions wrote to customers.
type fromExt struct {
	mu  sync.Mutex
	got chan string
	err error
}

func (f *fromExt) FromExtension(_ context.Context, ext, contact, text string) error {
	f.got <- ext + "|" + contact + "|" + text
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// The gateway registers with digest auth (MD5 and SHA-256) and a MESSAGE
// from an extension to a customer number reaches it through Kamailio.
func TestRegisterDigest(t *testing.T) {
	for _, algo := range []string{"MD5", "SHA-256"} {
		t.Run(algo, func(t *testing.T) {
			t.Parallel()
			k := startKamailio(t, algo == "SHA-256")
			if ch := challenge(t, k); !strings.Contains(ch, "algorithm="+algo) && (algo == "SHA-256" || strings.Contains(ch, "algorithm=SHA")) {
				t.Fatalf("Kamailio's challenge %q is not %s", ch, algo)
			}
			g := runGateway(t, gatewayCfg(k, "udp"))
			r := waitState(t, g, "registered")
			if r.Code != 200 || r.Expires <= 0 {
				t.Fatalf("registration %+v", r)
			}
			f := &fromExt{got: make(chan string, 1)}
			g.SetSessions(f)
			p := newPhone(t, "201", "127.0.0.1", k.addr)
			res, err := p.send(k.addr, "+491701234567", "Hallo Kunde")
			if err != nil || res.StatusCode != 202 {
				t.Fatalf("MESSAGE to customer through Kamailio: %s", codeOf(res, err))
			}
			if got := <-f.got; got != "201|+491701234567|Hallo Kunde" {
				t.Fatalf("gateway got %q", got)
			}
		})
	}
}

// A wrong password leaves the registration failed with the registrar's
// answer and a hint, and the gateway keeps retrying.
func TestRegisterWrongPassword(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	c := gatewayCfg(k, "udp")
	c.Password = "wrong"
	g := runGateway(t, c)
	r := waitState(t, g, "failed")
	if r.Code != 401 || !strings.Contains(r.LastError, "sip.password") {
		t.Fatalf("registration %+v, want 401 with a hint at sip.password", r)
	}
}

// While the PBX is down the gateway backs off and registers once it is up.
func TestRegisterWhenPBXComesUp(t *testing.T) {
	t.Parallel()
	port := freePort(t, "127.0.0.1")
	c := gatewayCfg(&kamailio{addr: "127.0.0.1:" + strconv.Itoa(port)}, "udp")
	g, err := New(Config{SIP: c, Logger: testLogger(), RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond,
		RequestTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if r := g.Registration(); r.State != "unregistered" {
			t.Errorf("after Run: %+v", r)
		}
	}()
	r := waitState(t, g, "failed")
	if !strings.Contains(r.LastError, "no response") {
		t.Fatalf("registration while the PBX is down: %+v", r)
	}
	startKamailioOn(t, port, false)
	waitState(t, g, "registered")
}

// challenge returns Kamailio's WWW-Authenticate for an unauthenticated
// REGISTER.
func challenge(t *testing.T, k *kamailio) string {
	p := newPhone(t, "probe", "127.0.0.1", k.addr)
	host, port, _ := net.SplitHostPort(k.addr)
	pn, _ := strconv.Atoi(port)
	aor := sip.Uri{Scheme: "sip", User: "probe", Host: host}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: host, Port: pn})
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: tagParams()})
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "probe", Host: host, Port: 9}})
	req.SetBody(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("unauthenticated REGISTER: %s", codeOf(res, err))
	}
	return res.GetHeader("WWW-Authenticate").Value()
}

// Over TCP the gateway registers (Contact ;transport=tcp), Kamailio reaches
// it on that transport, and with max_body_bytes 0 a long text goes whole.
func TestTCPWholeMessages(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	c := gatewayCfg(k, "tcp")
	c.MaxBodyBytes = 0
	g := runGateway(t, c)
	waitState(t, g, "registered")
	f := &fromExt{got: make(chan string, 1)}
	g.SetSessions(f)
	p := newPhone(t, "201", "127.0.0.1", k.addr)
	p.register(60)
	if res, err := p.send(k.addr, customer, "über TCP"); err != nil || res.StatusCode != 202 {
		t.Fatalf("MESSAGE to the TCP gateway through Kamailio: %s", codeOf(res, err))
	}
	if got := <-f.got; got != "201|"+customer+"|über TCP" {
		t.Fatalf("gateway got %q", got)
	}
	long := strings.Repeat("Grüße ", 400) // 2,800 bytes
	if err := g.DeliverChat(context.Background(), "201", session.Chat{Contact: customer, Text: long}); err != nil {
		t.Fatal(err)
	}
	if got := p.next("long chat"); got.Body != long {
		t.Fatalf("extension got %d bytes, want the %d-byte text whole", len(got.Body), len(long))
	}
}

// The gateway refreshes its registration before it expires and removes it
// when it stops: Kamailio then answers 480 for customer numbers.
func TestReRegisterAndUnregister(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	c := gatewayCfg(k, "udp")
	c.Expiry = 2 * time.Second // Kamailio's min_expires is 1 s in the test config
	g, err := New(Config{SIP: c, Logger: testLogger(), RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	if r := waitState(t, g, "registered"); r.Expires != 2*time.Second {
		t.Fatalf("granted expiry %s, want 2s", r.Expires)
	}
	// Three refreshes take ~4.5 s; the registration never lapses meanwhile.
	f := &fromExt{got: make(chan string, 10)}
	g.SetSessions(f)
	p := newPhone(t, "201", "127.0.0.1", k.addr)
	waitFor(t, "three registrations", func() bool { return counter(g.m.registers.WithLabelValues("ok")) >= 3 })
	if res, err := p.send(k.addr, customer, "still there?"); err != nil || res.StatusCode != 202 {
		t.Fatalf("after refreshes: %s", codeOf(res, err))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res, err := p.send(k.addr, customer, "gone?"); err != nil || res.StatusCode != 480 {
		t.Fatalf("after the gateway stopped: %s, want 480 (unregistered)", codeOf(res, err))
	}
}

// In register mode without allow_from only the registrar may send: a
// MESSAGE straight from another address is refused.
func TestRegisterModeOnlyRegistrar(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	g := runGateway(t, gatewayCfg(k, "udp"))
	waitState(t, g, "registered")
	f := &fromExt{got: make(chan string, 1)}
	g.SetSessions(f)
	p := newPhone(t, "201", "127.0.0.2", k.addr)
	res, err := p.send(g.Addr().String(), customer, "direct")
	if err != nil || res.StatusCode != 403 {
		t.Fatalf("MESSAGE from a non-registrar address: %s, want 403", codeOf(res, err))
	}
	if res, err := p.send(k.addr, customer, "via PBX"); err != nil || res.StatusCode != 202 {
		t.Fatalf("through the registrar: %s", codeOf(res, err))
	}
	if got := <-f.got; got != "201|"+customer+"|via PBX" {
		t.Fatalf("sessions got %q", got)
	}
}
