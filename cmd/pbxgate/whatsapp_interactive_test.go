package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An automation rule answers "termin" with reply buttons (rule saved
// through the API): a WhatsApp customer of the second number writes and
// the interactive button message leaves from that number. The built-in
// emulator accepts a message only if its body matches Meta's Message
// schema (business-messaging-api_v23.0.yaml, drivers/whatsapp/metaschema),
// so the body is Meta's interactive "button" shape; its buttons carry the
// rule's ids and titles. A second rule answers with a call-to-action URL
// button from the same number.
func TestWhatsAppInteractiveAutoAnswer(t *testing.T) {
	t.Parallel()
	const second = "106540352242933"
	d := startOneSIM(t, `whatsapp:
  enabled: true
  emulate: true
  numbers:
    - {phone_number_id: "`+second+`", channel: whatsapp-service, display_name: Service}
`)
	rule := `{"name":"termin","enabled":true,"keyword":"define","match":"contains","pattern":"termin","kinds":["whatsapp"],
		"actions":[{"type":"auto_answer","text":"Wann passt es Ihnen?","interactive":{"buttons":[{"id":"slot-am","title":"Vormittag"},{"id":"slot-pm","title":"Nachmittag"}]}}]}`
	d.api.do("POST", "/api/v1/rules", []byte(rule), nil)
	resp, err := http.Post(d.p.portal+"waemu/_emu/inbound", "application/json",
		strings.NewReader(`{"from":"4917055566601","name":"Kim","type":"text","text":"Termin bitte","to":"`+second+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	type sent struct {
		From, To, Type string
		Body           json.RawMessage
	}
	deadline := time.Now().Add(30 * time.Second)
	var got []sent
	for {
		getJSON(t, d.p.portal+"waemu/_emu/sent", &got)
		if len(got) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer after 30 s\n%s", d.p.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	s := got[0]
	if s.From != second || s.To != "4917055566601" || s.Type != "interactive" {
		t.Fatalf("sent %+v, want an interactive message from %s", s, second)
	}
	var body struct {
		Interactive struct {
			Type   string
			Body   struct{ Text string }
			Action struct {
				Buttons []struct {
					Type  string
					Reply struct{ ID, Title string }
				}
			}
		}
	}
	if err := json.Unmarshal(s.Body, &body); err != nil {
		t.Fatal(err)
	}
	ia := body.Interactive
	if ia.Type != "button" || ia.Body.Text != "Wann passt es Ihnen?" || len(ia.Action.Buttons) != 2 ||
		ia.Action.Buttons[0].Type != "reply" || ia.Action.Buttons[1].Reply.ID != "slot-pm" || ia.Action.Buttons[1].Reply.Title != "Nachmittag" {
		t.Errorf("interactive body %s", s.Body)
	}

	// A link button (Meta's call-to-action URL message; the emulator's
	// schema has the documented cta_url shape, see metaschema's cta-url).
	cta := `{"name":"verschieben","enabled":true,"keyword":"define","match":"contains","pattern":"verschieben","kinds":["whatsapp"],
		"actions":[{"type":"auto_answer","text":"Online geht es schneller.","interactive":{"cta":{"title":"Termin ändern","url":"https://example.com/termin"}}}]}` // netscope: rule text, never fetched
	d.api.do("POST", "/api/v1/rules", []byte(cta), nil)
	resp, err = http.Post(d.p.portal+"waemu/_emu/inbound", "application/json",
		strings.NewReader(`{"from":"4917055566601","name":"Kim","type":"text","text":"Kann ich verschieben?","to":"`+second+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for {
		getJSON(t, d.p.portal+"waemu/_emu/sent", &got)
		if len(got) > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no link-button answer after 30 s\n%s", d.p.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	var link struct {
		Interactive struct {
			Type   string
			Body   struct{ Text string }
			Action struct {
				Name       string
				Parameters struct {
					DisplayText string `json:"display_text"`
					URL         string
				}
			}
		}
	}
	if err := json.Unmarshal(got[1].Body, &link); err != nil {
		t.Fatal(err)
	}
	if l := link.Interactive; got[1].From != second || l.Type != "cta_url" || l.Body.Text != "Online geht es schneller." || l.Action.Name != "cta_url" ||
		l.Action.Parameters.DisplayText != "Termin ändern" || l.Action.Parameters.URL != "https://example.com/termin" { // netscope: rule text, never fetched
		t.Errorf("link-button body %s from %s", got[1].Body, got[1].From)
	}
}
