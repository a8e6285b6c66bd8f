package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/shortlink"
)

// textChannel is an SMS channel that keeps what it was handed and reports
// each message delivered.
type textChannel struct {
	mu    sync.Mutex
	eng   *campaign.Engine
	texts map[string]string // number -> text
}

func (c *textChannel) Name() string       { return "gsm" }
func (c *textChannel) Kind() message.Kind { return message.SMS }
func (c *textChannel) MaxPerMinute() int  { return 0 }
func (c *textChannel) Senders() []string  { return []string{"sim1"} }
func (c *textChannel) Send(_ context.Context, m message.Outbound) error {
	c.mu.Lock()
	c.texts[m.To] = m.Text
	eng := c.eng
	c.mu.Unlock()
	go func() {
		_ = eng.HandleStatus(context.Background(), message.StatusEvent{ID: m.ID, Status: message.Delivered, At: time.Now()})
	}()
	return nil
}

func (c *textChannel) text(n string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.texts[n]
}

// withLinks runs an engine with short links on public (none: "").
func withLinks(t *testing.T, public string) (envOption, *textChannel, func() *campaign.Engine) {
	ch := &textChannel{texts: map[string]string{}}
	var eng *campaign.Engine
	opt := func(d *Deps) {
		chans := map[string]campaign.Channel{"gsm": ch}
		cfg := campaign.Config{Store: d.Store, Channels: chans, Logger: slog.New(slog.DiscardHandler),
			Location: time.UTC, Region: "DE", DNC: recipients.NewLists(d.Store)}
		if public != "" {
			links, err := shortlink.New(shortlink.Config{Store: d.Store, PublicURL: public})
			if err != nil {
				t.Fatal(err)
			}
			cfg.Links, d.ShortLinks = links, links
			d.Extra = map[string]http.Handler{shortlink.PathPrefix: links.Handler(shortlink.HandlerOptions{PerMinute: 60, Burst: 10})}
		}
		var err error
		if eng, err = campaign.New(cfg); err != nil {
			t.Fatal(err)
		}
		ch.eng = eng
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			<-done
		})
		d.Campaigns = EngineCampaigns(eng, chans)
	}
	return opt, ch, func() *campaign.Engine { return eng }
}

func TestShortLinkCampaignClicks(t *testing.T) {
	t.Parallel()
	opt, ch, engine := withLinks(t, "http://127.0.0.1:8080")
	env, _, op := newAPIEnv(t, opt)
	body := `{"name":"Sale","channel":"gsm","sender":"sim1","numbers":["0151 10000001","0151 10000002","0151 10000003"],` +
		`"text":"Heute -20 %: https://shop.example.de/sale?x=1","shorten_links":true,"send":"now"}` // netscope: never fetched
	var cd campaignAnswer
	op.ok("POST", "/campaigns", body, http.StatusCreated, &cd)
	waitState(t, engine(), cd.ID, campaign.Completed)
	text := ch.text("+4915110000002")
	links := shortlink.FindURLs(text)
	if len(links) != 1 || !strings.HasPrefix(links[0], "http://127.0.0.1:8080/s/") {
		t.Fatalf("sent %q", text)
	}
	if ch.text("+4915110000001") == text {
		t.Fatal("two recipients got the same link")
	}
	// The redirect needs no login and names nothing but the target.
	anon := env.client()
	path := strings.TrimPrefix(links[0], "http://127.0.0.1:8080")
	r := anon.get(path)
	if r.code != http.StatusFound || r.location != "https://shop.example.de/sale?x=1" { // netscope: never fetched
		t.Fatalf("redirect: %d %q", r.code, r.location)
	}
	anon.get(path)
	if r := anon.get("/s/AAAAAAAAAAAA"); r.code != http.StatusNotFound || strings.Contains(r.body, "Sale") {
		t.Fatalf("unknown key: %d %s", r.code, r.body)
	}
	var got CampaignDetail
	op.ok("GET", "/campaigns/"+cd.ID, "", http.StatusOK, &got)
	if got.Clicks == nil || got.Clicks.Clicks != 2 || got.Clicks.Clicked != 1 || got.ClickRate == nil || *got.ClickRate < 0.33 || *got.ClickRate > 0.34 {
		t.Fatalf("clicks %+v rate %v", got.Clicks, got.ClickRate)
	}
	// The portal shows the rate and the export a clicks column, in German.
	c := env.client()
	c.login("admin", "admin password")
	c.lang = "de"
	c.get("/lang/de")
	r = c.get("/campaigns/" + cd.ID)
	mustContain(t, r.body, "Klickrate", "33.3 % (1 Empfänger haben geklickt, 2 Klicks)", "Klicks pro Stunde")
	r = c.get("/campaigns/" + cd.ID + "/export.csv")
	lines := strings.Split(strings.TrimSpace(r.body), "\n")
	if !strings.HasSuffix(lines[0], ",Klicks") || !strings.HasSuffix(lines[2], ",2") || !strings.HasSuffix(lines[1], ",0") {
		t.Fatalf("export:\n%s", r.body)
	}
	// The SMS counter knows the short link's length.
	r = c.get("/campaigns/new")
	mustContain(t, r.body, `data-shortlink="http://127.0.0.1:8080/s/xxxxxxxxxxxx"`, "Links kürzen und Klicks zählen")
}

