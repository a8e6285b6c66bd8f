package pbx

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/pbxgate/pbxgate/gateway/session"
)

// dnsServer is an authoritative DNS server on 127.0.0.1 (UDP) for the
// names the test gives it; everything else is NXDOMAIN (RFC 1035 wire
// format through golang.org/x/net/dns/dnsmessage).
type dnsServer struct {
	addr string
	mu   sync.Mutex
	srv  map[string][]dnsmessage.SRVResource // "_sip._udp.pbx.test."
	a    map[string][4]byte                  // "sip1.pbx.test."
	fail bool                                // answer SERVFAIL
}

func startDNS(t *testing.T) *dnsServer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &dnsServer{addr: conn.LocalAddr().String(), srv: map[string][]dnsmessage.SRVResource{}, a: map[string][4]byte{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := d.answer(buf[:n]); out != nil {
				_, _ = conn.WriteTo(out, from)
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return d
}

func (d *dnsServer) setSRV(name string, recs ...dnsmessage.SRVResource) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.srv[name] = recs
}

func (d *dnsServer) setA(name string, a [4]byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.a[name] = a
}

func (d *dnsServer) answer(q []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	name := strings.ToLower(qs[0].Name.String())
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeSuccess}
	_, hasSRV := d.srv[name]
	_, hasA := d.a[name]
	switch {
	case d.fail:
		rh.RCode = dnsmessage.RCodeServerFailure
	case !hasSRV && !hasA:
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(qs[0])
	_ = b.StartAnswers()
	rrh := dnsmessage.ResourceHeader{Name: qs[0].Name, Class: dnsmessage.ClassINET, TTL: 60}
	switch {
	case rh.RCode != dnsmessage.RCodeSuccess:
	case qs[0].Type == dnsmessage.TypeSRV:
		for _, r := range d.srv[name] {
			_ = b.SRVResource(rrh, r)
		}
	case qs[0].Type == dnsmessage.TypeA && hasA:
		_ = b.AResource(rrh, dnsmessage.AResource{A: d.a[name]})
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

func (d *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.addr)
	}}
}

func srvRec(prio uint16, port int, target string) dnsmessage.SRVResource {
	return dnsmessage.SRVResource{Priority: prio, Weight: 1, Port: uint16(port), Target: dnsmessage.MustNewName(target)}
}

// sip.registrar "pbx.test" (a name without a port) is located through
// its SRV record _sip._udp.pbx.test (RFC 3263 §4.2) served by a DNS
// server on loopback: pbxgate registers at the Kamailio the record points
// to, chats to extensions go there too, and requests from it are allowed.
func TestRegistrarSRV(t *testing.T) {
	t.Parallel()
	k := startKamailio(t, false)
	_, kport, _ := net.SplitHostPort(k.addr)
	port, _ := strconv.Atoi(kport)
	d := startDNS(t)
	d.setSRV("_sip._udp.pbx.test.", srvRec(10, port, "sip1.pbx.test."))
	d.setA("sip1.pbx.test.", [4]byte{127, 0, 0, 1})

	c := gatewayCfg(k, "udp")
	c.Registrar = "pbx.test"
	g, err := New(Config{SIP: c, Logger: testLogger(), Resolver: d.resolver(), RetryMin: 50 * time.Millisecond,
		RetryMax: 500 * time.Millisecond, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitState(t, g, "registered")
	if dest := g.pbxDest.Load(); dest == nil || *dest != k.addr {
		t.Fatalf("located registrar %v, want %s (the SRV target)", dest, k.addr)
	}
	f := &fromExt{got: make(chan string, 1)}
	g.SetSessions(f)
	p := newPhone(t, "201", "127.0.0.1", k.addr)
	p.register(60)
	if res, err := p.send(k.addr, customer, "über SRV"); err != nil || res.StatusCode != 202 {
		t.Fatalf("MESSAGE to the customer through Kamailio: %s", codeOf(res, err))
	}
	if got := <-f.got; got != "201|"+customer+"|über SRV" {
		t.Fatalf("gateway got %q", got)
	}
	if err := g.DeliverChat(context.Background(), "201", session.Chat{Contact: customer, Text: "Hallo über SRV"}); err != nil {
		t.Fatalf("chat to extension 201 through the SRV target: %v", err)
	}
	if got := p.next("chat"); got.Body != "Hallo über SRV" {
		t.Fatalf("extension got %q", got.Body)
	}
}

// locate (RFC 3263 §4.2) without sending anything: the lowest priority
// wins and a failover picks the next; no SRV records fall back to A on
// 5060 (5061 for TLS); a name with a port or an IP is not looked up as
// SRV; a failing DNS server is an error naming the SRV name.
func TestLocateRegistrar(t *testing.T) {
	t.Parallel()
	d := startDNS(t)
	d.setSRV("_sip._udp.pbx.test.", srvRec(20, 5090, "sip2.pbx.test."), srvRec(10, 5080, "sip1.pbx.test."))
	d.setSRV("_sips._tcp.pbx.test.", srvRec(10, 5081, "sip1.pbx.test."))
	d.setA("sip1.pbx.test.", [4]byte{127, 0, 0, 11})
	d.setA("sip2.pbx.test.", [4]byte{127, 0, 0, 12})
	d.setA("plain.test.", [4]byte{127, 0, 0, 13})
	gw := func(network, registrar string) *Gateway {
		g := &Gateway{network: network, resolver: d.resolver(), pbxHost: registrar, useSRV: wantsSRV(registrar)}
		if h, p, err := splitHostPort(registrar); err == nil && !g.useSRV {
			g.pbxHost, g.pbxPort = h, p
		}
		return g
	}
	ctx := context.Background()
	for _, tc := range []struct {
		network, registrar string
		skip               int
		want               string
	}{
		{"udp", "pbx.test", 0, "127.0.0.11:5080"},
		{"udp", "pbx.test", 1, "127.0.0.12:5090"},
		{"tls", "pbx.test", 0, "127.0.0.11:5081"},
		{"udp", "plain.test", 0, "127.0.0.13:5060"},
		{"tls", "plain.test", 0, "127.0.0.13:5061"},
		{"udp", "plain.test:5070", 0, "127.0.0.13:5070"}, // netscope: a name the test DNS server maps to 127.0.0.13, never dialled
		{"udp", "127.0.0.14", 0, "127.0.0.14:5060"},
	} {
		got, _, err := gw(tc.network, tc.registrar).locate(ctx, tc.skip)
		if err != nil || got != netip.MustParseAddrPort(tc.want) {
			t.Errorf("%s %s skip %d: %v %v, want %s", tc.network, tc.registrar, tc.skip, got, err, tc.want)
		}
	}
	if _, _, err := gw("udp", "nowhere.test").locate(ctx, 0); err == nil || !strings.Contains(err.Error(), "does not resolve") {
		t.Errorf("unknown name: %v, want does not resolve", err)
	}
	d.mu.Lock()
	d.fail = true
	d.mu.Unlock()
	if _, _, err := gw("udp", "pbx.test").locate(ctx, 0); err == nil || !strings.Contains(err.Error(), "_sip._udp.pbx.test") {
		t.Errorf("SERVFAIL: %v, want an error naming the SRV lookup", err)
	}
}
