package web

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/web/app"
)

// TestWhatsAppTemplateButtonsCampaign: the portal's WhatsApp form and the
// API fill a template's buttons (dynamic URL suffix, quick-reply payload,
// copy code; Meta's template-send button components), per recipient from
// a variable; a wrong button is refused with its reason in the user's
// language (de here) and nothing is created.
func TestWhatsAppTemplateButtonsCampaign(t *testing.T) {
	t.Parallel()
	tpls := templateList{
		{Name: "bestellung", Language: "de", Status: "APPROVED", Category: "UTILITY", Body: "Ihre Bestellung ist abholbereit.",
			Buttons: []campaign.TemplateButton{{Type: "URL", Dynamic: true, Text: "Status"}, {Type: "QUICK_REPLY", Text: "Absagen"},
				{Type: "PHONE_NUMBER", Text: "Anrufen"}, {Type: "COPY_CODE", Text: "Code kopieren"}}},
	}
	ch := &waChannel{}
	var eng *campaign.Engine
	env := newEnv(t, func(d *app.Deps) {
		chans := map[string]campaign.Channel{"wa": ch}
		var err error
		eng, err = campaign.New(campaign.Config{Store: d.Store, Channels: chans, Logger: slog.New(slog.DiscardHandler),
			Location: time.UTC, Region: "DE", Templates: tpls})
		if err != nil {
			t.Fatal(err)
		}
		ch.mu.Lock()
		ch.eng = eng
		ch.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		d.Campaigns = app.EngineCampaigns(eng, chans)
		d.Templates = tpls
	})
	c := env.client()
	c.setup("admin password")
	c.lang = "de"
	c.get("/lang/de")
	tok := c.csrf("/campaigns/new")
	// Fields for the fillable buttons only (not the phone-number button).
	mustContain(t, c.body, `id="button|bestellung|de|0"`, `id="button|bestellung|de|1"`, `id="button|bestellung|de|3"`,
		"URL-Ende für die Schaltfläche „Status“", "Code für die Kopieren-Schaltfläche „Code kopieren“")
	if contains(c.body, `id="button|bestellung|de|2"`) {
		t.Error("a field for the phone-number button")
	}
	base := map[string]string{"csrf_token": tok, "name": "Abholung", "sender": "wa|", "numbers": "+4915123456789", "send": "now",
		"template": "bestellung|de"}
	r := c.postMultipart("/campaigns/new", multipartForm{fields: copyMap(base, "button|bestellung|de|0", "o/4711")})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("missing copy code: %d", r.code)
	}
	mustContain(t, r.body, "Diese Schaltfläche braucht einen Wert.")
	// The engine's reason, translated, at the buttons.
	r = c.postMultipart("/campaigns/new", multipartForm{fields: copyMap(base, "button|bestellung|de|0", "o/4711",
		"button|bestellung|de|3", "{{kundennummer}}")})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("unknown variable: %d", r.code)
	}
	mustContain(t, r.body, "Schaltfläche mit Index 3", "Empfänger +4915123456789")
	f := copyMap(base, "button|bestellung|de|0", "o/4711", "button|bestellung|de|1", "absagen-4711", "button|bestellung|de|3", "ABHOL25")
	r = c.postMultipart("/campaigns/new", multipartForm{fields: f})
	m := idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	waitState(t, eng, m[1], campaign.Completed)

	// The API: whatsapp.buttons, values from recipient variables.
	apiTok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	body := func(buttons string) string {
		return `{"name":"API","channel":"wa","numbers":["+4915123456780"],"send":"now","whatsapp":{"template":"bestellung","language":"de","buttons":` + buttons + `}}`
	}
	code, resp := apiCall(t, c, apiTok, "POST", "/api/v1/campaigns", body(`[{"index":0,"type":"quick_reply","value":"x"},{"index":3,"type":"copy_code","value":"A"}]`))
	e, _ := resp["error"].(map[string]any)
	if code != http.StatusUnprocessableEntity || e["field"] != "buttons" || !contains(e["message"].(string), "button 0 is a url button") {
		t.Fatalf("wrong button kind: %d %v", code, resp)
	}
	code, resp = apiCall(t, c, apiTok, "POST", "/api/v1/campaigns", body(`[{"index":0,"type":"url","value":"o/{{number}}"},{"index":3,"type":"copy_code","value":"B7"}]`))
	if code != http.StatusCreated {
		t.Fatalf("API create: %d %v", code, resp)
	}
	waitState(t, eng, resp["id"].(string), campaign.Completed)
	ch.mu.Lock()
	sent := append([]campaign.TemplateMessage(nil), ch.sent...)
	ch.mu.Unlock()
	want := [][]campaign.ButtonValue{
		{{Index: 0, Type: "url", Value: "o/4711"}, {Index: 1, Type: "quick_reply", Value: "absagen-4711"}, {Index: 3, Type: "copy_code", Value: "ABHOL25"}},
		{{Index: 0, Type: "url", Value: "o/+4915123456780"}, {Index: 3, Type: "copy_code", Value: "B7"}},
	}
	if len(sent) != 2 {
		t.Fatalf("%d sends", len(sent))
	}
	for i, w := range want {
		if len(sent[i].Buttons) != len(w) {
			t.Fatalf("send %d buttons %+v, want %+v", i, sent[i].Buttons, w)
		}
		for j := range w {
			if sent[i].Buttons[j] != w[j] {
				t.Errorf("send %d buttons %+v, want %+v", i, sent[i].Buttons, w)
			}
		}
	}
}
