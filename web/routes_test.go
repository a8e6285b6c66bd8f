package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestRouteTableIsTheRouter: the router serves exactly the route table
// (plus Deps.Extra), each row once.
func TestRouteTableIsTheRouter(t *testing.T) {
	t.Parallel()
	s, err := newServer(testDeps(t))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, r := range s.routes() {
		if r.handle == nil {
			continue // not in this installation (no metrics gatherer)
		}
		k := r.method + " " + r.path
		if rows[k] {
			t.Errorf("route table lists %s twice", k)
		}
		rows[k] = true
	}
	served := 0
	for _, r := range s.engine().Routes() {
		served++
		if !rows[r.Method+" "+r.Path] {
			t.Errorf("router serves %s %s, which the route table does not list", r.Method, r.Path)
		}
	}
	if served != len(rows) {
		t.Errorf("router serves %d routes, the table lists %d", served, len(rows))
	}
}

// TestRouteTableAccess walks the table's access column against the running
// Server: without a login every member/admin route answers 401 (API) or
// sends the browser to /login; an operator gets 403 from every admin row,
// in the portal (with a valid CSRF token) and with an API token.
func TestRouteTableAccess(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.client().setup("admin password")
	ctx := context.Background()
	if err := env.users.Add(ctx, "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	opTok, err := env.users.CreateToken(ctx, "olga", "op")
	if err != nil {
		t.Fatal(err)
	}
	op := env.client()
	if r := op.login("olga", "operator password"); r.code != http.StatusSeeOther {
		t.Fatalf("operator login: %d", r.code)
	}
	csrf := op.csrf("/")
	anon := env.client()

	s, err := newServer(testDeps(t))
	if err != nil {
		t.Fatal(err)
	}
	admins := 0
	for _, r := range s.routes() {
		if r.access != member && r.access != admin {
			continue
		}
		path := strings.NewReplacer(":id", "x1", ":name", "x1", ":media", "x1", ":number", "x1", "*file", "x").Replace(r.path)
		isAPI := strings.HasPrefix(path, "/api/")
		got := anon.do(r.method, path, nil, nil)
		switch {
		case isAPI && got.code != http.StatusUnauthorized:
			t.Errorf("%s %s without login: %d, want 401", r.method, r.path, got.code)
		case !isAPI && (got.code != http.StatusSeeOther || got.location != "/login"):
			t.Errorf("%s %s without login: %d %q, want a redirect to /login", r.method, r.path, got.code, got.location)
		}
		if r.access != admin {
			continue
		}
		admins++
		if isAPI {
			got = op.do(r.method, path, nil, map[string]string{"Authorization": "Bearer " + opTok})
		} else {
			got = op.do(r.method, path, nil, map[string]string{"X-CSRF-Token": csrf})
		}
		if got.code != http.StatusForbidden {
			t.Errorf("%s %s as operator: %d, want 403", r.method, r.path, got.code)
		}
	}
	if admins < 30 {
		t.Fatalf("only %d admin routes in the table", admins)
	}
}
