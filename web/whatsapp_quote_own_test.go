package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/message"
	chat "github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/web/app"
)

// sessionInbox hands the channel's inbound messages to the session
// manager, as the daemon's inbox does.
type sessionInbox struct{ mgr atomic.Pointer[chat.Manager] }

func (s *sessionInbox) Accept(ctx context.Context, in message.Inbound) error {
	return s.mgr.Load().Inbound(ctx, in)
}

// A customer quotes one of pbxgate's own replies: the reply keeps the
// wamid Meta (the emulator) returned for it, so the customer's message —
// a webhook in the shape of Meta's text-message example
// (testdata/webhooks/text_message.json) with the context object of
// Meta's reply examples (button_message.json: context.from, context.id)
// — shows the quoted reply's text, not "quotes a message not shown here".
// The session's channel is the *whatsapp.Channel itself, as in the daemon.
func TestWhatsAppCustomerQuotesOwnReply(t *testing.T) {
	t.Parallel()
	emu := waemu.New(waemu.Options{})
	emuSrv := httptest.NewServer(emu)
	t.Cleanup(emuSrv.Close)
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	eo := emu.Options()
	inbox := &sessionInbox{}
	ch, err := whatsapp.New(whatsapp.Options{BaseURL: emuSrv.URL, APIVersion: "v23.0",
		PhoneNumberID: eo.PhoneNumberID, BusinessAccountID: eo.WABAID, Token: eo.Token, AppSecret: eo.AppSecret,
		VerifyToken: "verify", RequestTimeout: 30 * time.Second, Store: st, Inbox: inbox, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { emu.Run(ctx); done <- struct{}{} }()
	go func() { ch.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done; st.Close() })
	var mgr *chat.Manager
	env := newEnv(t, func(d *app.Deps) {
		var err error
		mgr, err = chat.New(chat.Config{Store: d.Store, Deliverer: &phones{got: map[string]int{}}, Logger: slog.New(slog.DiscardHandler),
			Channels: []chat.Channel{{Name: "whatsapp", Kind: message.WhatsApp, Route: chat.Target{Kind: "extension", ID: "201"}, Sender: ch}}})
		if err != nil {
			t.Fatal(err)
		}
		mctx, mcancel := context.WithCancel(context.Background())
		mdone := make(chan error, 1)
		go func() { mdone <- mgr.Run(mctx) }()
		t.Cleanup(func() { mcancel(); <-mdone })
		inbox.mgr.Store(mgr)
		d.Sessions = mgr
		d.WhatsApp = &app.WhatsAppSetup{WebhookPath: whatsapp.WebhookPath, Account: app.NewWhatsAppAccount(ch)}
		d.Extra = map[string]http.Handler{whatsapp.WebhookPath: ch.Webhook()}
	})
	emu.SetCallbackURL(env.srv.URL + whatsapp.WebhookPath)

	// Meta's example customer (wa_id 16505551234) writes first (through
	// the emulator, which opens the 24-hour window).
	const customer = "16505551234"
	if _, err := emu.Inject(ctx, waemu.Inbound{From: customer, Name: "Sheena Nelson", Type: "text", Text: "Does it come in another color?"}); err != nil {
		t.Fatal(err)
	}
	var id string
	waitUntil(t, func() bool {
		list, _ := mgr.List(true, 0)
		if len(list) == 1 {
			id = list[0].ID
		}
		return id != ""
	})
	c := env.client()
	c.setup("a safe new password")
	tok := c.csrf("/sessions/" + id)
	const reply = "Yes: blue, red and black."
	if r := c.post("/sessions/"+id+"/reply", formVals("csrf_token", tok, "text", reply)); r.code != http.StatusSeeOther {
		t.Fatalf("reply: %d %s", r.code, r.body)
	}
	// The wamid the emulator returned is kept on the reply's entry.
	var wamid string
	waitUntil(t, func() bool {
		log, _ := mgr.Log(id)
		for _, e := range log {
			if e.Dir == chat.Out && e.Text == reply {
				wamid = e.ChannelID
			}
		}
		return wamid != ""
	})
	sent := emu.Sent()
	if len(sent) != 1 || sent[0].WAMID != wamid {
		t.Fatalf("kept %q, the emulator sent %+v", wamid, sent)
	}

	// The customer quotes that reply.
	raw, err := os.ReadFile("../drivers/whatsapp/testdata/webhooks/text_message.json")
	if err != nil {
		t.Fatal(err)
	}
	var n map[string]any
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatal(err)
	}
	msg := n["entry"].([]any)[0].(map[string]any)["changes"].([]any)[0].(map[string]any)["value"].(map[string]any)["messages"].([]any)[0].(map[string]any)
	msg["context"] = map[string]any{"from": eo.DisplayPhoneNumber, "id": wamid}
	msg["id"] = "wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUJDREVGMDEyMzQ1Njc4OUFCAA=="
	msg["text"] = map[string]any{"body": "The blue one, please."}
	msg["timestamp"] = strconv.FormatInt(time.Now().Unix(), 10)
	body, _ := json.Marshal(n)
	mac := hmac.New(sha256.New, []byte(eo.AppSecret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, env.srv.URL+whatsapp.WebhookPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(whatsapp.SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %s", resp.Status)
	}
	waitUntil(t, func() bool { log, _ := mgr.Log(id); return len(log) == 3 })
	for lang, unknown := range map[string]string{"en": "quotes a message not shown here", "de": "zitiert eine Nachricht, die hier nicht angezeigt wird"} {
		c.get("/lang/" + lang + "?next=/")
		page := html.UnescapeString(c.get("/sessions/" + id).body)
		if strings.Contains(page, unknown) {
			t.Errorf("%s: the quote of pbxgate's reply is shown as unknown", lang)
		}
		mustContain(t, page, ">"+reply+"</blockquote><div class=\"bubble\">The blue one, please.")
	}
}

// waitUntil polls cond for up to 20 seconds.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
