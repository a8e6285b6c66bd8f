package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/vk/vkemu"
)

func startVKEmulator(t *testing.T) (*vkemu.Server, string) {
	t.Helper()
	emu := vkemu.New(vkemu.Options{})
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

func vkSentTo(sent []vkemu.Sent, peer int64, text string) bool {
	for _, s := range sent {
		if s.PeerID == peer && s.Text == text {
			return true
		}
	}
	return false
}

// The VK channel through the running daemon, against the VK API emulator
// (vkemu, which follows VK's documentation of messages.send and the Bots
// Long Poll API), without a public URL: one user allows messages
// (message_allow, the opt-in), another writes a question, which reaches
// extension 201 over a real SIP socket; the extension's answer goes back
// by messages.send. A campaign pasted as user ids reaches both; one then
// forbids messages (message_deny), which opts them out, and the next
// campaign excludes them.
func TestVKSubscriberToExtensionCampaignAndDeny(t *testing.T) {
	t.Parallel()
	emu, apiURL := startVKEmulator(t)
	peer := startPBXPeer(t)
	gw := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	d := startOneSIM(t, fmt.Sprintf(`vk:
  enabled: true
  token: %q
  group_id: %d
  api_url: %s
  poll_wait: 1s
sip:
  enabled: true
  mode: peer
  transport: udp
  listen: %s
  domain: pbxgate.test
  peer_address: %s
  allow_from: [127.0.0.1]
  sessions:
    routes: [{channel: vk, to: "201"}]
`, emu.Options().Token, emu.Options().GroupID, apiURL, gw, peer.addr))
	deadline := time.Now().Add(30 * time.Second)
	for emu.Stats().Calls["groups.getLongPollServer"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no long-poll session; log:\n%s", d.p.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	const erika, max = 4711001, 4711002
	emu.Allow(max, "flyer-2026")
	emu.Write(erika, "Guten Tag, ist mein Paket schon unterwegs?")
	expectExtension(t, peer, d, "vk4711001", "ist mein Paket schon unterwegs?")
	if code := peer.send(t, gw, "201", "vk4711001", "Ja, es kommt morgen."); code/100 != 2 {
		t.Fatalf("gateway answered the extension's reply with %d; log:\n%s", code, d.p.log())
	}
	for !vkSentTo(emu.SentMessages(), erika, "Ja, es kommt morgen.") {
		if time.Now().After(deadline) {
			t.Fatalf("answer not sent: %+v; log:\n%s", emu.SentMessages(), d.p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}

	first := messengerCampaign(t, d, "vk", "Samstag", "4711001, vk4711002;", "Neu: Abholung auch samstags.")
	if len(first) != 2 {
		t.Fatalf("first campaign %v", first)
	}
	for who, st := range first {
		if !strings.HasPrefix(st, "sent") {
			t.Errorf("first campaign, %s: %q", who, st)
		}
	}
	sent := emu.SentMessages()
	if !vkSentTo(sent, erika, "Neu: Abholung auch samstags.") || !vkSentTo(sent, max, "Neu: Abholung auch samstags.") {
		t.Fatalf("campaign not at both: %+v", sent)
	}

	emu.Deny(max)
	waitOptOut(t, d, "vk4711002", "vk")
	before := len(emu.SentMessages())
	second := messengerCampaign(t, d, "vk", "Sonntag", "id4711001\n4711002", "Sonntags geschlossen.")
	if st := second["vk4711002"]; !strings.HasPrefix(st, "excluded") || !strings.Contains(st, "opted out") {
		t.Errorf("denied user: %q, want excluded (opted out); all %v", st, second)
	}
	if st := second["vk4711001"]; !strings.HasPrefix(st, "sent") {
		t.Errorf("Erika: %q", st)
	}
	if sent := emu.SentMessages(); len(sent) != before+1 {
		t.Errorf("second campaign sent %d messages, want 1: %+v", len(sent)-before, sent[before:])
	}
}
