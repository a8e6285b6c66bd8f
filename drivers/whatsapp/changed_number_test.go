package whatsapp_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
)

// TestUserChangedNumberMovesConversation follows Meta's system-message
// example (testdata/webhooks/system_message.json: 16505551234 changed to
// 12195555358): afterwards the user's messages from the new number stay
// with the contact pbxgate knew (same conversation), and an answer to that
// contact goes to the new number with the service window carried over.
func TestUserChangedNumberMovesConversation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{emu: func(o *waemu.Options) { o.PairInterval = time.Millisecond },
		ch: func(o *whatsapp.Options) { o.PairInterval = time.Millisecond }})
	const oldID, newID = "16505551234", "12195555358"
	ctx := context.Background()
	if _, err := e.emu.Inject(ctx, waemu.Inbound{From: oldID, Name: "Sheena", Type: "text", Text: "Hallo"}); err != nil {
		t.Fatal(err)
	}
	e.sinks.waitFor(t, "first message", func() bool { return len(e.sinks.inbound) == 1 })
	if code := postSigned(t, e.hookSrv.URL+whatsapp.WebhookPath, e.opts.AppSecret, readTestdata(t, "webhooks/system_message.json")); code != http.StatusOK {
		t.Fatalf("system message: HTTP %d", code)
	}
	if ok, _ := e.ch.InWindow(newID); !ok {
		t.Error("the service window did not move to the new number")
	}
	if _, err := e.emu.Inject(ctx, waemu.Inbound{From: newID, Name: "Sheena", Type: "text", Text: "Neue Nummer"}); err != nil {
		t.Fatal(err)
	}
	e.sinks.waitFor(t, "message from the new number", func() bool { return len(e.sinks.inbound) == 2 })
	if got := e.sinks.inbound[1].From; got != oldID {
		t.Errorf("message from the new number has From %q, want the known contact %s", got, oldID)
	}
	if err := e.ch.SendText(ctx, "answer-1", "+"+oldID, "Danke, notiert"); err != nil {
		t.Fatal(err)
	}
	var to string
	for _, s := range e.emu.Sent() {
		if s.Callback == "answer-1" {
			to = s.To
		}
	}
	if to != newID {
		t.Errorf("answer to the old contact went to %q, want the new number %s", to, newID)
	}
}

// TestFallbackTextsInGerman: with Options.Language "de" the texts pbxgate
// shows in place of content it cannot show are German; Meta's shared-
// contact and unsupported-message examples (testdata/webhooks) as input.
func TestFallbackTextsInGerman(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{ch: func(o *whatsapp.Options) { o.Language = "de" }})
	hook := e.hookSrv.URL + whatsapp.WebhookPath
	for _, f := range []string{"webhooks/contact_sharing_message.json", "webhooks/unsupported_message.json"} {
		if code := postSigned(t, hook, e.opts.AppSecret, readTestdata(t, f)); code != http.StatusOK {
			t.Fatalf("%s: HTTP %d", f, code)
		}
	}
	e.sinks.waitFor(t, "two messages", func() bool { return len(e.sinks.inbound) == 2 })
	texts := map[string]bool{}
	for _, in := range e.sinks.inbound {
		texts[in.Text] = true
		if in.Text == "[shared contact]" || strings.HasPrefix(in.Text, "not supported") {
			t.Errorf("English fallback %q with language de", in.Text)
		}
	}
	if !texts["[geteilter Kontakt]"] {
		t.Errorf("no German shared-contact text in %v", texts)
	}
	var unsupported bool
	for s := range texts {
		unsupported = unsupported || strings.HasPrefix(s, "von WhatsApp nicht unterstützt: ")
	}
	if !unsupported {
		t.Errorf("no German unsupported text in %v", texts)
	}
}
