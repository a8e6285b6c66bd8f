package web

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeViber and fakeVK are the channels as the pages see them; the real
// channels and their emulators are tested in drivers/viber, drivers/vk
// and the daemon tests.
type fakeViber struct {
	st      ViberStatus
	testErr error
}

func (f *fakeViber) ViberStatus(context.Context) ViberStatus { return f.st }
func (f *fakeViber) TestViber(context.Context) (string, error) {
	if f.testErr != nil {
		return "", f.testErr
	}
	return "Shop Service", nil
}

type fakeVK struct {
	st      VKStatus
	testErr error
}

func (f *fakeVK) VKStatus(context.Context) VKStatus { return f.st }
func (f *fakeVK) TestVK(context.Context) (string, error) {
	if f.testErr != nil {
		return "", f.testErr
	}
	return "Shop Service", nil
}

func TestViberPageStatusLinkAndTest(t *testing.T) {
	t.Parallel()
	vb := &fakeViber{st: ViberStatus{Channel: "viber", Mode: "webhook", Bot: "Shop Service", URI: "shopservice",
		WebhookURL: "https://box.example.net/webhooks/viber", LastOK: time.Now(), Received: 3, Sent: 2, Subscribers: 4, Gone: 1, // netscope: page text, never dialled
		List: []ViberSubscriber{{UserID: "01234567890A=", Name: "Erika Muster", Country: "DE", Context: "flyer-2026", First: time.Now(), Unsubscribed: true}}}}
	env := newEnv(t, func(d *Deps) { d.Viber = vb })
	c := env.client()
	c.setup("admin password")
	r := c.get("/viber?context=flyer-2026")
	mustContain(t, r.body, `id="vb-bot">Shop Service`, "webhook (signed callbacks)", "4 subscribed (1 unsubscribed)",
		`href="viber://pa?chatURI=shopservice&amp;context=flyer-2026"`, `id="vb-qr"`,
		`<a href="/viber" id="nav-viber" class="active" aria-current="page">Viber</a>`,
		`<td><code>01234567890A=</code></td><td>Erika Muster (DE)</td><td>flyer-2026</td>`, "unsubscribed</span>")
	r = c.get("/viber?context=" + url.QueryEscape("mit Leerzeichen"))
	mustContain(t, r.body, "Use at most 64 characters")
	if strings.Contains(r.body, `id="vb-deeplink"`) {
		t.Error("link made from a bad context")
	}
	c.get("/lang/de")
	c.get("/viber")
	tok := c.token(csrfRE)
	r = c.post("/viber/test", url.Values{"csrf_token": {tok}})
	mustContain(t, r.body, "Viber hat geantwortet: Der Token gehört zum Bot Shop Service.", "Webhook (signierte Callbacks)")
	vb.testErr = errors.New("viber get_account_info: status 2 invalidAuthToken")
	r = c.post("/viber/test", url.Values{"csrf_token": {tok}})
	mustContain(t, r.body, "Viber hat die Verbindung nicht angenommen: viber get_account_info: status 2 invalidAuthToken.")
	if r := c.get("/viber/qr.png?context=flyer-2026"); r.code != 200 || !strings.HasPrefix(r.body, "\x89PNG") {
		t.Errorf("qr.png: %d", r.code)
	}
	// Without a public URL the page says the bot cannot receive.
	vb.st.Mode, vb.st.WebhookURL = "send-only", ""
	c.get("/lang/en")
	mustContain(t, c.get("/viber").body, "Viber delivers messages only by webhook: set http.public_url")
}

func TestVKPageStatusLinkAndTest(t *testing.T) {
	t.Parallel()
	vk := &fakeVK{st: VKStatus{Channel: "vk", Mode: "longpoll", GroupID: 229000001, Group: "Shop Service", ScreenName: "shop_service",
		LastOK: time.Now(), Received: 3, Sent: 2, Subscribers: 4, Denied: 1,
		List: []VKSubscriber{{UserID: 123456, Key: "flyer-2026", First: time.Now(), Denied: true}}}}
	env := newEnv(t, func(d *Deps) { d.VK = vk })
	c := env.client()
	c.setup("admin password")
	r := c.get("/vk?ref=flyer-2026")
	mustContain(t, r.body, `id="vk-group">Shop Service (club229000001)`, "Bots Long Poll API", "4 allow messages (1 denied them)",
		`href="https://vk.me/shop_service?ref=flyer-2026"`, `id="vk-qr"`, // netscope: expected link text, never dialled
		`<a href="/vk" id="nav-vk" class="active" aria-current="page">VK</a>`, "denied messages</span>")
	c.get("/lang/de")
	c.get("/vk")
	tok := c.token(csrfRE)
	r = c.post("/vk/test", url.Values{"csrf_token": {tok}})
	mustContain(t, r.body, "VK hat geantwortet: Der Schlüssel gehört zur Community Shop Service.")
	vk.testErr = errors.New("vk groups.getById: error 5: User authorization failed")
	r = c.post("/vk/test", url.Values{"csrf_token": {tok}})
	mustContain(t, r.body, "VK hat die Verbindung nicht angenommen: vk groups.getById: error 5: User authorization failed.")
	if r := c.get("/vk/qr.png?ref=" + url.QueryEscape("a b")); r.code != 400 {
		t.Errorf("qr.png with a bad ref: %d", r.code)
	}
}

func TestViberVKPagesWithoutChannels(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	c := env.client()
	c.setup("admin password")
	mustContain(t, c.get("/viber").body, `id="vb-none"`, "docs/viber.md")
	mustContain(t, c.get("/vk").body, `id="vk-none"`, "docs/vk.md")
}
