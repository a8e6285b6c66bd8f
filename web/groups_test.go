package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/consent"
)

// The daemon passes *consent.Consent as Deps.Consent.
var _ app.ConsentService = (*consent.Consent)(nil)

// newGroupEnv is a portal with a real consent service on the test store
// and first-run setup done; the client is logged in as admin.
func newGroupEnv(t *testing.T, opts ...envOption) (*testEnv, *client, *consent.Consent) {
	t.Helper()
	var cons *consent.Consent
	env := newEnv(t, append([]envOption{func(d *app.Deps) {
		var err error
		if cons, err = consent.New(consent.Config{Store: d.Store, Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatal(err)
		}
		d.Consent = cons
	}}, opts...)...)
	admin := env.client()
	admin.setup("admin password")
	return env, admin, cons
}

func memberNumbers(t *testing.T, cons *consent.Consent, group string) []string {
	t.Helper()
	ms, err := cons.Members(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Number)
	}
	return out
}

func TestGroupsScreen(t *testing.T) {
	t.Parallel()
	env, admin, cons := newGroupEnv(t)
	ctx := context.Background()

	tok := admin.csrf("/groups")
	mustContain(t, admin.body, `id="nav-groups"`, "No subscriber groups yet.", `id="group-create"`)

	// Field errors next to the field, in the reader's language.
	r := admin.post("/groups", formVals("csrf_token", tok, "name", "  "))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("empty name: %d", r.code)
	}
	mustContain(t, r.body, "Enter a name.")
	r = admin.post("/groups", formVals("csrf_token", tok, "name", "a/b"))
	mustContain(t, r.body, "The name must not contain “/”.")
	admin.get("/lang/de")
	r = admin.post("/groups", formVals("csrf_token", tok, "name", ""))
	mustContain(t, r.body, "Bitte einen Namen eingeben.", "Gruppen")
	admin.get("/lang/en")

	r = admin.post("/groups", formVals("csrf_token", tok, "name", "Angebote", "description", "Wochenangebote"))
	if r.code != http.StatusSeeOther || r.location != "/groups/Angebote" {
		t.Fatalf("create: %d %q %s", r.code, r.location, r.body)
	}
	mustContain(t, admin.get(r.location).body, "Subscriber group created.", "Wochenangebote", "No members yet.")
	r = admin.post("/groups", formVals("csrf_token", tok, "name", "Angebote", "description", "anders"))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("create twice: %d", r.code)
	}
	mustContain(t, r.body, "A group with this name exists already.")
	if gs, _ := cons.Groups(ctx); len(gs) != 1 || gs[0].Description != "Wochenangebote" {
		t.Fatalf("creating twice changed the group: %+v", gs)
	}

	// Pasted numbers in every separator; national ones in the default
	// country; the invalid ones named next to the field, the rest added.
	r = admin.post("/groups/Angebote/members", formVals("csrf_token", tok,
		"numbers", "+4915111111111, 0151 22222222;+4915133333333\n12 +4915144444444 abc1234567"))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("add with invalid: %d %s", r.code, r.body)
	}
	mustContain(t, r.body, "Not added, not valid (2):", `"12" is too short`, `"abc1234567" is not a number`,
		"4 added, 0 already in the group.")
	if !strings.Contains(r.body, ">12\nabc1234567</textarea>") {
		t.Errorf("the field does not keep the rejected numbers:\n%s", r.body)
	}
	want := []string{"+4915111111111", "+4915122222222", "+4915133333333", "+4915144444444"}
	if got := memberNumbers(t, cons, "Angebote"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("members %q, want %q", got, want)
	}
	r = admin.post("/groups/Angebote/members", formVals("csrf_token", tok, "numbers", "+4915111111111"))
	if r.code != http.StatusSeeOther {
		t.Fatalf("add again: %d %s", r.code, r.body)
	}
	r = admin.post("/groups/Angebote/members", formVals("csrf_token", tok, "numbers", " "))
	mustContain(t, r.body, "Enter at least one number.")

	// An opted-out member shows why, translated.
	if err := cons.OptOut(ctx, "+4915122222222", "STOP", "sms"); err != nil {
		t.Fatal(err)
	}
	if err := cons.Join(ctx, "Angebote", "4915155555555", consent.SourceClickToChat); err != nil {
		t.Fatal(err)
	}
	r = admin.get("/groups/Angebote")
	mustContain(t, r.body, "5 members, 1 of them excluded from sends", "opted out (STOP) on", "click-to-chat", "added by hand")
	admin.get("/lang/de")
	mustContain(t, admin.get("/groups/Angebote").body, "abgemeldet (STOP) am", "manuell hinzugefügt")
	admin.get("/lang/en")
	r = admin.get("/groups")
	mustContain(t, r.body, `<a href="/groups/Angebote">Angebote</a>`, "<td>5</td><td>1</td>")

	// Operators see everything and change nothing.
	if err := env.users.Add(ctx, "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	op := env.client()
	op.login("olga", "operator password")
	optok := op.csrf("/groups/Angebote")
	mustContain(t, op.body, "+4915133333333")
	if strings.Contains(op.body, `id="members-add"`) || strings.Contains(op.body, `id="group-delete"`) {
		t.Error("operators are offered admin forms")
	}
	for path, form := range map[string][]string{
		"/groups":                         {"name", "Neu"},
		"/groups/Angebote/members":        {"numbers", "+4915166666666"},
		"/groups/Angebote/members/remove": {"number", "+4915111111111"},
		"/groups/Angebote/delete":         {"confirm", "yes"},
	} {
		if r := op.post(path, formVals(append([]string{"csrf_token", optok}, form...)...)); r.code != http.StatusForbidden {
			t.Errorf("operator POST %s: %d", path, r.code)
		}
	}
	if got := memberNumbers(t, cons, "Angebote"); len(got) != 5 {
		t.Fatalf("operator changed the group: %q", got)
	}

	// Removing a member; a member not in the group is said so.
	r = admin.post("/groups/Angebote/members/remove", formVals("csrf_token", tok, "number", "+4915111111111"))
	mustContain(t, admin.get(r.location).body, "Member removed.")
	if in, _ := cons.IsMember(ctx, "Angebote", "+4915111111111"); in {
		t.Fatal("member not removed")
	}
	r = admin.post("/groups/Angebote/members/remove", formVals("csrf_token", tok, "number", "+4915111111111"))
	mustContain(t, admin.get(r.location).body, "This number is not in the group.")

	// Deleting needs the confirmation.
	r = admin.post("/groups/Angebote/delete", formVals("csrf_token", tok))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("delete unconfirmed: %d", r.code)
	}
	mustContain(t, r.body, "Tick the box to confirm the deletion.")
	if ok, _ := cons.HasGroup(ctx, "Angebote"); !ok {
		t.Fatal("deleted without confirmation")
	}
	r = admin.post("/groups/Angebote/delete", formVals("csrf_token", tok, "confirm", "yes"))
	if r.code != http.StatusSeeOther || r.location != "/groups" {
		t.Fatalf("delete: %d %q", r.code, r.location)
	}
	mustContain(t, admin.get("/groups").body, "Subscriber group deleted.", "No subscriber groups yet.")
	if r := admin.get("/groups/Angebote"); r.code != http.StatusNotFound {
		t.Fatalf("deleted group page: %d", r.code)
	}

	// The audit log names every change.
	mustContain(t, admin.get("/system").body, "Subscriber group created", "Group members added", "Group member removed", "Subscriber group deleted")
}

