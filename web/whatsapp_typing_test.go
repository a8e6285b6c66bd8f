package web

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/message"
	chat "github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/browsertest"
)

// typingEnv is the portal with a WhatsApp chat session: the real channel
// against the emulator, the gateway's session manager, and a message the
// customer wrote (a wamid the emulator knows this number received).
func typingEnv(t *testing.T) (*testEnv, *waemu.Server, string) {
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
	wamid, err := emu.Inject(ctx, waemu.Inbound{From: "4915112345077", Name: "Kim", Type: "text", Text: "Haben Sie heute offen?"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Inbound(ctx, message.Inbound{ID: wamid, Kind: message.WhatsApp, Channel: "whatsapp", Receiver: emu.Options().PhoneNumberID,
		From: "+4915112345077", Name: "Kim", Text: "Haben Sie heute offen?", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	list, err := mgr.List(true, 0)
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions %v %v", list, err)
	}
	return env, emu, list[0].ID
}

// Over HTTP: the reply box of a WhatsApp session carries the typing
// endpoint; posting it sends Meta's typing indicator (read receipt with
// typing_indicator, the shape of Meta's example, checked by the emulator)
// on the customer's last message once — a second post within
// whatsapp.TypingInterval sends nothing; without the CSRF token it is
// refused; an unknown session is 404.
func TestWhatsAppTypingEndpoint(t *testing.T) {
	t.Parallel()
	env, emu, id := typingEnv(t)
	c := env.client()
	c.setup("a safe new password")
	tok := c.csrf("/sessions/" + id)
	mustContain(t, c.body, `data-typing="/whatsapp/typing/`+id+`"`, `/static/whatsapp.js`)
	if r := c.do("POST", "/whatsapp/typing/"+id, nil, nil); r.code != http.StatusForbidden {
		t.Errorf("without CSRF: %d", r.code)
	}
	for range 2 {
		if r := c.do("POST", "/whatsapp/typing/"+id, nil, map[string]string{"X-CSRF-Token": tok}); r.code != http.StatusNoContent {
			t.Fatalf("typing: %d %s", r.code, r.body)
		}
	}
	if reads := emu.Reads(); len(reads) != 1 || !reads[0].Typing {
		t.Errorf("reads %+v, want one typing indicator", reads)
	}
	if r := c.do("POST", "/whatsapp/typing/nope", nil, map[string]string{"X-CSRF-Token": tok}); r.code != http.StatusNotFound {
		t.Errorf("unknown session: %d", r.code)
	}
}

// In Chromium (German, desktop and phone width): typing into the reply
// box of a WhatsApp session makes the customer see the typing indicator
// (the emulator receives Meta's read receipt with typing_indicator);
// further keystrokes do not send it again. Screenshots:
// testdata/artifacts/wa-typing-*.png.
func TestBrowserWhatsAppTypingIndicator(t *testing.T) {
	t.Parallel()
	env, emu, id := typingEnv(t)
	b := startBrowser(t, env, "wa-typing-", 120*time.Second)
	b.Run("session", chromedp.Navigate(env.srv.URL+"/sessions/"+id), chromedp.WaitVisible(chromedp.CSS("#reply-text")), b.Shot("01-session-desktop"))
	b.Run("type", browsertest.TypeIn("#reply-text", "Ja, bis 18 Uhr"))
	deadline := time.Now().Add(20 * time.Second)
	for len(emu.Reads()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no typing indicator reached the emulator")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Run("type more", browsertest.TypeIn("#reply-text", ", heute auch."), chromedp.EmulateViewport(390, 844), b.Shot("02-typing-phone"))
	if r := emu.Reads(); len(r) != 1 || !r[0].Typing {
		t.Errorf("reads %+v, want exactly one typing indicator", r)
	}
}
