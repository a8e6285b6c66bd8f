package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// withLimitedEngine is withEngine with campaigns.max_campaigns set.
func withLimitedEngine(t *testing.T, maxCampaigns int) (envOption, func() *campaign.Engine) {
	ch := &reportingChannel{name: "gsm", reject: map[string]bool{}, sent: map[string]bool{}}
	var eng *campaign.Engine
	opt := func(d *app.Deps) {
		eng = startEngine(t, d, map[string]campaign.Channel{"gsm": ch}, campaign.Config{DNC: recipients.NewLists(d.Store), Limits: campaign.Limits{MaxCampaigns: maxCampaigns}})
		ch.eng = eng
	}
	return opt, func() *campaign.Engine { return eng }
}

func apiCall(t *testing.T, c *client, tok, method, path, body string) (int, map[string]any) {
	t.Helper()
	r := c.do(method, path, strings.NewReader(body), map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
	var m map[string]any
	if r.body != "" {
		if err := json.Unmarshal([]byte(r.body), &m); err != nil {
			t.Fatalf("%s %s: not JSON: %d %s", method, path, r.code, r.body)
		}
	}
	return r.code, m
}

// TestCampaignDeleteConfirmed: the portal deletes a campaign only after the
// confirmation step (the page works without JavaScript), and DELETE
// /api/v1/campaigns/{id} stops a running campaign first.
func TestCampaignDeleteConfirmed(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, engine := withEngine(t, &env)
	env = newEnv(t, opt)
	admin := env.client()
	admin.setup("admin password")
	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	code, m := apiCall(t, admin, tok, "POST", "/api/v1/campaigns", `{"name":"Alt","channel":"gsm","numbers":["+4915112345678"],"text":"hi","send":"draft"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id := m["id"].(string)

	admin.lang = "de"
	admin.get("/lang/de")
	csrf := admin.csrf("/campaigns")
	mustContain(t, admin.body, `action="/campaigns/`+id+`/delete"`, `data-confirm="Kampagne „Alt“ mit allen Empfängern`, "Löschen")
	mustContain(t, admin.get("/campaigns/"+id).body, `id="campaign-delete"`)

	// One click without the confirmation asks; nothing is deleted.
	r := admin.post("/campaigns/"+id+"/delete", formVals("csrf_token", csrf))
	if r.code != http.StatusOK {
		t.Fatalf("unconfirmed delete: %d", r.code)
	}
	mustContain(t, r.body, "Löschen bestätigen", `id="confirm-check"`, "required", "Endgültig löschen", `action="/campaigns/`+id+`/delete"`)
	if _, err := engine().Get(context.Background(), id); err != nil {
		t.Fatalf("deleted without confirmation: %v", err)
	}
	r = admin.post("/campaigns/"+id+"/delete", formVals("csrf_token", csrf, "confirm", "yes"))
	if r.code != http.StatusSeeOther || r.location != "/campaigns" {
		t.Fatalf("confirmed delete: %d %q", r.code, r.location)
	}
	if _, err := engine().Get(context.Background(), id); !errors.Is(err, campaign.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	mustContain(t, admin.get("/campaigns").body, "Kampagne gelöscht.", "Keine Kampagnen gefunden.")
	if r := admin.post("/campaigns/"+id+"/delete", formVals("csrf_token", csrf, "confirm", "yes")); r.code != http.StatusNotFound {
		t.Fatalf("delete again: %d", r.code)
	}

	// A running campaign (1 per minute: the second message waits) is
	// stopped and deleted through the API.
	code, m = apiCall(t, admin, tok, "POST", "/api/v1/campaigns", `{"name":"Läuft","channel":"gsm","numbers":["+4915112345678","+4915112345679","+4915112345670"],"text":"hi","send":"now","rate_per_minute":1}`)
	if code != http.StatusCreated {
		t.Fatalf("create running: %d %v", code, m)
	}
	id = m["id"].(string)
	waitState(t, engine(), id, campaign.Running)
	// Operators may delete campaigns, as they may stop and duplicate them.
	if err := env.users.Add(context.Background(), "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	optok, err := env.users.CreateToken(context.Background(), "olga", "api")
	if err != nil {
		t.Fatal(err)
	}
	code, m = apiCall(t, admin, optok, "DELETE", "/api/v1/campaigns/"+id, "")
	if code != http.StatusNoContent {
		t.Fatalf("API delete running: %d %v", code, m)
	}
	if _, err := engine().Get(context.Background(), id); !errors.Is(err, campaign.ErrNotFound) {
		t.Fatalf("after API delete: %v", err)
	}
	code, m = apiCall(t, admin, tok, "DELETE", "/api/v1/campaigns/"+id, "")
	if e, _ := m["error"].(map[string]any); code != http.StatusNotFound || e["code"] != "not_found" {
		t.Fatalf("API delete unknown: %d %v", code, m)
	}
}

// TestCampaignLimitTranslated: at campaigns.max_campaigns the form says so
// in German with a link to the list, duplicating answers 422 (not 500),
// and the API names the code.
func TestCampaignLimitTranslated(t *testing.T) {
	t.Parallel()
	opt, engine := withLimitedEngine(t, 2)
	env := newEnv(t, opt)
	admin := env.client()
	admin.setup("admin password")
	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for i := range 2 {
		code, m := apiCall(t, admin, tok, "POST", "/api/v1/campaigns", fmt.Sprintf(`{"name":"c%d","channel":"gsm","numbers":["+4915112345678"],"text":"hi","send":"draft"}`, i))
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, m)
		}
		id = m["id"].(string)
	}
	admin.lang = "de"
	admin.get("/lang/de")
	csrf := admin.csrf("/campaigns/new")
	r := admin.postMultipart("/campaigns/new", multipartForm{fields: map[string]string{"csrf_token": csrf, "name": "dritte", "sender": "gsm|sim1",
		"numbers": "+49 151 23456789", "text": "Hallo", "send": "draft"}})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("create at limit: %d", r.code)
	}
	mustContain(t, r.body, "Die Höchstzahl an Kampagnen ist erreicht.", `<a href="/campaigns" id="campaign-limit-link">Zur Kampagnenliste</a>`, "dritte")
	if strings.Contains(r.body, "delete old campaigns first") {
		t.Fatal("English limit sentence in the German form")
	}

	r = admin.post("/campaigns/"+id+"/duplicate", formVals("csrf_token", csrf))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("duplicate at limit: %d", r.code)
	}
	mustContain(t, r.body, "Die Höchstzahl an Kampagnen ist erreicht.", `id="campaign-limit-link"`)

	code, m := apiCall(t, admin, tok, "POST", "/api/v1/campaigns/"+id+"/duplicate", "")
	if e, _ := m["error"].(map[string]any); code != http.StatusUnprocessableEntity || e["code"] != "campaign_limit" {
		t.Fatalf("API duplicate at limit: %d %v", code, m)
	}
	// Deleting one makes room again.
	if code, m := apiCall(t, admin, tok, "DELETE", "/api/v1/campaigns/"+id, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %v", code, m)
	}
	if p := engine().List(context.Background(), campaign.ListQuery{}); p.Total != 1 {
		t.Fatalf("campaigns after delete: %d", p.Total)
	}
}
