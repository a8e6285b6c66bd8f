package whatsapp

import (
	"encoding/json"
	"testing"
)

// The portal's preview gets a template's TEXT header and footer, from the
// components as Meta describes them (Meta's OpenAPI, shared/whatsapp/
// business-messaging-api_v23.0.yaml, example "Create template w/ text
// header, text body, text footer, and 2 quick reply buttons", verbatim).
func TestTemplateInfoCarriesHeaderTextAndFooter(t *testing.T) {
	const listing = `{"name":"seasonal_promotion_text_only","language":"en","status":"APPROVED","category":"MARKETING","components":[
	 {"type":"HEADER","format":"TEXT","text":"Our {{1}} is on!","example":{"header_text":["Summer Sale"]}},
	 {"type":"BODY","text":"Shop now through {{1}} and use code {{2}} to get {{3}} off of all merchandise.","example":{"body_text":[["the end of August","25OFF","25%"]]}},
	 {"type":"FOOTER","text":"Use the buttons below to manage your marketing subscriptions"},
	 {"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Unsubcribe from Promos"},{"type":"QUICK_REPLY","text":"Unsubscribe from All"}]}]}`
	var info TemplateInfo
	if err := json.Unmarshal([]byte(listing), &info); err != nil {
		t.Fatal(err)
	}
	got := templateInfo(info)
	if got.HeaderText != "Our {{1}} is on!" || got.Footer != "Use the buttons below to manage your marketing subscriptions" {
		t.Errorf("header %q footer %q", got.HeaderText, got.Footer)
	}
	if got.Body == "" || len(got.Buttons) != 2 || got.Buttons[0].Text != "Unsubcribe from Promos" {
		t.Errorf("body %q buttons %+v", got.Body, got.Buttons)
	}
	if (TemplateInfo{}).ComponentText("FOOTER") != "" {
		t.Error("footer of a template without one")
	}
}
