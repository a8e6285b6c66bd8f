package web

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeTelegram is the bot as the page sees it; the real channel and its
// emulator are tested in drivers/telegram and the daemon test.
type fakeTelegram struct {
	st      TelegramStatus
	testErr error
}

func (f *fakeTelegram) TelegramStatus(context.Context) TelegramStatus { return f.st }
func (f *fakeTelegram) TestTelegram(context.Context) (string, error) {
	if f.testErr != nil {
		return "", f.testErr
	}
	return "shop_service_bot", nil
}

func TestTelegramPageStatusLinkAndTest(t *testing.T) {
	t.Parallel()
	tg := &fakeTelegram{st: TelegramStatus{Channel: "telegram", Mode: "polling", Bot: "shop_service_bot",
		LastOK: time.Now(), Received: 3, Sent: 2, Subscribers: 5, Blocked: 1,
		List: []TelegramSubscriber{{ChatID: 4711, Name: "Erika Muster", Username: "erika", Payload: "flyer-2026", First: time.Now(), Blocked: true}}}}
	env := newEnv(t, func(d *Deps) { d.Telegram = tg })
	c := env.client()
	c.setup("admin password")
	r := c.get("/telegram?start=flyer-2026")
	mustContain(t, r.body, `id="tg-bot">@shop_service_bot`, "long polling (getUpdates)",
		`href="https://t.me/shop_service_bot?start=flyer-2026"`, `id="tg-qr"`, "5 (of which 1 blocked the bot)", // netscope: expected link text, never dialled
		`<a href="/telegram" id="nav-telegram" class="active" aria-current="page">Telegram</a>`)
	mustContain(t, r.body, `<td><code>4711</code></td><td>Erika Muster (@erika)</td><td>flyer-2026</td>`, "blocked the bot</span>")
	// A bad start parameter is explained, not turned into a link.
	r = c.get("/telegram?start=" + url.QueryEscape("mit Leerzeichen"))
	mustContain(t, r.body, "Use at most 64 characters")
	if strings.Contains(r.body, `id="tg-deeplink"`) {
		t.Error("link made from a bad start parameter")
	}
	// Test connection, in German, with the reason when it fails.
	c.get("/lang/de")
	c.get("/telegram")
	tok := c.token(csrfRE)
	r = c.post("/telegram/test", url.Values{"csrf_token": {tok}})
	mustContain(t, r.body, "Telegram hat geantwortet: Der Token gehört zu @shop_service_bot.", "Long Polling (getUpdates)")
	tg.testErr = errors.New("telegram getMe: 401 Unauthorized")
	r = c.post("/telegram/test", url.Values{"csrf_token": {tok}})
	mustContain(t, r.body, "Telegram hat die Verbindung nicht angenommen: telegram getMe: 401 Unauthorized.")
	// The QR code as PNG for print.
	if r := c.get("/telegram/qr.png?start=flyer-2026"); r.code != 200 || !strings.HasPrefix(r.body, "\x89PNG") {
		t.Errorf("qr.png: %d", r.code)
	}
}

func TestTelegramPageWithoutBot(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	c := env.client()
	c.setup("admin password")
	mustContain(t, c.get("/telegram").body, `id="tg-none"`, "@BotFather")
}
