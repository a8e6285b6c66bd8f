package web

import (
	"net/http"
	"strings"
	"testing"
)

// TestSessionModeOnlyWithPBX: without the PBX connection the campaign form
// offers no session mode; a form that asks for it anyway is refused at
// the field in the user's language (not with the engine's English error
// at the top), and nothing is created.
func TestSessionModeOnlyWithPBX(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, _ := withEngine(t, &env)
	env = newEnv(t, opt)
	c := env.client()
	c.setup("admin password")
	c.get("/lang/de")
	tok := c.csrf("/campaigns/new")
	for _, absent := range []string{`id="mode-session"`, `id="target_id"`, `id="send-mode"`} {
		if strings.Contains(c.body, absent) {
			t.Fatalf("the form offers %s without a PBX", absent)
		}
	}
	r := c.postMultipart("/campaigns/new", multipartForm{fields: map[string]string{
		"csrf_token": tok, "name": "Sitzung", "sender": "gsm|sim1", "numbers": "+4915112345678", "text": "Hallo",
		"send": "now", "mode": "session", "target_kind": "queue", "target_id": "support"}})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("session mode without a PBX: %d", r.code)
	}
	mustContain(t, r.body, "gibt es nur mit einer PBX-Verbindung")
	if strings.Contains(r.body, "needs the PBX") || strings.Contains(r.body, "invalid campaign") {
		t.Fatalf("the engine's English error reached the page:\n%s", r.body)
	}
	api := env.client()
	tokAPI, err := env.users.CreateToken(t.Context(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(listIDs(t, api, tokAPI)); n != 0 {
		t.Fatalf("%d campaigns after the refusal", n)
	}
}
