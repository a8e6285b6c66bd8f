package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/viber/viberemu"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// startMessengerDaemon is startOneSIM with the portal on a known port
// and http.public_url pointing at it (Viber delivers only by webhook).
func startMessengerDaemon(t *testing.T, extra string) (oneSIM, int) {
	t.Helper()
	port := testkit.FreePort(t, "127.0.0.1")
	work := t.TempDir()
	d := oneSIM{dataDir: filepath.Join(work, "data"), cfgPath: filepath.Join(work, "pbxgate.yaml")}
	cfg := fmt.Sprintf(`data_dir: %s
log: {format: json}
http: {listen: "127.0.0.1:%d", public_url: "http://127.0.0.1:%d"}
modems: {discover: false, simulate: 1}
sms_channels: [{name: sms, modems: [sim1]}]
`, d.dataDir, port, port) + extra
	if err := os.WriteFile(d.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.p = startDaemon(t, d.cfgPath)
	completeSetup(t, d.p)
	out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", d.dataDir)
	if code != 0 {
		t.Fatal(stderr)
	}
	d.api = &apiClient{t: t, base: d.p.portal, token: strings.TrimSpace(out)}
	return d, port
}

func startViberEmulator(t *testing.T) (*viberemu.Server, string) {
	t.Helper()
	emu := viberemu.New(viberemu.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = emu.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return emu, "http://" + ln.Addr().String()
}

// messengerCampaign creates a campaign on channel to the pasted ids and
// waits until it completed; recipients returns number → "state error".
func messengerCampaign(t *testing.T, d oneSIM, channel, name, ids, text string) map[string]string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "channel": channel, "numbers": []string{ids}, "text": text, "send": "now"})
	var created struct {
		ID string `json:"id"`
	}
	d.api.do("POST", "/api/v1/campaigns", body, &created)
	deadline := time.Now().Add(30 * time.Second)
	for d.api.campaignState(created.ID) != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s: %s; log:\n%s", name, d.api.campaignState(created.ID), d.p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var page struct {
		Items []struct {
			Number string `json:"number"`
			State  string `json:"state"`
			Error  string `json:"error"`
		} `json:"items"`
	}
	d.api.do("GET", "/api/v1/campaigns/"+created.ID+"/recipients", nil, &page)
	got := map[string]string{}
	for _, it := range page.Items {
		got[it.Number] = it.State + " " + it.Error
	}
	return got
}

