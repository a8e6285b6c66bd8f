package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// pbxPeer is the PBX in peer mode, seen from the gateway: a SIP UA on a real
// UDP socket that takes MESSAGEs for extensions and sends the extensions'
// replies.
type pbxPeer struct {
	addr   string
	inbox  chan sipChat
	client *sipgo.Client
}

type sipChat struct{ from, to, body string }

func startPBXPeer(t *testing.T) *pbxPeer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pbxPeer{addr: conn.LocalAddr().String(), inbox: make(chan sipChat, 16)}
	ua, _ := sipgo.NewUA(sipgo.WithUserAgent("test-pbx"), sipgo.WithUserAgentHostname("127.0.0.1"))
	srv, _ := sipgo.NewServer(ua)
	_, port, _ := net.SplitHostPort(p.addr)
	pn, _ := strconv.Atoi(port)
	p.client, _ = sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(pn), sipgo.WithClientConnectionAddr(p.addr))
	srv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		c := sipChat{to: req.Recipient.User, body: string(req.Body())}
		if f := req.From(); f != nil {
			c.from = f.Address.User
		}
		p.inbox <- c
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() { conn.Close(); <-done; p.client.Close(); srv.Close() })
	return p
}

// send sends a MESSAGE from extension ext to user at the gateway.
func (p *pbxPeer) send(t *testing.T, gateway, ext, user, body string) int {
	t.Helper()
	host, port, _ := net.SplitHostPort(gateway)
	pn, _ := strconv.Atoi(port)
	req := sip.NewRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", User: user, Host: host, Port: pn})
	tag := sip.NewParams()
	tag.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: "127.0.0.1"}, Params: tag})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: host}, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain;charset=UTF-8"))
	req.SetBody([]byte(body))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.client.Do(ctx, req)
	if err != nil {
		t.Fatalf("MESSAGE to gateway: %v", err)
	}
	return res.StatusCode
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// A customer's SMS to the running daemon reaches extension 201 at the PBX
// as a SIP MESSAGE from the customer's number; the extension's answer goes
// back to the customer through the same SIM.
func TestSMSToExtensionAndReplyThroughDaemon(t *testing.T) {
	t.Parallel()
	peer := startPBXPeer(t)
	work := t.TempDir()
	gw := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	cfgPath := filepath.Join(work, "pbxgate.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
log: {format: json}
http: {listen: "127.0.0.1:0"}
modems: {discover: false, simulate: 1}
sms_channels: [{name: sms, modems: [sim1]}]
sip:
  enabled: true
  mode: peer
  transport: udp
  listen: %s
  domain: pbxgate.test
  peer_address: %s
  allow_from: [127.0.0.1]
  sessions:
    routes: [{channel: sms, to: "201"}]
`, filepath.Join(work, "data"), gw, peer.addr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, cfgPath, "--demo")
	imei := onlySimIMEI(t, p)
	const customer = "+4917012345678"
	injectSMS(t, p, imei, customer, "Guten Tag, wann öffnen Sie morgen?")

	select {
	case c := <-peer.inbox:
		if c.to != "201" || c.from != customer || !strings.Contains(c.body, "wann öffnen Sie morgen?") {
			t.Fatalf("extension got %+v", c)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no MESSAGE at extension 201 within 20 s; log:\n%s", p.log())
	}

	if code := peer.send(t, gw, "201", customer, "Ab 8 Uhr. Viele Grüße"); code/100 != 2 {
		t.Fatalf("gateway answered the extension's reply with %d", code)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var sent []struct {
			To   string `json:"to"`
			Text string `json:"text"`
		}
		getJSON(t, p.portal+"sim/modems/"+imei+"/sent", &sent)
		if len(sent) == 1 && sent[0].To == customer && sent[0].Text == "Ab 8 Uhr. Viele Grüße" {
			return
		}
		if len(sent) > 1 || time.Now().After(deadline) {
			t.Fatalf("SIM sent %+v; want exactly the extension's reply to %s", sent, customer)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