// Group names with spaces and URL characters work in links and routes.
func TestGroupsNameInPath(t *testing.T) {
	t.Parallel()
	_, admin, cons := newGroupEnv(t)
	tok := admin.csrf("/groups")
	r := admin.post("/groups", formVals("csrf_token", tok, "name", "Angebote & News? 50%"))
	if r.code != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	page := admin.get(r.location)
	if page.code != http.StatusOK {
		t.Fatalf("GET %s: %d", r.location, page.code)
	}
	r = admin.post(r.location+"/members", formVals("csrf_token", tok, "numbers", "+4915111111111"))
	if r.code != http.StatusSeeOther {
		t.Fatalf("add: %d %s", r.code, r.body)
	}
	if got := memberNumbers(t, cons, "Angebote & News? 50%"); len(got) != 1 {
		t.Fatalf("members %q", got)
	}
}

func TestGroupsUnavailableWithoutConsent(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	admin := env.client()
	admin.setup("admin password")
	mustContain(t, admin.get("/groups").body, "Subscriber groups are not available in this installation.")
}

// A campaign from a subscriber group gets exactly the members who may be
// messaged; the opted-out and blocked ones are listed with why and the
// form holds until the admin chooses to skip them.
func TestCampaignFromGroup(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, engine := withEngine(t, &env)
	env, admin, cons := newGroupEnv(t, opt)
	ctx := context.Background()
	if _, err := cons.CreateGroup(ctx, "Angebote", ""); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ number, source string }{
		{"+4915111111111", consent.SourceManual},
		{"4915122222222", consent.SourceClickToChat}, // a WhatsApp id
		{"+4915133333333", consent.SourceKeyword},
		{"+4915144444444", consent.SourceManual},
	} {
		if err := cons.Join(ctx, "Angebote", m.number, m.source); err != nil {
			t.Fatal(err)
		}
	}
	if err := cons.OptOut(ctx, "+4915133333333", "STOP", "sms"); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Block(ctx, consent.Entry{Number: "+4915144444444", Direction: consent.Send}); err != nil {
		t.Fatal(err)
	}
	tok := admin.csrf("/campaigns/new")
	mustContain(t, admin.body, `<option value="Angebote"`, "Angebote (4 members)")
	base := map[string]string{"csrf_token": tok, "name": "Wochenangebot", "sender": "gsm|", "group": "Angebote",
		"numbers": "+4915111111111", "text": "Hallo", "send": "draft"}

	r := admin.postMultipart("/campaigns/new", multipartForm{fields: base})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("group with excluded members, not skipped: %d %s", r.code, r.body)
	}
	mustContain(t, r.body, "2 members of the group are left out", "2 members left out of this campaign:",
		"+4915133333333 – opted out (STOP) on", "+4915144444444 – blacklisted", `<option value="Angebote" selected>`)
	if i, j := strings.Index(r.body, `id="group"`), strings.Index(r.body, "2 members of the group are left out"); i < 0 || j < i {
		t.Error("the group's error is not next to the group field")
	}
	if items, _, _ := env.srvCampaigns(t); len(items) != 0 {
		t.Fatalf("campaign created without the skip: %+v", items)
	}

	base["skip_invalid"] = "1"
	r = admin.postMultipart("/campaigns/new", multipartForm{fields: base})
	m := idRE.FindStringSubmatch(r.location)
	if r.code != http.StatusSeeOther || m == nil {
		t.Fatalf("create from group: %d %s", r.code, r.body)
	}
	page, err := engine().Recipients(ctx, m[1], campaign.RecipientQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range page.Items {
		got = append(got, r.Number)
	}
	// The typed number is also in the group: once.
	if want := []string{"+4915111111111", "+4915122222222"}; !slices.Equal(got, want) {
		t.Fatalf("recipients %q, want %q", got, want)
	}

	// An unknown group is said next to the field.
	base["group"] = "Nope"
	mustContain(t, admin.postMultipart("/campaigns/new", multipartForm{fields: base}).body, "This subscriber group does not exist.")
}

// srvCampaigns lists the campaigns through the API.
func (e *testEnv) srvCampaigns(t *testing.T) ([]app.CampaignSummary, int, error) {
	t.Helper()
	tok, err := e.users.CreateToken(context.Background(), "admin", "list")
	if err != nil {
		return nil, 0, err
	}
	r := e.client().do("GET", "/api/v1/campaigns", nil, map[string]string{"Authorization": "Bearer " + tok})
	var p app.Page[app.CampaignSummary]
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("campaign list: %d %s", r.code, r.body)
	}
	return p.Items, p.Total, nil
}
