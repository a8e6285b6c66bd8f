package web

import (
	"context"
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/metaschema"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/message"
	chat "github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/browsertest"
)

// quoteEnv is the portal with a WhatsApp session (the real channel
// against the emulator, the real session manager) in which the customer
// wrote twice, the second time quoting the first (Meta's context.id).
// It returns the session id and the wamid of the first message.
func quoteEnv(t *testing.T) (*testEnv, *waemu.Server, *chat.Manager, string, string) {
	t.Helper()
	ch, emu := realWhatsApp(t)
	var mgr *chat.Manager
	env := newEnv(t, func(d *app.Deps) {
		var err error
		mgr, err = chat.New(chat.Config{Store: d.Store, Deliverer: &phones{got: map[string]int{}}, Logger: slog.New(slog.DiscardHandler),
			Channels: []chat.Channel{{Name: "whatsapp", Kind: message.WhatsApp, Route: chat.Target{Kind: "extension", ID: "201"},
				Sender: chat.SenderFunc(ch.Send)}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- mgr.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		d.Sessions = mgr
		d.WhatsApp = &app.WhatsAppSetup{WebhookPath: whatsapp.WebhookPath, Account: app.NewWhatsAppAccount(ch)}
		d.Extra = map[string]http.Handler{whatsapp.WebhookPath: ch.Webhook()}
	})
	emu.SetCallbackURL(env.srv.URL + whatsapp.WebhookPath)
	ctx := context.Background()
	const from = "4915112345088"
	first, err := emu.Inject(ctx, waemu.Inbound{From: from, Name: "Kim", Type: "text", Text: "Ist Paket 4711 schon unterwegs?"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := emu.Inject(ctx, waemu.Inbound{From: from, Name: "Kim", Type: "text", Text: "Und wann kommt es?", ReplyTo: first})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []message.Inbound{
		{ID: first, Text: "Ist Paket 4711 schon unterwegs?"},
		{ID: second, Text: "Und wann kommt es?", ReplyTo: first},
	} {
		in.Kind, in.Channel, in.Receiver, in.From, in.Name, in.At = message.WhatsApp, "whatsapp", emu.Options().PhoneNumberID, "+"+from, "Kim", time.Now()
		if err := mgr.Inbound(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	list, err := mgr.List(true, 0)
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions %v %v", list, err)
	}
	return env, emu, mgr, list[0].ID, first
}

// waitSent waits until the emulator accepted n messages.
func waitSent(t *testing.T, emu *waemu.Server, n int) []waemu.Sent {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if s := emu.Sent(); len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator got %d messages, want %d", len(emu.Sent()), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkQuotedBody checks a sent body against Meta's Message schema
// (business-messaging-api_v23.0.yaml through drivers/whatsapp/metaschema)
// and that its context.message_id is the quoted wamid.
func checkQuotedBody(t *testing.T, body []byte, wamid string) {
	t.Helper()
	v, err := metaschema.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Message(body); err != nil {
		t.Errorf("body does not match Meta's Message schema: %v\n%s", err, body)
	}
	var b struct {
		Type    string
		Context struct {
			MessageID string `json:"message_id"`
		}
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	if b.Type != "text" || b.Context.MessageID != wamid {
		t.Errorf("body %s: want a text with context.message_id %s", body, wamid)
	}
}

// Over HTTP, in English and German: every customer message of an open
// WhatsApp session has "Reply to…"; the customer's own quote shows above
// its message; ?quote= puts the quoted message above the reply box;
// the reply leaves with Meta's context.message_id (checked against Meta's
// schema) and the log shows the quote above it. A message that cannot be
// quoted (unknown number, not a number, pbxgate's own reply) is refused
// with the reason in the user's language, nothing is sent and the text
// stays in the box. The API takes {"text","quote"} alike.
func TestWhatsAppQuoteReply(t *testing.T) {
	t.Parallel()
	env, emu, mgr, id, first := quoteEnv(t)
	c := env.client()
	c.setup("a safe new password")
	tok := c.csrf("/sessions/" + id)
	page := html.UnescapeString(c.body)
	mustContain(t, page, `href="/sessions/`+id+`?quote=1#reply-text"`, `id="quote-2"`, "Reply to…",
		`aria-label="Quoted message">Ist Paket 4711 schon unterwegs?</blockquote><div class="bubble">Und wann kommt es?`)
	if strings.Contains(page, `id="reply-quote"`) {
		t.Error("the reply box quotes before anything was picked")
	}
	c.get("/lang/de?next=/")
	mustContain(t, html.UnescapeString(c.get("/sessions/"+id).body), "Antworten auf…")
	r := c.get("/sessions/" + id + "?quote=1")
	mustContain(t, html.UnescapeString(r.body), "Ihre Antwort zitiert diese Nachricht:", `<input type="hidden" name="quote" value="1">`, "Nicht zitieren")
	if r = c.get("/sessions/" + id + "?quote=99"); r.code != http.StatusUnprocessableEntity {
		t.Errorf("?quote=99: %d", r.code)
	}
	mustContain(t, html.UnescapeString(r.body), "Diese Nachricht kann nicht zitiert werden")

	r = c.post("/sessions/"+id+"/reply", formVals("csrf_token", tok, "text", "Heute noch, bis 18 Uhr.", "quote", "1"))
	if r.code != http.StatusSeeOther {
		t.Fatalf("quoted reply: %d %s", r.code, r.body)
	}
	sent := waitSent(t, emu, 1)
	checkQuotedBody(t, sent[0].Body, first)
	c.get("/lang/en?next=/")
	page = html.UnescapeString(c.get("/sessions/" + id).body)
	mustContain(t, page, `aria-label="Quoted message">Ist Paket 4711 schon unterwegs?</blockquote><div class="bubble">Heute noch, bis 18 Uhr.`)
	if strings.Contains(page, `id="quote-3"`) {
		t.Error("pbxgate's own reply offers to be quoted")
	}

	for lang, want := range map[string]string{"en": "This message cannot be quoted", "de": "Diese Nachricht kann nicht zitiert werden"} {
		c.get("/lang/" + lang + "?next=/")
		for _, q := range []string{"3", "x", "99"} {
			r = c.post("/sessions/"+id+"/reply", formVals("csrf_token", tok, "text", "Nicht verlieren!", "quote", q))
			if r.code != http.StatusUnprocessableEntity {
				t.Errorf("%s quote %q: %d", lang, q, r.code)
			}
			mustContain(t, html.UnescapeString(r.body), want, ">Nicht verlieren!</textarea>")
		}
	}
	if n := len(emu.Sent()); n != 1 {
		t.Errorf("%d messages sent, want only the valid quoted reply", n)
	}
	// The API twin: {"text","quote"}; a quote that cannot be is 422.
	apiTok, _ := env.users.CreateToken(context.Background(), "admin", "api")
	auth := map[string]string{"Authorization": "Bearer " + apiTok, "Content-Type": "application/json"}
	if r = c.do("POST", "/api/v1/sessions/"+id+"/reply", strings.NewReader(`{"text":"Nein.","quote":3}`), auth); r.code != http.StatusUnprocessableEntity ||
		!strings.Contains(r.body, `"field":"quote"`) {
		t.Errorf("api quote of pbxgate's reply: %d %s", r.code, r.body)
	}
	if r = c.do("POST", "/api/v1/sessions/"+id+"/reply", strings.NewReader(`{"text":"Morgen früh.","quote":2}`), auth); r.code != http.StatusOK {
		t.Fatalf("api quoted reply: %d %s", r.code, r.body)
	}
	log, err := mgr.Log(id)
	if err != nil || len(log) != 4 || log[2].QuoteID != first || log[3].QuoteID != log[1].InboundID {
		t.Errorf("log %+v %v", log, err)
	}
	sent = waitSent(t, emu, 2)
	checkQuotedBody(t, sent[1].Body, log[1].InboundID)
}

// In Chromium, German then English, desktop and phone width: "Antworten
// auf…" on the customer's first message puts it above the reply box, the
// reply goes out quoting it (Meta's context.message_id, schema-checked)
// and shows the quote above it; in English "Reply to…" on the second
// message does the same. Screenshots: testdata/artifacts/wa-quote-*.png.
func TestBrowserWhatsAppQuoteReply(t *testing.T) {
	t.Parallel()
	env, emu, mgr, id, first := quoteEnv(t)
	log, err := mgr.Log(id)
	if err != nil || len(log) != 2 {
		t.Fatalf("log %+v %v", log, err)
	}
	second := log[1].InboundID
	b := startBrowser(t, env, "wa-quote-", 150*time.Second)
	base := env.srv.URL
	b.Run("session de", chromedp.EmulateViewport(1280, 1000), chromedp.Navigate(base+"/sessions/"+id),
		chromedp.WaitVisible(chromedp.CSS("#quote-1")), b.Shot("01-session-de"))
	if l := b.Text("#quote-1"); l != "Antworten auf…" {
		t.Errorf("link %q", l)
	}
	b.Run("pick quote de", browsertest.Click("#quote-1"), chromedp.WaitVisible(chromedp.CSS("#reply-quote")), b.Shot("02-quoting-de"))
	if q := b.Text("#reply-quote"); !strings.Contains(q, "Ihre Antwort zitiert diese Nachricht:") || !strings.Contains(q, "Ist Paket 4711 schon unterwegs?") {
		t.Errorf("reply quote %q", q)
	}
	b.Run("send de", browsertest.TypeIn("#reply-text", "Heute noch, bis 18 Uhr."), browsertest.Click("#session-reply"),
		chromedp.WaitVisible(chromedp.CSS("#msg-3 .quote")), b.Shot("03-sent-de"))
	if q := b.Text("#msg-3 .quote"); q != "Ist Paket 4711 schon unterwegs?" {
		t.Errorf("quote above the reply %q", q)
	}
	checkQuotedBody(t, waitSent(t, emu, 1)[0].Body, first)

	b.Run("english phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/lang/en?next=/sessions/"+id),
		chromedp.WaitVisible(chromedp.CSS("#quote-2")))
	if l := b.Text("#quote-2"); l != "Reply to…" {
		t.Errorf("link %q", l)
	}
	b.Run("pick quote en", browsertest.Click("#quote-2"), chromedp.WaitVisible(chromedp.CSS("#reply-quote")), b.Shot("04-quoting-en-phone"))
	if q := b.Text("#reply-quote"); !strings.Contains(q, "Your reply quotes this message:") || !strings.Contains(q, "Und wann kommt es?") {
		t.Errorf("reply quote %q", q)
	}
	b.Run("send en", browsertest.TypeIn("#reply-text", "Tomorrow morning."), browsertest.Click("#session-reply"),
		chromedp.WaitVisible(chromedp.CSS("#msg-4 .quote")), b.Shot("05-sent-en-phone"))
	sent := waitSent(t, emu, 2)
	if q := b.Text("#msg-4 .quote"); q != "Und wann kommt es?" {
		t.Errorf("quote above the reply %q", q)
	}
	checkQuotedBody(t, sent[1].Body, second)
}
