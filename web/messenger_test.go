package web

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeMeta is a Page or Instagram account as the page sees it; the real
// channel and its emulator are tested in drivers/metamsg and the daemon
// test.
type fakeMeta struct {
	st      MetaStatus
	testErr error
}

func (f *fakeMeta) MetaStatus(context.Context) MetaStatus { return f.st }
func (f *fakeMeta) TestMeta(context.Context) (string, error) {
	if f.testErr != nil {
		return "", f.testErr
	}
	return f.st.Name + " (" + f.st.AccountID + ")", nil
}

func TestMessengerPageStatusLinkAndTest(t *testing.T) {
	t.Parallel()
	fb := &fakeMeta{st: MetaStatus{Platform: "messenger", Channel: "messenger", AccountID: "682498302938465", Name: "Paketshop Muster",
		Username: "paketshop.muster", WebhookURL: "https://box.example.org/webhooks/messenger", LastOK: time.Now(), Received: 3, Sent: 2, // netscope: shown text, never dialled
		Subscribers: 5, Blocked: 1, HumanAgent: true,
		List: []MetaSubscriber{{Address: "fb1254477777772919", Payload: "flyer-2026", First: time.Now(), LastIn: time.Now(), Blocked: true}}}}
	env := newEnv(t, func(d *Deps) { d.Messenger = fb })
	c := env.client()
	c.setup("admin password")
	r := c.get("/messenger?ref=flyer-2026")
	mustContain(t, r.body, `id="meta-account">Paketshop Muster (682498302938465)`, "<code>https://box.example.org/webhooks/messenger</code>", // netscope: a public URL shown on the page, never dialled
		`href="https://m.me/paketshop.muster?ref=flyer-2026"`, `id="meta-qr"`, "5 (of which 1 blocked)", // netscope: expected link text, never dialled
		"agents&#39; replies up to 7 days (HUMAN_AGENT tag)",
		`<a href="/messenger" id="nav-messenger" class="active" aria-current="page">Messenger</a>`,
		`<td><code>fb1254477777772919</code></td><td>flyer-2026</td>`, "blocked the page</span>")
	// A bad ref is explained, not turned into a link.
	r = c.get("/messenger?ref=" + url.QueryEscape("mit Leerzeichen"))
	mustContain(t, r.body, "Use at most 250 characters")
	if strings.Contains(r.body, `id="meta-deeplink"`) {
		t.Error("link made from a bad ref")
	}
	// Test connection, in German, with the reason when it fails.
	c.get("/lang/de")
	c.get("/messenger")
	tok := c.token(csrfRE)
	r = c.post("/messenger/test", url.Values{"csrf_token": {tok}})
	mustContain(t, r.body, "Meta hat geantwortet: Der Token gehört zu Paketshop Muster (682498302938465).", "Facebook-Seite")
	fb.testErr = errors.New("graph api: code 190: Invalid OAuth access token")
	r = c.post("/messenger/test", url.Values{"csrf_token": {tok}})
	mustContain(t, r.body, "Meta hat die Verbindung nicht angenommen: graph api: code 190: Invalid OAuth access token.")
	if r := c.get("/messenger/qr.png?ref=flyer-2026"); r.code != 200 || !strings.HasPrefix(r.body, "\x89PNG") {
		t.Errorf("qr.png: %d", r.code)
	}
}

func TestInstagramPageAndNone(t *testing.T) {
	t.Parallel()
	ig := &fakeMeta{st: MetaStatus{Platform: "instagram", Channel: "instagram", AccountID: "17841400000000001", Username: "paketshop"}}
	env := newEnv(t, func(d *Deps) { d.Instagram = ig })
	c := env.client()
	c.setup("admin password")
	r := c.get("/instagram")
	mustContain(t, r.body, `href="https://ig.me/m/paketshop"`, "Instagram account", // netscope: expected link text, never dialled
		"no http.public_url", "24 hours after the person&#39;s last message")
	// No Page: the Messenger page says how to set one up.
	mustContain(t, c.get("/messenger").body, `id="meta-none"`, "docs/messenger.md")
	if r := c.get("/messenger/qr.png"); r.code != 404 {
		t.Errorf("qr.png without a Page: %d", r.code)
	}
}
