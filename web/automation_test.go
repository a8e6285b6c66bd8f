package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/rules"
)

// replies records automatic answers (the channels have their own tests).
type replies struct {
	mu   sync.Mutex
	sent []string
}

func (r *replies) Reply(_ context.Context, in message.Inbound, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, in.From+": "+text)
	return nil
}

func TestAutomationScreens(t *testing.T) {
	t.Parallel()
	var eng *rules.Engine
	rep := &replies{}
	env := newEnv(t, func(d *app.Deps) {
		cons, err := consent.New(consent.Config{Store: d.Store, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		eng, err = rules.New(rules.Config{Store: d.Store, Consent: cons, Replier: rep, Location: time.UTC, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		d.Rules = eng
	})
	admin := env.client()
	admin.setup("admin password")
	tok := admin.csrf("/automation")
	mustContain(t, admin.body, "No rules yet.", `id="rule-form"`)

	// Validation next to the fields.
	r := admin.post("/automation/rules", formVals("csrf_token", tok, "rule_name", "Öffnungszeiten", "match", "contains", "pattern", "", "action", "auto_answer", "answer", ""))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid rule: %d", r.code)
	}
	mustContain(t, r.body, "Enter a keyword or expression.", "Enter the answer text.")
	r = admin.post("/automation/rules", formVals("csrf_token", tok, "rule_name", "Öffnungszeiten", "match", "contains", "pattern", "offen",
		"action", "auto_answer", "answer", "Mo–Fr 9–17 Uhr"))
	if r.code != http.StatusSeeOther {
		t.Fatalf("save rule: %d %s", r.code, r.body)
	}
	mustContain(t, admin.get("/automation").body, "Rule saved.", "Öffnungszeiten", "answer automatically")

	// The test box says which rule fires, without sending anything.
	r = admin.post("/automation/test", formVals("csrf_token", tok, "test_text", "Wann habt ihr OFFEN?", "kind", "sms"))
	mustContain(t, r.body, `id="rule-test-result"`, "<strong>Öffnungszeiten</strong>")
	r = admin.post("/automation/test", formVals("csrf_token", tok, "test_text", "STOP", "kind", "whatsapp"))
	mustContain(t, r.body, "Opt-out (STOP)")
	r = admin.post("/automation/test", formVals("csrf_token", tok, "test_text", "Hallo", "kind", "sms"))
	mustContain(t, r.body, "No rule would fire.")
	rep.mu.Lock()
	if len(rep.sent) != 0 {
		t.Fatalf("the test box sent replies: %v", rep.sent)
	}
	rep.mu.Unlock()

	apiTok, _ := env.users.CreateToken(context.Background(), "admin", "api")
	r = admin.do("POST", "/api/v1/rules/test", strings.NewReader(`{"text":"offen?","kind":"sms"}`),
		map[string]string{"Authorization": "Bearer " + apiTok, "Content-Type": "application/json"})
	mustContain(t, r.body, `"name":"Öffnungszeiten"`)

	// A real inbound message shows in the log, searchable.
	if _, err := eng.Handle(context.Background(), message.Inbound{ID: "m1", Kind: message.SMS, Channel: "gsm", From: "+4915123456789",
		Text: "Seid ihr heute offen?", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	mustContain(t, admin.get("/automation?q=heute").body, "Seid ihr heute offen?", "+4915123456789")
	if strings.Contains(admin.get("/automation?q=nichtda").body, "Seid ihr heute offen?") {
		t.Fatal("search does not filter")
	}

	// Operators test rules but cannot change them.
	if err := env.users.Add(context.Background(), "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	op := env.client()
	op.login("olga", "operator password")
	optok := op.csrf("/automation")
	if strings.Contains(op.body, `id="rule-form"`) {
		t.Fatal("operator sees the rule form")
	}
	if r := op.post("/automation/rules", formVals("csrf_token", optok, "rule_name", "x", "match", "always", "action", "auto_answer", "answer", "x")); r.code != http.StatusForbidden {
		t.Fatalf("operator saves rule: %d", r.code)
	}
	list, _ := eng.Rules(context.Background())
	if len(list) != 1 {
		t.Fatalf("rules = %d", len(list))
	}
	r = admin.post("/automation/rules/"+list[0].ID+"/delete", formVals("csrf_token", tok))
	mustContain(t, r.body, `id="confirm-page"`, "Yes, delete this rule.")
	if list, _ := eng.Rules(context.Background()); len(list) != 1 {
		t.Fatal("rule deleted without confirmation")
	}
	r = admin.post("/automation/rules/"+list[0].ID+"/delete", formVals("csrf_token", tok, "confirm", "yes"))
	mustContain(t, admin.get(r.location).body, "Rule deleted.", "No rules yet.")
}
