package whatsapp_test

import (
	"context"
	"net/http"
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