// waitOptOut waits until /api/v1/opt-outs lists exactly the one number
// (consent keeps ids in lower case) on channel.
func waitOptOut(t *testing.T, d oneSIM, number, channel string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var outs struct {
			Items []struct {
				Number  string `json:"number"`
				Channel string `json:"channel"`
			} `json:"items"`
		}
		d.api.do("GET", "/api/v1/opt-outs", nil, &outs)
		if len(outs.Items) == 1 && outs.Items[0].Number == number && outs.Items[0].Channel == channel {
			return
		}
		if len(outs.Items) > 1 || time.Now().After(deadline) {
			t.Fatalf("opt-outs %+v; want %s on %s; log:\n%s", outs.Items, number, channel, d.p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func expectExtension(t *testing.T, peer *pbxPeer, d oneSIM, from, text string) {
	t.Helper()
	select {
	case c := <-peer.inbox:
		if c.to != "201" || c.from != from || !strings.Contains(c.body, text) {
			t.Fatalf("extension got %+v, want from %s %q", c, from, text)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no MESSAGE at extension 201 within 30 s; log:\n%s", d.p.log())
	}
	select {
	case c := <-peer.inbox:
		t.Fatalf("extension got another message: %+v", c)
	case <-time.After(500 * time.Millisecond):
	}
}

// The Viber channel through the running daemon, against the REST Bot API
// emulator (viberemu, which follows
// https://developers.viber.com/docs/api/rest-bot-api/): the daemon
// registers its webhook; a user opens the chat and gets the welcome
// message; another subscribes; the first user's question reaches
// extension 201 over a real SIP socket and the extension's answer goes
// back to Viber. A campaign pasted as user ids reaches both subscribers;
// one unsubscribes (Viber's unsubscribed callback), which opts them out,
// and the next campaign excludes them.
func TestViberSubscriberToExtensionCampaignAndUnsubscribe(t *testing.T) {
	t.Parallel()
	emu, apiURL := startViberEmulator(t)
	peer := startPBXPeer(t)
	gw := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	d, port := startMessengerDaemon(t, fmt.Sprintf(`viber:
  enabled: true
  token: %q
  api_url: %s
  sender_name: Kundendienst
  welcome: "Willkommen! Schreiben Sie uns Ihre Frage."
sip:
  enabled: true
  mode: peer
  transport: udp
  listen: %s
  domain: pbxgate.test
  peer_address: %s
  allow_from: [127.0.0.1]
  sessions:
    routes: [{channel: viber, to: "201"}]
`, emu.Options().Token, apiURL, gw, peer.addr))
	hook := fmt.Sprintf("http://127.0.0.1:%d/webhooks/viber", port)
	deadline := time.Now().Add(30 * time.Second)
	for emu.Stats().Webhook != hook {
		if time.Now().After(deadline) {
			t.Fatalf("webhook %q, want %q; log:\n%s", emu.Stats().Webhook, hook, d.p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := context.Background()
	const erika, max = "ErikaAbc123=", "MaxXyz456=="
	welcome, err := emu.Open(ctx, erika, "Erika", "flyer-2026")
	if err != nil || welcome != "Willkommen! Schreiben Sie uns Ihre Frage." {
		t.Fatalf("welcome %q %v", welcome, err)
	}
	if err := emu.Subscribe(ctx, max, "Max"); err != nil {
		t.Fatal(err)
	}
	if _, err := emu.Write(ctx, erika, "Erika", "Guten Tag, ist mein Paket schon unterwegs?"); err != nil {
		t.Fatal(err)
	}
	// Subscribing opened no chat: the extension gets only the question.
	expectExtension(t, peer, d, "vb"+erika, "ist mein Paket schon unterwegs?")
	if code := peer.send(t, gw, "201", "vb"+erika, "Ja, es kommt morgen."); code/100 != 2 {
		t.Fatalf("gateway answered the extension's reply with %d; log:\n%s", code, d.p.log())
	}
	waitViberSent(t, emu, d, "extension's answer", func(s []viberemu.Sent) bool {
		return viberSentTo(s, erika, "Ja, es kommt morgen.")
	})

	// Seed 004: ids pasted with a comma and a semicolon.
	first := messengerCampaign(t, d, "viber", "Samstag", erika+", vb"+max+";", "Neu: Abholung auch samstags.")
	for who, st := range first {
		if !strings.HasPrefix(st, "sent") && !strings.HasPrefix(st, "delivered") {
			t.Errorf("first campaign, %s: %q", who, st)
		}
	}
	if len(first) != 2 {
		t.Fatalf("first campaign recipients %v", first)
	}
	sent := emu.SentMessages()
	if !viberSentTo(sent, erika, "Neu: Abholung auch samstags.") || !viberSentTo(sent, max, "Neu: Abholung auch samstags.") {
		t.Fatalf("campaign not at both: %+v", sent)
	}
	for _, s := range sent {
		if s.Sender != "Kundendienst" {
			t.Fatalf("sender %q, want viber.sender_name", s.Sender)
		}
	}

	if err := emu.Unsubscribe(ctx, max); err != nil {
		t.Fatal(err)
	}
	waitOptOut(t, d, strings.ToLower("vb"+max), "viber")
	before := len(emu.SentMessages())
	second := messengerCampaign(t, d, "viber", "Sonntag", erika+"\n"+max, "Sonntags geschlossen.")
	if st := second["vb"+max]; !strings.HasPrefix(st, "excluded") || !strings.Contains(st, "opted out") {
		t.Errorf("unsubscribed user: %q, want excluded (opted out); all %v", st, second)
	}
	if st := second["vb"+erika]; !strings.HasPrefix(st, "sent") && !strings.HasPrefix(st, "delivered") {
		t.Errorf("Erika: %q", st)
	}
	if sent := emu.SentMessages(); len(sent) != before+1 {
		t.Errorf("second campaign sent %d messages, want 1: %+v", len(sent)-before, sent[before:])
	}
	var page struct {
		Items []struct {
			Peer string `json:"peer"`
			Text string `json:"text"`
		} `json:"items"`
	}
	d.api.do("GET", "/api/v1/messages?dir=in&kind=viber", nil, &page)
	if len(page.Items) == 0 {
		t.Fatalf("message log has no inbound Viber message")
	}
}

func waitViberSent(t *testing.T, emu *viberemu.Server, d oneSIM, what string, ok func([]viberemu.Sent) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok(emu.SentMessages()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s; sent %+v; log:\n%s", what, emu.SentMessages(), d.p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func viberSentTo(sent []viberemu.Sent, user, text string) bool {
	for _, s := range sent {
		if s.Receiver == user && s.Text == text {
			return true
		}
	}
	return false
}
