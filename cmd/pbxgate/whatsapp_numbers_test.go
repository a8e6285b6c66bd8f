package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Two WhatsApp numbers of one business account (whatsapp.numbers) in the
// running daemon with the built-in Cloud API emulator serving both: a
// customer of the second number writes; the message lands on that number's
// channel in the message log, the automatic answer leaves from that
// number; a webhook for a number of the account that is not configured
// changes nothing (no log entry, no answer, no window).
func TestWhatsAppSecondNumberConversation(t *testing.T) {
	t.Parallel()
	const second, unknown = "106540352242933", "106540352242944"
	d := startOneSIM(t, `whatsapp:
  enabled: true
  emulate: true
  numbers:
    - {phone_number_id: "`+second+`", channel: whatsapp-service, display_name: Service}
`)
	p, api := d.p, d.api
	inject := func(body string) {
		t.Helper()
		resp, err := http.Post(p.portal+"waemu/_emu/inbound", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("inject: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("inject: %s", resp.Status)
		}
	}
	type sent struct {
		WAMID, From, To string
	}
	sentNow := func() []sent {
		var s []sent
		getJSON(t, p.portal+"waemu/_emu/sent", &s)
		return s
	}
	logNow := func() []logEntry {
		var page struct {
			Items []logEntry `json:"items"`
		}
		api.do("GET", "/api/v1/messages", nil, &page)
		return page.Items
	}

	const customer = "4917055566688"
	inject(`{"from":"` + customer + `","name":"Kim","type":"text","text":"STOP","to":"` + second + `"}`)
	var in, reply logEntry
	deadline := time.Now().Add(30 * time.Second)
	for {
		in, reply = logEntry{}, logEntry{}
		for _, e := range logNow() {
			switch {
			case e.Direction == "in" && strings.HasSuffix(e.Peer, customer):
				in = e
			case e.Direction == "out" && e.Origin == "reply" && strings.HasSuffix(e.Peer, customer):
				reply = e
			}
		}
		if in.ID != "" && reply.ID != "" && len(sentNow()) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: in %+v reply %+v sent %+v\nlog:\n%s", in, reply, sentNow(), p.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if in.Kind != "whatsapp" || in.Channel != "whatsapp-service" || in.Text != "STOP" {
		t.Errorf("inbound entry %+v, want on channel whatsapp-service", in)
	}
	if reply.Channel != "whatsapp-service" || !strings.Contains(reply.Text, "START") {
		t.Errorf("answer entry %+v, want on channel whatsapp-service", reply)
	}
	if s := sentNow(); len(s) != 1 || s[0].From != second || s[0].To != customer {
		t.Errorf("emulator saw %+v, want one answer from %s to %s", s, second, customer)
	}

	// A number of the account that is not configured: Meta's webhook for
	// it is answered and ignored. A message to the primary number after it
	// shows when the daemon has taken both.
	const stranger, regular = "4917055566699", "4917055566600"
	inject(`{"from":"` + stranger + `","name":"Fremd","type":"text","text":"STOP","to":"` + unknown + `","to_display":"15550783777"}`)
	inject(`{"from":"` + regular + `","name":"Lee","type":"text","text":"Hallo"}`)
	for {
		var seen bool
		for _, e := range logNow() {
			if e.Direction == "in" && strings.HasSuffix(e.Peer, regular) {
				seen = true
				if e.Channel != "whatsapp" {
					t.Errorf("primary number's message on channel %q", e.Channel)
				}
			}
		}
		if seen {
			break
		}
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("message to the primary number not logged; log:\n%s", p.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // an answer to the stranger would be out by now
	for _, e := range logNow() {
		if strings.HasSuffix(e.Peer, stranger) {
			t.Errorf("the unconfigured number's customer is in the message log: %+v", e)
		}
	}
	for _, s := range sentNow() {
		if s.To == stranger {
			t.Errorf("answer sent to the unconfigured number's customer: %+v", s)
		}
	}
	var stats struct {
		Rejected map[string]int `json:"rejected"`
	}
	getJSON(t, p.portal+"waemu/_emu/stats", &stats)
	if len(stats.Rejected) > 0 {
		t.Errorf("the emulator refused sends: %v", stats.Rejected)
	}
	if !strings.Contains(p.log(), unknown) || !strings.Contains(p.log(), "not configured") {
		t.Errorf("the unconfigured number is not logged:\n%s", p.log())
	}
	// /readyz has a line for each configured number.
	var ready struct {
		Components []struct{ Name, State string } `json:"components"`
	}
	getJSON(t, p.portal+"readyz", &ready)
	lines := map[string]bool{}
	for _, c := range ready.Components {
		lines[c.Name] = true
	}
	if !lines["whatsapp/whatsapp"] || !lines["whatsapp/whatsapp-service"] {
		t.Errorf("readyz components %+v, want one per WhatsApp number", ready.Components)
	}
}
