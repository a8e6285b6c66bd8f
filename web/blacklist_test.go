package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/consent"
)

func TestBlacklistScreen(t *testing.T) {
	t.Parallel()
	var cons *consent.Consent
	env := newEnv(t, func(d *app.Deps) {
		var err error
		if cons, err = consent.New(consent.Config{Store: d.Store, Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatal(err)
		}
		d.Consent = cons
	})
	admin := env.client()
	admin.setup("admin password")
	ctx := context.Background()
	if err := cons.OptOut(ctx, "+4915123456789", "STOP", "gsm"); err != nil {
		t.Fatal(err)
	}
	tok := admin.csrf("/blacklist")
	mustContain(t, admin.body, "No blocked numbers.", "4915123456789", "STOP")

	r := admin.post("/blacklist", formVals("csrf_token", tok, "entry", "", "direction", "both"))
	mustContain(t, r.body, "Enter a number or prefix.")
	r = admin.post("/blacklist", formVals("csrf_token", tok, "entry", "+49900*", "direction", "send", "reason", "Mehrwertdienste", "days", "30"))
	if r.code != http.StatusSeeOther {
		t.Fatalf("block prefix: %d %s", r.code, r.body)
	}
	if reason, blocked := cons.SendBlacklisted(ctx, "+499001234567"); !blocked {
		t.Fatalf("prefix not blocked (%q)", reason)
	}
	r = admin.get("/blacklist")
	mustContain(t, r.body, "Blocked.", "+49900*", "sending only", "Mehrwertdienste")
	if strings.Contains(r.body, "<td>permanent</td>") {
		t.Fatal("a 30-day block shows as permanent")
	}
	// Operators see but cannot change the list.
	if err := env.users.Add(ctx, "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	op := env.client()
	op.login("olga", "operator password")
	optok := op.csrf("/blacklist")
	if r := op.post("/blacklist", formVals("csrf_token", optok, "entry", "+4917012345678")); r.code != http.StatusForbidden {
		t.Fatalf("operator blocks: %d", r.code)
	}
	id := cons.Blacklist(ctx)[0].ID
	r = admin.post("/blacklist/"+id+"/delete", formVals("csrf_token", tok))
	mustContain(t, r.body, `id="confirm-page"`, "Yes, remove this entry from the blacklist.")
	if len(cons.Blacklist(ctx)) != 1 {
		t.Fatal("unblocked without confirmation")
	}
	r = admin.post("/blacklist/"+id+"/delete", formVals("csrf_token", tok, "confirm", "yes"))
	mustContain(t, admin.get(r.location).body, "Unblocked.", "No blocked numbers.")
}
