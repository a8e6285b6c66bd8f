package whatsapp_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/whatsapp/metaschema"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// TestCampaignTemplateButtons: a campaign's button values leave as Meta's
// button components (sub_type, index, one parameter: text for a URL
// suffix, payload for a quick reply; Meta's "Template messages"
// documentation and the ButtonComponent schemas of its v23.0 OpenAPI
// description). The body the emulator received validates against that
// schema, and the template's buttons reach the campaign's validation.
func TestCampaignTemplateButtons(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{virtual: true})
	ctx := context.Background()
	e.emu.AddTemplate(waemu.Template{ID: "700000000000200", Name: "order_ready", Language: "de", Status: "APPROVED", Category: "UTILITY",
		Components: []waemu.TemplateComponent{{Type: "BODY", Text: "Hallo {{1}}, Ihre Bestellung ist abholbereit."},
			{Type: "BUTTONS", Buttons: []waemu.TemplateButton{{Type: "URL", Text: "Status", URL: "https://shop.example/o/{{1}}"}, // netscope: template text, never fetched
				{Type: "QUICK_REPLY", Text: "Absagen"}, {Type: "COPY_CODE", Text: "Code kopieren"}}}}})
	if err := e.ch.Templates().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := e.ch.Template(ctx, "order_ready", "de")
	if err != nil {
		t.Fatal(err)
	}
	want := []campaign.TemplateButton{{Type: "URL", Dynamic: true, Text: "Status"}, {Type: "QUICK_REPLY", Text: "Absagen"},
		{Type: "COPY_CODE", Text: "Code kopieren"}}
	if len(info.Buttons) != 3 || info.Buttons[0] != want[0] || info.Buttons[1] != want[1] || info.Buttons[2] != want[2] {
		t.Fatalf("template buttons %+v, want %+v", info.Buttons, want)
	}
	cc := e.ch.ForCampaigns(nil)
	err = cc.SendTemplate(ctx, message.Outbound{ID: "btn-1", To: "4917100000009"}, campaign.TemplateMessage{
		Name: "order_ready", Language: "de", Params: []campaign.Param{{Name: "1", Value: "Anna"}},
		Buttons: []campaign.ButtonValue{{Index: 0, Type: "url", Value: "k-4711"},
			{Index: 1, Type: "quick_reply", Value: "cancel-4711"}, {Index: 2, Type: "copy_code", Value: "ABHOL25"}}})
	if err != nil {
		t.Fatalf("campaign send with buttons (the emulator checks every button parameter): %v", err)
	}
	body := lastSentMetaChecked(t, e)
	var got struct {
		Template struct {
			Components []struct {
				Type       string `json:"type"`
				SubType    string `json:"sub_type"`
				Index      string `json:"index"`
				Parameters []map[string]string
			} `json:"components"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, c := range got.Template.Components {
		if c.Type != "button" {
			continue
		}
		if len(c.Parameters) != 1 {
			t.Fatalf("button %s: %d parameters: %s", c.Index, len(c.Parameters), body)
		}
		p := c.Parameters[0]
		found[c.SubType+"/"+c.Index+"/"+p["type"]] = p["text"] + p["payload"] + p["coupon_code"]
	}
	if found["url/0/text"] != "k-4711" || found["quick_reply/1/payload"] != "cancel-4711" ||
		found["copy_code/2/coupon_code"] != "ABHOL25" || len(found) != 3 {
		t.Errorf("button components %v in %s", found, body)
	}
}

// TestCampaignTemplateTextHeader: a template whose TEXT header has a
// variable ("Termin {{1}}") gets the first campaign value in a header
// component and the rest in the body, as Meta's template message reference
// shows (header parameters apart from body parameters); the emulator
// refuses a header without its parameter ("header needs 1 parameter(s)"),
// and the body sent must validate against Meta's schema.
func TestCampaignTemplateTextHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{virtual: true})
	ctx := context.Background()
	if err := e.ch.Templates().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := e.ch.Template(ctx, "appointment_reminder", "de")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Variables) != 4 {
		t.Fatalf("variables %q, want the header's and the body's three", info.Variables)
	}
	cc := e.ch.ForCampaigns(nil)
	err = cc.SendTemplate(ctx, message.Outbound{ID: "hdr-1", To: "4917100000010"}, campaign.TemplateMessage{
		Name: "appointment_reminder", Language: "de",
		Params:  []campaign.Param{{Name: "1", Value: "Zahnarzt"}, {Name: "1", Value: "Anna"}, {Name: "2", Value: "3. März"}, {Name: "3", Value: "9:30"}},
		Buttons: []campaign.ButtonValue{{Index: 0, Type: "url", Value: "t-4711"}}})
	if err != nil {
		t.Fatalf("campaign send of a template with a text header variable: %v", err)
	}
	body := lastSentMetaChecked(t, e)
	var got struct {
		Template struct {
			Components []struct {
				Type       string              `json:"type"`
				Parameters []map[string]string `json:"parameters"`
			} `json:"components"`
		} `json:"template"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	texts := map[string][]string{}
	for _, c := range got.Template.Components {
		for _, p := range c.Parameters {
			texts[c.Type] = append(texts[c.Type], p["text"])
		}
	}
	if strings.Join(texts["header"], "|") != "Zahnarzt" || strings.Join(texts["body"], "|") != "Anna|3. März|9:30" {
		t.Errorf("header %q body %q in %s", texts["header"], texts["body"], body)
	}
}

// lastSentMetaChecked is the body of the emulator's last received message,
// checked against the Message schema of Meta's OpenAPI description
// (drivers/whatsapp/metaschema), not only against the emulator's rules.
func lastSentMetaChecked(t *testing.T, e *env) []byte {
	t.Helper()
	sent := e.emu.Sent()
	if len(sent) == 0 {
		t.Fatal("the emulator received nothing")
	}
	body := sent[len(sent)-1].Body
	v, err := metaschema.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Message(body); err != nil {
		t.Errorf("body does not match Meta's schema: %s\n%s", metaschema.Short(err), body)
	}
	return body
}
