package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// templateList is both the engine's TemplateCatalog and the portal's
// TemplateSource, as the daemon's adapter over whatsapp.Templates is.
type templateList []campaign.TemplateInfo

func (l templateList) Template(_ context.Context, name, lang string) (campaign.TemplateInfo, error) {
	for _, t := range l {
		if t.Name == name && t.Language == lang {
			return t, nil
		}
	}
	return campaign.TemplateInfo{}, errors.New("no such template")
}

func (l templateList) ListTemplates(context.Context) ([]campaign.TemplateInfo, error) { return l, nil }

// waChannel records template sends and reports them delivered, as the
// webhook would (the WhatsApp client has its own tests against the Cloud API
// emulator).
type waChannel struct {
	mu   sync.Mutex
	eng  *campaign.Engine
	sent []campaign.TemplateMessage
}

func (c *waChannel) Name() string { return "wa" }

func (c *waChannel) Kind() message.Kind { return message.WhatsApp }

func (c *waChannel) MaxPerMinute() int { return 0 }

func (c *waChannel) Send(context.Context, message.Outbound) error {
	return errors.New("free text is not allowed")
}

func (c *waChannel) SendTemplate(_ context.Context, m message.Outbound, t campaign.TemplateMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, t)
	eng := c.eng
	go func() {
		_ = eng.HandleStatus(context.Background(), message.StatusEvent{ID: m.ID, Status: message.Delivered, At: time.Now()})
	}()
	return nil
}

func TestWhatsAppTemplateCampaign(t *testing.T) {
	t.Parallel()
	tpls := templateList{
		{Name: "angebot", Language: "de", Status: "APPROVED", Category: "MARKETING", Variables: []string{"1", "2"}, Body: "Hallo {{1}}, heute {{2}} Rabatt!"},
		{Name: "filiale", Language: "de", Status: "APPROVED", Category: "UTILITY", Header: "LOCATION", Body: "Besuchen Sie uns."},
		{Name: "entwurf", Language: "de", Status: "PENDING", Body: "nicht freigegeben"},
	}
	ch := &waChannel{}
	var syncs atomic.Int32
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
		d.SyncTemplates = func(context.Context) error { syncs.Add(1); return nil }
	})
	c := env.client()
	c.setup("admin password")
	tok := c.csrf("/campaigns/new")
	mustContain(t, c.body, `value="angebot|de"`, `value="filiale|de"`, `data-kind="whatsapp"`)
	if contains(c.body, "entwurf|de") {
		t.Fatal("a pending template is offered")
	}
	base := map[string]string{"csrf_token": tok, "name": "WA", "sender": "wa|", "numbers": "+4915123456789", "send": "now"}

	// "Load template" re-renders with the template's fields, no errors.
	f := copyMap(base, "template", "angebot|de", "load", "1")
	r := c.postMultipart("/campaigns/new", multipartForm{fields: f})
	if r.code != http.StatusOK || contains(r.body, `class="err"`) {
		t.Fatalf("load template: %d", r.code)
	}
	mustContain(t, r.body, "Value for {{1}}", "Hallo {{1}}, heute {{2}} Rabatt!")

	// Missing variable value: next to its field.
	f = copyMap(base, "template", "angebot|de", "var|angebot|de|1", "{{name}}")
	r = c.postMultipart("/campaigns/new", multipartForm{fields: f})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("missing var: %d", r.code)
	}
	mustContain(t, r.body, `id="var|angebot|de|2"`, "Enter a value.")
	// Location header needs a readable Maps URL and an address.
	f = copyMap(base, "template", "filiale|de", "maps|filiale|de", "https://example.com/nowhere") // netscope: a Maps URL parsed and refused
	r = c.postMultipart("/campaigns/new", multipartForm{fields: f})
	mustContain(t, r.body, "The Google Maps URL cannot be read", "Enter the address.")

	f = copyMap(base, "template", "angebot|de", "var|angebot|de|1", "Anna", "var|angebot|de|2", "20 %")
	r = c.postMultipart("/campaigns/new", multipartForm{fields: f})
	m := idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	waitState(t, eng, m[1], campaign.Completed)
	ch.mu.Lock()
	sent := append([]campaign.TemplateMessage(nil), ch.sent...)
	ch.mu.Unlock()
	if len(sent) != 1 || sent[0].Name != "angebot" || len(sent[0].Params) != 2 || sent[0].Params[0].Value != "Anna" {
		t.Fatalf("sent templates = %+v", sent)
	}
	mustContain(t, c.get("/campaigns/"+m[1]).body, "angebot (de)", "WhatsApp")

	// The WhatsApp page lists every template (pending too) and syncs.
	tok = c.csrf("/whatsapp")
	mustContain(t, c.body, `id="wa-templates"`, "entwurf", "PENDING")
	r = c.post("/whatsapp/sync", formVals("csrf_token", tok))
	if r.code != http.StatusSeeOther || syncs.Load() != 1 {
		t.Fatalf("sync: %d, %d calls", r.code, syncs.Load())
	}
	mustContain(t, c.get("/whatsapp").body, "Templates synchronised.")
}

func copyMap(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
