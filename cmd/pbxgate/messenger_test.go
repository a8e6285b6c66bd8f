package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// metaSent is an emulator's GET /_emu/sent (drivers/metamsg/metaemu).
type metaSent struct {
	To            string `json:"to"`
	Text          string `json:"text"`
	MessagingType string `json:"messaging_type"`
	Tag           string `json:"tag"`
}

func emuPost(t *testing.T, url string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s: %d", url, res.StatusCode)
	}
}

func waitMetaSent(t *testing.T, p *proc, url, what string, ok func([]metaSent) bool) []metaSent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sent []metaSent
		getJSON(t, url, &sent)
		if ok(sent) {
			return sent
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30 s; the emulator got %+v; log:\n%s", what, sent, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func metaSentTo(sent []metaSent, to, text string) int {
	n := 0
	for _, s := range sent {
		if s.To == to && s.Text == text {
			n++
		}
	}
	return n
}

// Facebook Messenger and Instagram through the running daemon, each
// against its built-in Graph API emulator (whose rules follow Meta's Send
// API and webhook documentation, see drivers/metamsg/metaemu), which calls
// the portal's webhook signed like Meta: a person writes to the Page, the
// message reaches extension 201 over a real SIP socket, and the
// extension's answer goes back as a RESPONSE within the 24-hour window.
// A campaign pasted as ids reaches both subscribers (as UPDATE); one
// writes STOP and one blocks the Page (Meta's 551 on the next send): both
// end up opted out, and the next campaign excludes them. An Instagram
// person's message and the agent's reply take the same way.
func TestMessengerInstagramThroughDaemon(t *testing.T) {
	t.Parallel()
	peer := startPBXPeer(t)
	gw := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	d := startOneSIM(t, fmt.Sprintf(`messenger: {enabled: true, emulate: true}
instagram: {enabled: true, emulate: true}
sip:
  enabled: true
  mode: peer
  transport: udp
  listen: %s
  domain: pbxgate.test
  peer_address: %s
  allow_from: [127.0.0.1]
  sessions:
    routes: [{channel: messenger, to: "201"}, {channel: instagram, to: "201"}]
`, gw, peer.addr))
	p, api := d.p, d.api
	fb, ig := p.portal+"fbemu/_emu/", p.portal+"igemu/_emu/"

	const erika, max, lena = "1254477777772919", "1254477777772920", "1254477777772921"
	emuPost(t, fb+"message", map[string]string{"from": erika, "text": "Guten Tag, ist mein Paket schon unterwegs?"})
	select {
	case c := <-peer.inbox:
		if c.to != "201" || c.from != "fb"+erika || !strings.Contains(c.body, "ist mein Paket schon unterwegs?") {
			t.Fatalf("extension got %+v", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no MESSAGE at extension 201 within 30 s; log:\n%s", p.log())
	}
	if code := peer.send(t, gw, "201", "fb"+erika, "Ja, es kommt morgen."); code/100 != 2 {
		t.Fatalf("gateway answered the extension's reply with %d; log:\n%s", code, p.log())
	}
	sent := waitMetaSent(t, p, fb+"sent", "extension's answer on Messenger", func(s []metaSent) bool { return metaSentTo(s, erika, "Ja, es kommt morgen.") == 1 })
	for _, s := range sent {
		if s.To == erika && s.MessagingType != "RESPONSE" {
			t.Errorf("agent's reply went as %q, want RESPONSE", s.MessagingType)
		}
	}
	// Instagram: the same way, with ig ids.
	// The second channel on one extension is a thread of its own: the
	// extension sees and answers "ig<id>*instagram".
	emuPost(t, ig+"message", map[string]string{"from": "6543210987654321", "text": "Hallo über Instagram"})
	var igFrom string
	select {
	case c := <-peer.inbox:
		if c.from != "ig6543210987654321*instagram" || !strings.Contains(c.body, "Hallo über Instagram") {
			t.Fatalf("extension got %+v", c)
		}
		igFrom = c.from
	case <-time.After(30 * time.Second):
		t.Fatalf("no Instagram MESSAGE at extension 201 within 30 s; log:\n%s", p.log())
	}
	if code := peer.send(t, gw, "201", igFrom, "Gern, was kann ich tun?"); code/100 != 2 {
		t.Fatalf("Instagram reply: %d", code)
	}
	waitMetaSent(t, p, ig+"sent", "extension's answer on Instagram", func(s []metaSent) bool {
		return metaSentTo(s, "6543210987654321", "Gern, was kann ich tun?") == 1
	})

	emuPost(t, fb+"message", map[string]string{"from": max, "text": "Hallo"})
	emuPost(t, fb+"message", map[string]string{"from": lena, "text": "Hallo"})
	campaign := func(name, ids string) string {
		body, _ := json.Marshal(map[string]any{"name": name, "channel": "messenger", "numbers": []string{ids},
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
	// Seed 004: ids pasted with commas, a semicolon and a prefix.
	first := campaign("Samstag", erika+", fb"+max+"; "+lena)
	sent = waitMetaSent(t, p, fb+"sent", "campaign to the three subscribers", func(s []metaSent) bool {
		return metaSentTo(s, erika, "Neu: Abholung auch samstags.") == 1 && metaSentTo(s, max, "Neu: Abholung auch samstags.") == 1 &&
			metaSentTo(s, lena, "Neu: Abholung auch samstags.") == 1
	})
	for _, s := range sent {
		if s.Text == "Neu: Abholung auch samstags." && s.MessagingType != "UPDATE" {
			t.Errorf("campaign message went as %q, want UPDATE", s.MessagingType)
		}
	}
	for who, st := range recipients(first) {
		if !strings.HasPrefix(st, "sent") {
			t.Errorf("first campaign, %s: %q", who, st)
		}
	}

	// Max writes STOP (the consent keyword); Lena blocks the Page, which
	// Meta tells pbxgate only by refusing the next message (551).
	emuPost(t, fb+"message", map[string]string{"from": max, "text": "STOP"})
	emuPost(t, fb+"block", map[string]string{"id": lena})
	waitOptOuts := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var outs struct {
				Items []struct {
					Number string `json:"number"`
				} `json:"items"`
			}
			api.do("GET", "/api/v1/opt-outs", nil, &outs)
			got := map[string]bool{}
			for _, o := range outs.Items {
				got[o.Number] = true
			}
			all := true
			for _, w := range want {
				all = all && got[w]
			}
			if all && len(got) == len(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("opt-outs %+v, want %v; log:\n%s", outs.Items, want, p.log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitOptOuts("fb" + max)
	second := campaign("Sonntag", erika+"\n"+max+"\n"+lena)
	got := recipients(second)
	if st := got["fb"+max]; !strings.HasPrefix(st, "excluded") || !strings.Contains(st, "opted out") {
		t.Errorf("STOP: %q, want excluded (opted out)", st)
	}
	if st := got["fb"+lena]; !strings.HasPrefix(st, "failed") {
		t.Errorf("blocked: %q, want failed (551)", st)
	}
	if st := got["fb"+erika]; !strings.HasPrefix(st, "sent") {
		t.Errorf("Erika: %q", st)
	}
	waitOptOuts("fb"+max, "fb"+lena)
	third := campaign("Montag", erika+" "+lena)
	if st := recipients(third)["fb"+lena]; !strings.HasPrefix(st, "excluded") || !strings.Contains(st, "opted out") {
		t.Errorf("after the block: %q, want excluded (opted out)", st)
	}
}
