package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/telegram/tgemu"
	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// startTelegramEmulator runs the Bot API emulator on loopback for a
// daemon to long-poll (telegram.api_url).
func startTelegramEmulator(t *testing.T) (*tgemu.Server, string) {
	t.Helper()
	emu := tgemu.New(tgemu.Options{})
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

func waitSent(t *testing.T, emu *tgemu.Server, p *proc, what string, ok func([]tgemu.Sent) bool) []tgemu.Sent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sent := emu.SentMessages()
		if ok(sent) {
			return sent
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s; the bot sent %+v; log:\n%s", what, sent, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sentTo(sent []tgemu.Sent, chat int64, text string) bool {
	for _, s := range sent {
		if s.ChatID == chat && s.Text == text {
			return true
		}
	}
	return false
}

// The Telegram channel through the running daemon, against the Bot API
// emulator (which follows https://core.telegram.org/bots/api, see
// drivers/telegram/tgemu): a subscriber writes /start (the opt-in) and a
// question; the question reaches extension 201 at the PBX over a real SIP
// socket, and the extension's answer goes back to the chat. A campaign
// pasted as chat ids reaches both subscribers; one then blocks the bot,
// which opts it out, and the next campaign excludes it.
func TestTelegramSubscriberToExtensionCampaignAndBlock(t *testing.T) {
	t.Parallel()
	emu, apiURL := startTelegramEmulator(t)
	peer := startPBXPeer(t)
	gw := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	d := startOneSIM(t, fmt.Sprintf(`telegram:
  enabled: true
  token: %q
  api_url: %s
  poll_timeout: 1s
sip:
  enabled: true
  mode: peer
  transport: udp
  listen: %s
  domain: pbxgate.test
  peer_address: %s
  allow_from: [127.0.0.1]
  sessions:
    routes: [{channel: telegram, to: "201"}]
`, emu.Options().Token, apiURL, gw, peer.addr))
	p, api := d.p, d.api

	const erika, max = 4711001, 4711002
	for _, in := range []tgemu.Inbound{
		{ChatID: erika, FirstName: "Erika", Text: "/start flyer-2026"},
		{ChatID: max, FirstName: "Max", Text: "/start"},
		{ChatID: erika, Text: "Guten Tag, ist mein Paket schon unterwegs?"},
	} {
		if _, err := emu.Write(in); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case c := <-peer.inbox:
		if c.to != "201" || c.from != "tg4711001" || !strings.Contains(c.body, "ist mein Paket schon unterwegs?") {
			t.Fatalf("extension got %+v", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no MESSAGE at extension 201 within 30 s; log:\n%s", p.log())
	}
	// /start opened no chat: the extension got only the question.
	select {
	case c := <-peer.inbox:
		if !strings.Contains(c.body, "unterwegs") {
			t.Fatalf("extension got another message: %+v", c)
		}
	case <-time.After(500 * time.Millisecond):
	}

	if code := peer.send(t, gw, "201", "tg4711001", "Ja, es kommt morgen."); code/100 != 2 {
		t.Fatalf("gateway answered the extension's reply with %d; log:\n%s", code, p.log())
	}
	waitSent(t, emu, p, "extension's answer in the chat", func(s []tgemu.Sent) bool { return sentTo(s, erika, "Ja, es kommt morgen.") })

	campaign := func(name string, ids string) string {
		body, _ := json.Marshal(map[string]any{"name": name, "channel": "telegram", "numbers": []string{ids},
			"text": "Neu: Abholung auch samstags.", "send": "now"})
		var created struct {
			ID string `json:"id"`
		}
		api.do("POST", "/api/v1/campaigns", body, &created)
		deadline := time.Now().Add(30 * time.Second)
		for api.campaignState(created.ID) != "completed" {
			if time.Now().After(deadline) {
				t.Fatalf("campaign %s: %s; log:\n%s", name, api.campaignState(created.ID), p.log())
			}
			time.Sleep(100 * time.Millisecond)
		}
		return created.ID
	}
	recipients := func(id string) map[string]string {
		var page struct {
			Items []struct {
				Number string `json:"number"`
				State  string `json:"state"`
				Error  string `json:"error"`
			} `json:"items"`
		}
		api.do("GET", "/api/v1/campaigns/"+id+"/recipients", nil, &page)
		got := map[string]string{}
		for _, it := range page.Items {
			got[it.Number] = it.State + " " + it.Error
		}
		return got
	}
	// Seed 004: ids pasted with a comma and a semicolon.
	first := campaign("Samstag", "4711001, tg4711002;")
	waitSent(t, emu, p, "campaign to both subscribers", func(s []tgemu.Sent) bool {
		return sentTo(s, erika, "Neu: Abholung auch samstags.") && sentTo(s, max, "Neu: Abholung auch samstags.")
	})
	for who, st := range recipients(first) {
		if !strings.HasPrefix(st, "sent") {
			t.Errorf("first campaign, %s: %q", who, st)
		}
	}

	// Max blocks the bot: Telegram tells the bot (my_chat_member), and
	// pbxgate records an opt-out.
	if err := emu.Block(max); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var outs struct {
			Items []struct {
				Number  string `json:"number"`
				Keyword string `json:"keyword"`
				Channel string `json:"channel"`
			} `json:"items"`
		}
		api.do("GET", "/api/v1/opt-outs", nil, &outs)
		if len(outs.Items) == 1 && outs.Items[0].Number == "tg4711002" && outs.Items[0].Channel == "telegram" {
			break
		}
		if len(outs.Items) > 1 || time.Now().After(deadline) {
			t.Fatalf("opt-outs %+v; want Max's; log:\n%s", outs.Items, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := len(emu.SentMessages())
	second := campaign("Sonntag", "4711001\n4711002")
	got := recipients(second)
	if st := got["tg4711002"]; !strings.HasPrefix(st, "excluded") || !strings.Contains(st, "opted out") {
		t.Errorf("blocked subscriber: %q, want excluded (opted out)", st)
	}
	if st := got["tg4711001"]; !strings.HasPrefix(st, "sent") {
		t.Errorf("Erika: %q", st)
	}
	if sent := emu.SentMessages(); len(sent) != before+1 {
		t.Errorf("second campaign sent %d messages, want 1: %+v", len(sent)-before, sent[before:])
	}
}

// With http.public_url set the daemon registers its webhook with
// setWebhook and a secret token (https://core.telegram.org/bots/api#setwebhook);
// the emulator posts the subscriber's update to the portal with the
// X-Telegram-Bot-Api-Secret-Token header, and a call without it is
// refused.
func TestTelegramWebhookModeThroughDaemon(t *testing.T) {
	t.Parallel()
	emu, apiURL := startTelegramEmulator(t)
	port := testkit.FreePort(t, "127.0.0.1")
	work := t.TempDir()
	cfgPath := filepath.Join(work, "pbxgate.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
log: {format: json}
http: {listen: "127.0.0.1:%d", public_url: "http://127.0.0.1:%d"}
modems: {discover: false}
telegram: {enabled: true, token: %q, api_url: %s}
`, filepath.Join(work, "data"), port, port, emu.Options().Token, apiURL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, cfgPath)
	hook := fmt.Sprintf("http://127.0.0.1:%d/webhooks/telegram", port)
	deadline := time.Now().Add(30 * time.Second)
	for emu.Stats().Webhook != hook {
		if time.Now().After(deadline) {
			t.Fatalf("webhook %q, want %q; log:\n%s", emu.Stats().Webhook, hook, p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// getUpdates is a conflict now (the emulator's 409), so only the
	// webhook can deliver.
	if _, err := emu.Write(tgemu.Inbound{ChatID: 99, FirstName: "Webhook", Text: "über den Webhook"}); err != nil {
		t.Fatal(err)
	}
	for emu.Stats().Pending != 0 || emu.Stats().HookCalls == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("update not taken by the webhook: %+v; log:\n%s", emu.Stats(), p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	res, err := http.Post(hook, "application/json", strings.NewReader(`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":66,"type":"private"},"text":"forged"}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("webhook call without the secret: %d", res.StatusCode)
	}
	completeSetup(t, p)
	out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", filepath.Join(work, "data"))
	if code != 0 {
		t.Fatal(stderr)
	}
	api := &apiClient{t: t, base: p.portal, token: strings.TrimSpace(out)}
	var page struct {
		Items []struct {
			Kind string `json:"kind"`
			Peer string `json:"peer"`
			Text string `json:"text"`
		} `json:"items"`
	}
	for {
		api.do("GET", "/api/v1/messages?dir=in&kind=telegram", nil, &page)
		if len(page.Items) == 1 && page.Items[0].Peer == "tg99" && page.Items[0].Text == "über den Webhook" {
			break
		}
		if len(page.Items) > 1 || time.Now().After(deadline) {
			t.Fatalf("message log: %+v", page.Items)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