func TestShortLinksDisabledWithoutPublicURL(t *testing.T) {
	t.Parallel()
	opt, _, _ := withLinks(t, "")
	env, _, op := newAPIEnv(t, opt)
	c := env.client()
	c.login("admin", "admin password")
	tok := c.csrf("/campaigns/new")
	mustContain(t, c.body, `name="shorten_links" id="shorten_links" value="1"  disabled`, "Short links need the gateway&#39;s public URL (http.public_url")
	r := c.postMultipart("/campaigns/new", multipartForm{fields: map[string]string{"csrf_token": tok, "name": "x", "sender": "gsm|sim1",
		"numbers": "0151 10000001", "text": "https://a.example.org", "send": "draft", "shorten_links": "1"}}) // netscope: never fetched
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("form: %d", r.code)
	}
	mustContain(t, r.body, "Short links are not available: set http.public_url")
	wantAPIError(t, op.call("POST", "/campaigns", `{"name":"x","channel":"gsm","sender":"sim1","numbers":["0151 10000001"],"text":"https://a.example.org","shorten_links":true}`), // netscope: never fetched
		http.StatusUnprocessableEntity, "invalid", "form")
	if r := c.get("/s/AAAAAAAAAAAA"); r.code != http.StatusNotFound {
		t.Fatalf("redirect without links: %d", r.code)
	}
}

// A WhatsApp campaign with an SMS fallback, through the portal form: the
// fields are checked in the user's language, the fallback is stored and
// shown, the recipient table names the channel.
func TestPortalWhatsAppFallbackForm(t *testing.T) {
	t.Parallel()
	tpls := templateList{{Name: "info", Language: "de", Status: "APPROVED", Category: "UTILITY", Body: "Hallo!"}}
	wa := &waChannel{}
	sms := &textChannel{texts: map[string]string{}}
	var eng *campaign.Engine
	env := newEnv(t, func(d *Deps) {
		chans := map[string]campaign.Channel{"wa": wa, "gsm": sms}
		var err error
		eng, err = campaign.New(campaign.Config{Store: d.Store, Channels: chans, Logger: slog.New(slog.DiscardHandler),
			Location: time.UTC, Region: "DE", Templates: tpls})
		if err != nil {
			t.Fatal(err)
		}
		wa.mu.Lock()
		wa.eng = eng
		wa.mu.Unlock()
		sms.eng = eng
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		d.Campaigns = EngineCampaigns(eng, chans)
		d.Templates = tpls
	})
	c := env.client()
	c.setup("admin password")
	c.lang = "de"
	c.get("/lang/de")
	tok := c.csrf("/campaigns/new")
	mustContain(t, c.body, "SMS-Ersatz", `name="fallback_sender"`, `value="gsm|sim1"`, "Meta-Fehler 131026")
	f := map[string]string{"csrf_token": tok, "name": "WA", "sender": "wa|", "numbers": "+4915123456789", "send": "now",
		"template": "info|de", "fallback_sender": "gsm|sim1", "fallback_after": "viel"}
	r := c.postMultipart("/campaigns/new", multipartForm{fields: f})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("bad fallback: %d", r.code)
	}
	mustContain(t, r.body, "Der SMS-Ersatz braucht einen Text.", "Geben Sie die Minuten als Zahl von 0 bis 10080 ein.")
	f["fallback_text"], f["fallback_after"] = "Bitte per SMS", "30"
	r = c.postMultipart("/campaigns/new", multipartForm{fields: f})
	m := idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	got := waitState(t, eng, m[1], campaign.Completed)
	if fb := got.Spec.Fallback; fb == nil || fb.Channel != "gsm" || fb.Sender != "sim1" || fb.Text != "Bitte per SMS" || fb.After != 30 {
		t.Fatalf("stored fallback %+v", fb)
	}
	r = c.get("/campaigns/" + m[1])
	mustContain(t, r.body, "SMS-Ersatz", "nach 30 Minuten", "1 per WhatsApp, 0 per SMS", "Erreicht über", "<td>WhatsApp</td>")
	// The edit form of a draft copy shows the stored fallback.
	r = c.post("/campaigns/"+m[1]+"/duplicate", formVals("csrf_token", tok))
	dup := idRE.FindStringSubmatch(r.location)
	if dup == nil {
		t.Fatalf("duplicate: %d", r.code)
	}
	mustContain(t, c.get("/campaigns/"+dup[1]+"/edit").body, `value="gsm|sim1" selected`, "Bitte per SMS", `value="30"`)
}
