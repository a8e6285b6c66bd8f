package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/api"
	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/consent"
)

// groupAPI calls the API with a bearer token of user.
type groupAPI struct {
	t   *testing.T
	c   *client
	tok string
}

func newGroupAPI(t *testing.T, env *testEnv, user string) *groupAPI {
	t.Helper()
	tok, err := env.users.CreateToken(context.Background(), user, "groups test")
	if err != nil {
		t.Fatal(err)
	}
	return &groupAPI{t: t, c: env.client(), tok: tok}
}

// call sends body (JSON when not empty) and decodes the answer into out
// when the status is want; any other status fails the test.
func (a *groupAPI) call(method, path, body string, want int, out any) resp {
	a.t.Helper()
	hdr := map[string]string{"Authorization": "Bearer " + a.tok}
	var r resp
	if body != "" {
		hdr["Content-Type"] = "application/json"
		r = a.c.do(method, path, strings.NewReader(body), hdr)
	} else {
		r = a.c.do(method, path, nil, hdr)
	}
	if r.code != want {
		a.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.code, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(r.body), out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, r.body)
		}
	}
	return r
}

// fails checks the API's one error shape with its code and field.
func (a *groupAPI) fails(method, path, body string, want int, code, field string) {
	a.t.Helper()
	var e struct {
		Error struct{ Code, Message, Field string } `json:"error"`
	}
	a.call(method, path, body, want, &e)
	if e.Error.Code != code || e.Error.Field != field || e.Error.Message == "" {
		a.t.Errorf("%s %s: error %+v, want code %q field %q", method, path, e.Error, code, field)
	}
}

