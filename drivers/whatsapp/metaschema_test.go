package whatsapp_test

// The bodies the client builds, checked against the JSON schemas of Meta's
// OpenAPI description (github.com/facebook/openapi,
// business-messaging-api_v23.0.yaml, schema Message and what it references)
// through drivers/whatsapp/metaschema; the rules of Meta's schema set aside
// there are listed in metaschema.Rewrites.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/metaschema"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
)

// everyMessage is one message of every kind the client can send: each
// message type, each template component and parameter kind, reply-to,
// named and positional parameters.
func everyMessage() map[string]whatsapp.Message {
	link := func(ext string) whatsapp.Media {
		return whatsapp.Media{Link: "https://example.com/a." + ext} // netscope: request body only, never fetched
	}
	doc := link("pdf")
	doc.Filename, doc.Caption = "Rechnung.pdf", "Ihre Rechnung"
	loc := whatsapp.Location{Latitude: 52.52, Longitude: 13.405, Name: "Büro", Address: "Unter den Linden 1, Berlin"}
	named := whatsapp.TemplateComponent{Type: "body", Parameters: []whatsapp.Parameter{
		{Type: "text", ParameterName: "first_name", Text: "Anna"}, {Type: "text", ParameterName: "order_id", Text: "4711"}}}
	money := whatsapp.TemplateComponent{Type: "body", Parameters: []whatsapp.Parameter{
		{Type: "currency", Currency: &whatsapp.Currency{FallbackValue: "12,50 €", Code: "EUR", Amount1000: 12500}},
		{Type: "date_time", DateTime: &whatsapp.DateTime{FallbackValue: "7. Dezember 2026"}},
		{Type: "date_time", DateTime: &whatsapp.DateTime{FallbackValue: "February 25, 1977", Calendar: "GREGORIAN",
			DayOfMonth: 25, DayOfWeek: 5, Hour: 15, Minute: 33, Month: 2, Year: 1977}},
	}}
	return map[string]whatsapp.Message{
		"text":              whatsapp.Text("Hallo"),
		"text preview":      {Type: whatsapp.TypeText, Text: "https://example.com", PreviewURL: true}, // netscope: request body only
		"text reply":        {Type: whatsapp.TypeText, Text: "Gern", ReplyTo: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUYzMjEzNDM2RTZGQ0MzMDJBRgA="},
		"image id":          {Type: whatsapp.TypeImage, Media: &whatsapp.Media{ID: "1", Caption: "Foto"}},
		"image link":        {Type: whatsapp.TypeImage, Media: ptr(link("jpg"))},
		"document id":       {Type: whatsapp.TypeDocument, Media: &whatsapp.Media{ID: "2", Filename: "a.pdf", Caption: "PDF"}},
		"document link":     {Type: whatsapp.TypeDocument, Media: &doc},
		"video id":          {Type: whatsapp.TypeVideo, Media: &whatsapp.Media{ID: "3", Caption: "Clip"}},
		"video link":        {Type: whatsapp.TypeVideo, Media: ptr(link("mp4"))},
		"audio id":          {Type: whatsapp.TypeAudio, Media: &whatsapp.Media{ID: "4"}},
		"audio link reply":  {Type: whatsapp.TypeAudio, Media: ptr(link("ogg")), ReplyTo: "wamid.X"},
		"location":          {Type: whatsapp.TypeLocation, Location: &loc},
		"location bare":     {Type: whatsapp.TypeLocation, Location: &whatsapp.Location{Latitude: -33.86, Longitude: 151.2}},
		"template bare":     whatsapp.TemplateMessage("hello_world", "en_US"),
		"template body":     whatsapp.TemplateMessage("order", "de", whatsapp.BodyText("Anna", "4711")),
		"template named":    whatsapp.TemplateMessage("order_named", "de", named),
		"template currency": whatsapp.TemplateMessage("invoice", "de", money),
		"template header text": whatsapp.TemplateMessage("news", "de", whatsapp.HeaderText("Dezember"),
			whatsapp.BodyText("Anna")),
		"template header image":    whatsapp.TemplateMessage("promo", "de", whatsapp.HeaderMedia("image", whatsapp.Media{ID: "1"})),
		"template header document": whatsapp.TemplateMessage("invoice_doc", "de", whatsapp.HeaderMedia("document", doc)),
		"template header video":    whatsapp.TemplateMessage("clip", "de", whatsapp.HeaderMedia("video", link("mp4"))),
		"template header location": whatsapp.TemplateMessage("visit", "de", whatsapp.HeaderLocation(loc)),
		"reaction":                 whatsapp.ReactionMessage("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUYzMjEzNDM2RTZGQ0MzMDJBRgA=", "👍"),
		"reaction removed":         whatsapp.ReactionMessage("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUYzMjEzNDM2RTZGQ0MzMDJBRgA=", ""),
		"buttons":                  whatsapp.ButtonsMessage("Termin bestätigen?", whatsapp.ReplyTitle{ID: "yes", Title: "Ja"}, whatsapp.ReplyTitle{ID: "no", Title: "Nein"}),
		"buttons header footer reply": func() whatsapp.Message {
			m := whatsapp.ButtonsMessage("Wie war der Service?", whatsapp.ReplyTitle{ID: "good", Title: "Gut"},
				whatsapp.ReplyTitle{ID: "ok", Title: "Geht so"}, whatsapp.ReplyTitle{ID: "bad", Title: "Schlecht"})
			m.Interactive.Header = &whatsapp.InteractiveHeader{Type: "text", Text: "Umfrage"}
			m.Interactive.Footer = &whatsapp.InteractiveText{Text: "Danke!"}
			m.ReplyTo = "wamid.X"
			return m
		}(),
		"list": whatsapp.ListMessage("Womit können wir helfen?", "Themen",
			whatsapp.ListSection{Title: "Verkauf", Rows: []whatsapp.ListRow{{ID: "offer", Title: "Angebot", Description: "Preis und Lieferzeit"}}},
			whatsapp.ListSection{Title: "Service", Rows: []whatsapp.ListRow{{ID: "repair", Title: "Reparatur"}, {ID: "invoice", Title: "Rechnung"}}}),
		"template buttons": whatsapp.TemplateMessage("confirm", "de", whatsapp.BodyText("Anna"),
			whatsapp.QuickReplyButton(0, "yes"), whatsapp.QuickReplyButton(1, "no"), whatsapp.URLButton(2, "order/4711")),
		"template copy code": whatsapp.TemplateMessage("coupon", "de", whatsapp.BodyText("Anna"), whatsapp.CopyCodeButton(0, "SOMMER25")),
		"cta url":            whatsapp.CTAURLMessage("Ihr Termin lässt sich online verschieben.", "Termin ändern", "https://example.com/termin?id=4711"), // netscope: request body only
	}
}

func ptr[T any](v T) *T { return &v }

// TestEveryRequestBodyMatchesMetaSchema builds the body of every kind of
// message the client sends and validates it against Meta's schema.
func TestEveryRequestBodyMatchesMetaSchema(t *testing.T) {
	t.Parallel()
	v, err := metaschema.New()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	params := map[string]bool{}
	for name, m := range everyMessage() {
		b, err := whatsapp.RequestBody(m, "+49 171 1234567", "msg-"+strings.ReplaceAll(name, " ", "-"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := v.Message(b); err != nil {
			t.Errorf("%s: %s\n  body %s", name, metaschema.Short(err), b)
		}
		types[m.Type] = true
		if m.Template != nil {
			for _, c := range m.Template.Components {
				params[c.Type+"/"+c.SubType] = true
				for _, p := range c.Parameters {
					params[p.Type] = true
				}
			}
		}
	}
	// Every message type the client accepts is covered: an unknown one is
	// refused, so this list is the client's.
	for _, typ := range []string{whatsapp.TypeText, whatsapp.TypeImage, whatsapp.TypeDocument, whatsapp.TypeVideo,
		whatsapp.TypeAudio, whatsapp.TypeLocation, whatsapp.TypeTemplate, whatsapp.TypeReaction, whatsapp.TypeInteractive} {
		if !types[typ] {
			t.Errorf("no %s message checked", typ)
		}
	}
	if _, err := whatsapp.RequestBody(whatsapp.Message{Type: "sticker"}, "491711234567", ""); !errors.Is(err, whatsapp.ErrInvalidMessage) {
		t.Errorf("the client builds a type this test does not cover: %v", err)
	}
	for _, p := range []string{"header/", "body/", "button/quick_reply", "button/url",
		"button/copy_code", "text", "currency", "date_time", "image", "document", "video", "location", "payload", "coupon_code"} {
		if !params[p] {
			t.Errorf("no template %s checked", p)
		}
	}
}

// TestInteractiveAndReactionSent: reply buttons, a list, a call-to-action
// URL button and a reaction go
// out through the emulator (which checks them against Meta's schema and
// the service window); interactive messages breaking Meta's limits are
// refused before sending with the rule named.
func TestInteractiveAndReactionSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{emu: func(o *waemu.Options) { o.PairInterval = time.Millisecond },
		ch: func(o *whatsapp.Options) { o.PairInterval = time.Millisecond }})
	const user = "4915112345099"
	e.openWindow(user)
	ctx := context.Background()
	wamid, err := e.ch.SendMessage(ctx, "q-1", "+"+user, whatsapp.ButtonsMessage("Termin bestätigen?",
		whatsapp.ReplyTitle{ID: "yes", Title: "Ja"}, whatsapp.ReplyTitle{ID: "no", Title: "Nein"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ch.SendMessage(ctx, "q-2", "+"+user, whatsapp.ListMessage("Thema?", "Auswahl",
		whatsapp.ListSection{Rows: []whatsapp.ListRow{{ID: "a", Title: "Angebot"}, {ID: "b", Title: "Bestellung"}}})); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ch.SendMessage(ctx, "r-1", "+"+user, whatsapp.ReactionMessage(wamid, "👍")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ch.SendMessage(ctx, "q-3", "+"+user, whatsapp.CTAURLMessage("Online verschieben?", "Termin ändern",
		"https://example.com/termin")); err != nil { // netscope: request body only, never fetched
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, s := range e.emu.Sent() {
		types[s.Type]++
	}
	if types["interactive"] != 3 || types["reaction"] != 1 {
		t.Errorf("emulator received %v", types)
	}
	long := strings.Repeat("x", 21)
	bad := map[string]struct {
		m    whatsapp.Message
		want string
	}{
		"four buttons": {whatsapp.ButtonsMessage("?", whatsapp.ReplyTitle{ID: "1", Title: "a"}, whatsapp.ReplyTitle{ID: "2", Title: "b"},
			whatsapp.ReplyTitle{ID: "3", Title: "c"}, whatsapp.ReplyTitle{ID: "4", Title: "d"}), "4 reply buttons"},
		"long title":   {whatsapp.ButtonsMessage("?", whatsapp.ReplyTitle{ID: "1", Title: long}), "WhatsApp allows 20"},
		"same id":      {whatsapp.ButtonsMessage("?", whatsapp.ReplyTitle{ID: "1", Title: "a"}, whatsapp.ReplyTitle{ID: "1", Title: "b"}), "not unique"},
		"no body":      {whatsapp.ButtonsMessage("", whatsapp.ReplyTitle{ID: "1", Title: "a"}), "body text"},
		"list no rows": {whatsapp.ListMessage("?", "Wahl", whatsapp.ListSection{Title: "x"}), "no rows"},
		"list two untitled": {whatsapp.ListMessage("?", "Wahl", whatsapp.ListSection{Rows: []whatsapp.ListRow{{ID: "a", Title: "A"}}},
			whatsapp.ListSection{Rows: []whatsapp.ListRow{{ID: "b", Title: "B"}}}), "needs a title"},
		"reaction without message": {whatsapp.ReactionMessage("", "👍"), "reacts to"},
		"cta long label":           {whatsapp.CTAURLMessage("?", long, "https://example.com/"), "1 to 20 characters"}, // netscope: request body only
		"cta not a URL":            {whatsapp.CTAURLMessage("?", "Los", "termin"), "not an http or https URL"},
		"cta with buttons": {func() whatsapp.Message {
			m := whatsapp.CTAURLMessage("?", "Los", "https://example.com/") // netscope: request body only
			m.Interactive.Action.Buttons = []whatsapp.ReplyButton{{Type: "reply", Reply: whatsapp.ReplyTitle{ID: "1", Title: "a"}}}
			return m
		}(), "no reply buttons"},
	}
	for name, c := range bad {
		_, err := e.ch.SendMessage(ctx, "bad-"+strings.ReplaceAll(name, " ", "-"), "+"+user, c.m)
		if !errors.Is(err, whatsapp.ErrInvalidMessage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalidMessage naming %q", name, err, c.want)
		}
	}
}

// TestCopyCodeAndURLButtonsSent: a template with a copy-code and a dynamic
// URL button goes out with both filled; a missing or too long code is
// refused by the channel before sending, naming the button.
func TestCopyCodeAndURLButtonsSent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	e.emu.AddTemplate(waemu.Template{ID: "77", Name: "coupon", Language: "de", Status: "APPROVED", Category: "MARKETING",
		Components: []waemu.TemplateComponent{{Type: "BODY", Text: "Hallo {{1}}, Ihr Rabatt:"},
			{Type: "BUTTONS", Buttons: []waemu.TemplateButton{{Type: "COPY_CODE", Text: "Code kopieren"},
				{Type: "URL", Text: "Shop", URL: "https://shop.example/{{1}}"}}}}}) // netscope: template text, never fetched
	ctx := context.Background()
	send := func(id string, comps ...whatsapp.TemplateComponent) error {
		_, err := e.ch.SendMessage(ctx, id, "+4915112345222", whatsapp.TemplateMessage("coupon", "de", comps...))
		return err
	}
	body := whatsapp.BodyText("Anna")
	if err := send("c-1", body, whatsapp.CopyCodeButton(0, "SOMMER25"), whatsapp.URLButton(1, "sale")); err != nil {
		t.Fatalf("coupon template: %v", err)
	}
	for name, c := range map[string]struct {
		comps []whatsapp.TemplateComponent
		want  string
	}{
		"no code":       {[]whatsapp.TemplateComponent{body, whatsapp.URLButton(1, "sale")}, "copy-code button 0 needs its code"},
		"long code":     {[]whatsapp.TemplateComponent{body, whatsapp.CopyCodeButton(0, "SOMMER2025ABCDEF"), whatsapp.URLButton(1, "sale")}, "more than 15"},
		"no URL suffix": {[]whatsapp.TemplateComponent{body, whatsapp.CopyCodeButton(0, "X")}, "URL button 1 needs its variable"},
	} {
		if err := send("c-"+strings.ReplaceAll(name, " ", "-"), c.comps...); !errors.Is(err, whatsapp.ErrTemplate) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrTemplate %q", name, err, c.want)
		}
	}
}
