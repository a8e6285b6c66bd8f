package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/api"
	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/drivers/forward"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/rules"
)

func TestAPIRules(t *testing.T) {
	t.Parallel()
	var eng *rules.Engine
	env, admin, op := newAPIEnv(t, func(d *app.Deps) {
		cons, err := consent.New(consent.Config{Store: d.Store, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		eng, err = rules.New(rules.Config{Store: d.Store, Consent: cons, Replier: &replies{}, Location: time.UTC,
			HTTP: forward.NewHTTP(forward.HTTPConfig{Timeout: 5 * time.Second}), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		d.Rules = eng
	})
	ctx := context.Background()
	rule := `{"name":"Öffnungszeiten","enabled":true,"keyword":"define","match":"contains","pattern":"offen",
		"kinds":["sms"],"window":{"start":"18:00","end":"08:00","wrap":true},"limit":{"count":1,"period":"24h"},
		"actions":[{"type":"auto_answer","text":"Mo–Fr 8–18 Uhr"},{"type":"http_forward","url":"http://127.0.0.1:9/hook","secret":"s3cret"}]}`

	// Admins only; the full model; the secret never comes back.
	wantAPIError(t, op.call("POST", "/rules", rule), http.StatusForbidden, "forbidden", "")
	var saved rules.Rule
	r := admin.ok("POST", "/rules", rule, http.StatusCreated, &saved)
	if saved.ID == "" || saved.Window == nil || !saved.Window.Wrap || saved.Limit.Count != 1 || len(saved.Actions) != 2 {
		t.Fatalf("saved: %s", r.body)
	}
	if strings.Contains(r.body, "s3cret") {
		t.Fatalf("the secret came back: %s", r.body)
	}
	if res := eng.Test(ctx, "Wann habt ihr offen?", "", message.SMS, time.Date(2026, 5, 4, 20, 0, 0, 0, time.UTC)); len(res.Hits) != 1 {
		t.Fatalf("the rule is not live: %+v", res)
	}
	if !env.auditHas("rule.save", "Öffnungszeiten") {
		t.Fatal("the rule is not in the audit log")
	}

	var got rules.Rule
	r = op.ok("GET", "/rules/"+saved.ID, "", http.StatusOK, &got)
	if got.Name != "Öffnungszeiten" || got.Actions[1].Secret != rules.SecretMask || strings.Contains(r.body, "s3cret") {
		t.Fatalf("get: %s", r.body)
	}
	wantAPIError(t, op.call("GET", "/rules/nope", ""), http.StatusNotFound, "not_found", "")

	// Validation names the field.
	for _, tc := range []struct{ body, field, code string }{
		{`{"name":"x","enabled":true,"keyword":"define","match":"contains","actions":[{"type":"auto_answer","text":"a"}]}`, "pattern", "invalid"},
		{`{"name":"x","keyword":"always","window":{"start":"08:00","end":"07:00"},"actions":[{"type":"auto_answer","text":"a"}]}`, "window.end", "invalid"},
		{`{"name":"","keyword":"always","actions":[{"type":"auto_answer","text":"a"}]}`, "name", "invalid"},
		{`{"name":"x","keyword":"always","actions":[{"type":"route","route_kind":"extension","route_id":"201"}]}`, "actions[0]", "not_configured"},
		{`{"id":"abc","name":"x","keyword":"always","actions":[{"type":"auto_answer","text":"a"}]}`, "id", "invalid"},
	} {
		wantAPIError(t, admin.call("POST", "/rules", tc.body), http.StatusUnprocessableEntity, tc.code, tc.field)
	}

	// PUT replaces; the masked secret keeps its stored value.
	got.Pattern = "geöffnet"
	body := mustJSON(t, got)
	wantAPIError(t, op.call("PUT", "/rules/"+saved.ID, body), http.StatusForbidden, "forbidden", "")
	wantAPIError(t, admin.call("PUT", "/rules/nope", body), http.StatusNotFound, "not_found", "")
	admin.ok("PUT", "/rules/"+saved.ID, body, http.StatusOK, &saved)
	stored, err := eng.Get(ctx, saved.ID)
	if err != nil || stored.Pattern != "geöffnet" || stored.Actions[1].Secret != "s3cret" {
		t.Fatalf("stored after PUT: %+v %v", stored, err)
	}

	wantAPIError(t, op.call("DELETE", "/rules/"+saved.ID, ""), http.StatusForbidden, "forbidden", "")
	admin.ok("DELETE", "/rules/"+saved.ID, "", http.StatusNoContent, nil)
	wantAPIError(t, admin.call("DELETE", "/rules/"+saved.ID, ""), http.StatusNotFound, "not_found", "")
	if _, err := eng.Get(ctx, saved.ID); !errors.Is(err, rules.ErrNotFound) {
		t.Fatalf("deleted rule: %v", err)
	}
	if !env.auditHas("rule.delete", saved.ID) {
		t.Fatal("the deletion is not in the audit log")
	}
}

func TestRuleErrField(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]string{
		`invalid rule "a: b": pattern: a define rule needs a keyword`:                             "pattern",
		`invalid rule: name: give the rule a name`:                                                "name",
		`invalid rule "x": actions[2] (email_forward): to: give at least one address`:             "actions[2].to",
		`invalid rule "x": actions[0] (route): not configured on this gateway: PBX routing (sip)`: "actions[0]",
		`something else`: "",
	} {
		if got := api.RuleErrField(errors.New(msg)); got != want {
			t.Errorf("%s: field %q, want %q", msg, got, want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