func TestGroupAPI(t *testing.T) {
	t.Parallel()
	env, _, cons := newGroupEnv(t)
	ctx := context.Background()
	if err := env.users.Add(ctx, "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	admin, op := newGroupAPI(t, env, "admin"), newGroupAPI(t, env, "olga")

	var list app.Page[consent.GroupSummary]
	admin.call("GET", "/api/v1/groups", "", http.StatusOK, &list)
	if list.Items == nil || len(list.Items) != 0 || list.Total != 0 {
		t.Fatalf("empty list: %+v", list)
	}

	// Create, with its refusals.
	var g consent.GroupSummary
	admin.call("POST", "/api/v1/groups", `{"name":" Angebote ","description":"Wochenangebote"}`, http.StatusCreated, &g)
	if g.Name != "Angebote" || g.Description != "Wochenangebote" || g.Created.IsZero() {
		t.Fatalf("created %+v", g)
	}
	admin.fails("POST", "/api/v1/groups", `{"name":"Angebote"}`, http.StatusConflict, "exists", "name")
	admin.fails("POST", "/api/v1/groups", `{"name":""}`, http.StatusUnprocessableEntity, "invalid", "name")
	admin.fails("POST", "/api/v1/groups", `{"name":"a/b"}`, http.StatusUnprocessableEntity, "invalid", "name")
	admin.fails("POST", "/api/v1/groups", `{"name":"`+strings.Repeat("x", 65)+`"}`, http.StatusUnprocessableEntity, "invalid", "name")
	admin.fails("POST", "/api/v1/groups", `{"name":"ok","description":"`+strings.Repeat("x", 201)+`"}`, http.StatusUnprocessableEntity, "invalid", "description")
	admin.fails("POST", "/api/v1/groups", `{"name":`, http.StatusBadRequest, "bad_json", "")
	op.fails("POST", "/api/v1/groups", `{"name":"Neu"}`, http.StatusForbidden, "forbidden", "")
	if gs, _ := cons.Groups(ctx); len(gs) != 1 {
		t.Fatalf("groups after refusals: %+v", gs)
	}

	// Members: the valid ones added, the invalid ones named.
	var added api.APIMembersAdded
	admin.call("POST", "/api/v1/groups/Angebote/members", `{"numbers":["+4915111111111","0151 22222222","12","+4915133333333, +4915144444444"]}`, http.StatusOK, &added)
	if want := []string{"+4915111111111", "+4915122222222", "+4915133333333", "+4915144444444"}; !slices.Equal(added.Added, want) || len(added.Already) != 0 {
		t.Errorf("added %+v, want %q", added, want)
	}
	if len(added.Invalid) != 1 || added.Invalid[0].Input != "12" || added.Invalid[0].ReasonCode.Code != "number.too_short" {
		t.Errorf("invalid %+v", added.Invalid)
	}
	admin.call("POST", "/api/v1/groups/Angebote/members", `{"numbers":["+4915111111111"]}`, http.StatusOK, &added)
	if len(added.Added) != 0 || !slices.Equal(added.Already, []string{"+4915111111111"}) {
		t.Errorf("added again %+v", added)
	}
	admin.fails("POST", "/api/v1/groups/Angebote/members", `{"numbers":["12","abc"]}`, http.StatusUnprocessableEntity, "invalid_number", "numbers")
	admin.fails("POST", "/api/v1/groups/Angebote/members", `{"numbers":[]}`, http.StatusUnprocessableEntity, "invalid", "numbers")
	admin.fails("POST", "/api/v1/groups/Angebote/members", `[1]`, http.StatusBadRequest, "bad_json", "")
	admin.fails("POST", "/api/v1/groups/Nope/members", `{"numbers":["+4915111111111"]}`, http.StatusNotFound, "not_found", "")
	op.fails("POST", "/api/v1/groups/Angebote/members", `{"numbers":["+4915155555555"]}`, http.StatusForbidden, "forbidden", "")

	// One group with a page of members; the excluded one says why.
	if err := cons.OptOut(ctx, "+4915122222222", "STOP", "sms"); err != nil {
		t.Fatal(err)
	}
	var detail api.APIGroupDetail
	op.call("GET", "/api/v1/groups/Angebote?offset=1&limit=2", "", http.StatusOK, &detail)
	if detail.Group.Name != "Angebote" || detail.Group.Members != 4 || detail.Group.Excluded != 1 {
		t.Errorf("group %+v", detail.Group)
	}
	m := detail.Members
	if m.Total != 4 || m.Offset != 1 || m.Limit != 2 || len(m.Items) != 2 || m.Items[0].Number != "+4915122222222" || m.Items[1].Number != "+4915133333333" {
		t.Fatalf("members page %+v", m)
	}
	if ex := m.Items[0]; !strings.HasPrefix(ex.Excluded, "opted out (STOP)") || ex.ExcludedCode.Code != "consent.opted_out" || ex.Source != consent.SourceManual {
		t.Errorf("excluded member %+v", ex)
	}
	op.call("GET", "/api/v1/groups/Angebote?offset=10", "", http.StatusOK, &detail)
	if detail.Members.Items == nil || len(detail.Members.Items) != 0 || detail.Members.Total != 4 {
		t.Errorf("page past the end %+v", detail.Members)
	}
	op.fails("GET", "/api/v1/groups/Angebote?limit=0", "", http.StatusBadRequest, "invalid", "limit")
	op.fails("GET", "/api/v1/groups/Nope", "", http.StatusNotFound, "not_found", "")
	op.call("GET", "/api/v1/groups", "", http.StatusOK, &list)
	if list.Total != 1 || list.Items[0].Members != 4 || list.Items[0].Excluded != 1 {
		t.Errorf("list %+v", list)
	}

	// Remove a member, by any spelling of the number.
	op.fails("DELETE", "/api/v1/groups/Angebote/members/"+url.PathEscape("+4915111111111"), "", http.StatusForbidden, "forbidden", "")
	admin.call("DELETE", "/api/v1/groups/Angebote/members/"+url.PathEscape("+4915111111111"), "", http.StatusNoContent, nil)
	admin.call("DELETE", "/api/v1/groups/Angebote/members/004915133333333", "", http.StatusNoContent, nil)
	if got := memberNumbers(t, cons, "Angebote"); !slices.Equal(got, []string{"+4915122222222", "+4915144444444"}) {
		t.Errorf("members after removal %q", got)
	}
	admin.fails("DELETE", "/api/v1/groups/Angebote/members/"+url.PathEscape("+4915111111111"), "", http.StatusNotFound, "not_member", "number")
	admin.fails("DELETE", "/api/v1/groups/Nope/members/4915111111111", "", http.StatusNotFound, "not_found", "")

	// Names with spaces and URL characters.
	admin.call("POST", "/api/v1/groups", `{"name":"News & Mehr?"}`, http.StatusCreated, nil)
	admin.call("GET", "/api/v1/groups/"+url.PathEscape("News & Mehr?"), "", http.StatusOK, &detail)
	if detail.Group.Name != "News & Mehr?" {
		t.Errorf("escaped name: %+v", detail.Group)
	}

	// Delete.
	op.fails("DELETE", "/api/v1/groups/Angebote", "", http.StatusForbidden, "forbidden", "")
	admin.call("DELETE", "/api/v1/groups/Angebote", "", http.StatusNoContent, nil)
	admin.fails("DELETE", "/api/v1/groups/Angebote", "", http.StatusNotFound, "not_found", "")
	if ok, _ := cons.HasGroup(ctx, "Angebote"); ok {
		t.Fatal("group not deleted")
	}

	// Admin changes are in the audit log.
	audit := auditActions(env)
	for _, want := range []string{"group.create Angebote", "group.members_add Angebote: 4 added", "group.member_remove Angebote: +4915111111111", "group.delete Angebote"} {
		if !slices.Contains(audit, want) {
			t.Errorf("audit lacks %q: %q", want, audit)
		}
	}
}

// auditActions lists the audit log as "action target".
func auditActions(env *testEnv) []string {
	s := &app.Server{D: app.Deps{Store: env.store}}
	var out []string
	for _, e := range s.RecentAudit(1000) {
		out = append(out, e.Action+" "+e.Target)
	}
	return out
}

func TestGroupAPIUnavailableWithoutConsent(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.client().setup("admin password")
	a := newGroupAPI(t, env, "admin")
	a.fails("GET", "/api/v1/groups", "", http.StatusServiceUnavailable, "unavailable", "")
	a.fails("POST", "/api/v1/groups", `{"name":"x"}`, http.StatusServiceUnavailable, "unavailable", "")
}
