package whatsapp_test

import (
	"context"
	"encoding/json"
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
	sent := e.emu.Sent()
	body := sent[len(sent)-1].Body
	v, err := metaschema.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Message(body); err != nil {
		t.Errorf("body does not match Meta's schema: %s\n%s", metaschema.Short(err), body)
	}
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
