package web

import (
	"context"
	"html"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	chat "github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/web/app"
)

// textBlockEnv is a portal with a chat session manager that has two text
// blocks and one SMS channel whose sends are recorded (sentOut).
func textBlockEnv(t *testing.T) (env *testEnv, mgr *chat.Manager, sentOut func() []message.Outbound) {
	t.Helper()
	var sentMu sync.Mutex
	var sent []message.Outbound
	env = newEnv(t, func(d *app.Deps) {
		var err error
		mgr, err = chat.New(chat.Config{Store: d.Store, Deliverer: &phones{got: map[string]int{}}, Logger: slog.New(slog.DiscardHandler),
			TextBlocks: []chat.TextBlock{
				{Name: "greeting", Text: "Guten Tag"},
				{Name: "hours", Text: "Hallo {name}, wir sind Mo–Fr 9–17 Uhr für Sie da (Ihre Nummer: {number}). Ihr {agent}"},
			},
			Channels: []chat.Channel{{Name: "gsm", Kind: message.SMS, Route: chat.Target{Kind: "extension", ID: "201"},
				Sender: chat.SenderFunc(func(_ context.Context, out message.Outbound) error {
					sentMu.Lock()
					defer sentMu.Unlock()
					sent = append(sent, out)
					return nil
				})}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- mgr.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		d.Sessions = mgr
	})
	return env, mgr, func() []message.Outbound {
		sentMu.Lock()
		defer sentMu.Unlock()
		return append([]message.Outbound(nil), sent...)
	}
}

// textBlockSession opens a session from +4915123456789 and returns its id.
func textBlockSession(t *testing.T, mgr *chat.Manager) string {
	t.Helper()
	if err := mgr.Inbound(context.Background(), message.Inbound{ID: "in-1", Kind: message.SMS, Channel: "gsm", Receiver: "+4930123",
		From: "+4915123456789", Text: "Wann haben Sie geöffnet?", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	list, err := mgr.List(true, 0)
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions = %v, %v", list, err)
	}
	return list[0].ID
}

// The reply box's text-block picker: the admin's blocks
// (sip.sessions.text_blocks) are offered; "Insert" puts the block, filled
// in by gateway/session for this contact and portal user, after the text
// typed so far, and sends nothing; an unknown block is said in the user's
// language and keeps the typed text; the reply then goes out as shown.
func TestSessionTextBlockPicker(t *testing.T) {
	t.Parallel()
	env, mgr, sentOut := textBlockEnv(t)
	c := env.client()
	c.setup("admin password")
	id := textBlockSession(t, mgr)
	tok := c.csrf("/sessions/" + id)
	mustContain(t, c.body, `data-refresh="10000"`, `id="text-block"`, `<option value="greeting">greeting</option>`, `<option value="hours">hours</option>`, ">Insert</button>")

	r := c.post("/sessions/"+id+"/textblock", formVals("csrf_token", tok, "text", "Danke für Ihre Frage.", "block", "hours"))
	if r.code != http.StatusOK {
		t.Fatalf("insert: %d\n%s", r.code, r.body)
	}
	if strings.Contains(r.body, "data-refresh") {
		t.Fatal("the page with the inserted block reloads itself (posting again)")
	}
	// No name is known, so {name} is the number; {agent} is the portal user.
	want := "Danke für Ihre Frage.\nHallo +4915123456789, wir sind Mo–Fr 9–17 Uhr für Sie da (Ihre Nummer: +4915123456789). Ihr admin"
	mustContain(t, r.body, `required data-counter="reply-counter">`+html.EscapeString(want)+`</textarea>`, `<option value="hours" selected>`)
	// The phone's "/t 2" is expanded by the same function: the same text.
	sess, err := mgr.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	phone, err := mgr.ExpandTextBlock("2", sess, "admin")
	if err != nil || !strings.HasSuffix(want, "\n"+phone) {
		t.Fatalf("phone expansion %q, %v; portal inserted %q", phone, err, want)
	}
	if n := len(sentOut()); n != 0 {
		t.Fatalf("inserting a block sent %d messages", n)
	}

	// An unknown block (e.g. removed meanwhile), in German: said, and the
	// typed text stays.
	c.lang = "de"
	c.get("/lang/de")
	r = c.post("/sessions/"+id+"/textblock", formVals("csrf_token", tok, "text", "Mein Entwurf", "block", "gone"))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("unknown block: %d", r.code)
	}
	mustContain(t, r.body, "Diesen Textblock gibt es nicht (mehr)", ">Mein Entwurf</textarea>", ">Einfügen</button>")

	// Without the CSRF token nothing happens.
	if r = c.post("/sessions/"+id+"/textblock", formVals("text", "x", "block", "hours")); r.code == http.StatusOK {
		t.Fatalf("insert without CSRF token: %d", r.code)
	}

	// The reply goes out as inserted.
	c.lang = "en"
	c.get("/lang/en")
	r = c.post("/sessions/"+id+"/reply", formVals("csrf_token", tok, "text", want))
	if r.code != http.StatusSeeOther {
		t.Fatalf("reply: %d", r.code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got string
		if sent := sentOut(); len(sent) == 1 {
			got = sent[0].Text
		}
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sent %q, want %q", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
