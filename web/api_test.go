package web

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/api"
)

// TestOpenAPIMatchesRoutes: every /api/v1 route is documented and every
// documented operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	s, err := newServer(testDeps(t))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	param := regexp.MustCompile(`:([a-z]+)`)
	var served []string
	for _, r := range s.engine().Routes() {
		p, ok := strings.CutPrefix(r.Path, "/api/v1")
		if !ok {
			continue
		}
		served = append(served, strings.ToLower(r.Method)+" "+param.ReplaceAllString(p, "{$1}"))
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, m+" "+p)
		}
	}
	slices.Sort(served)
	slices.Sort(documented)
	if len(served) < 10 {
		t.Fatalf("only %d API routes found", len(served))
	}
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("openapi.json documents %s, which is not served", d)
		}
	}
}

func TestAPIServesOpenAPIAndErrors(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.client().setup("admin password")
	tok, _ := env.users.CreateToken(context.Background(), "admin", "t")
	c := env.client()
	auth := map[string]string{"Authorization": "Bearer " + tok}
	r := c.do("GET", "/api/v1/openapi.json", nil, auth)
	if r.code != http.StatusOK || !strings.Contains(r.body, `"openapi": "3.0.3"`) {
		t.Fatalf("openapi: %d", r.code)
	}
	// Without a campaign engine the API says so, in the one error shape.
	r = c.do("GET", "/api/v1/campaigns", nil, auth)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.code != http.StatusServiceUnavailable || e.Error.Code != "unavailable" || e.Error.Message == "" {
		t.Fatalf("campaigns unavailable: %d %s", r.code, r.body)
	}
	r = c.do("GET", "/api/v1/nope", nil, auth)
	if r.code != http.StatusNotFound || !strings.Contains(r.body, `"code":"not_found"`) {
		t.Fatalf("unknown endpoint: %d %s", r.code, r.body)
	}
	r = c.do("GET", "/api/v1/me", nil, map[string]string{"Authorization": "Basic abc"})
	if r.code != http.StatusUnauthorized || !strings.Contains(r.body, `"code":"unauthorized"`) {
		t.Fatalf("basic auth: %d %s", r.code, r.body)
	}
	r = c.do("POST", "/api/v1/users", strings.NewReader(`{"name":"op","password":"short","role":"operator"}`), auth)
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `"field":"password"`) {
		t.Fatalf("weak password via API: %d %s", r.code, r.body)
	}
	// The campaign screens say "not available" rather than failing.
	pc := env.client()
	pc.login("admin", "admin password")
	mustContain(t, pc.get("/campaigns").body, "Campaigns are not available")
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.client().setup("admin password")
	ctx := context.Background()
	if err := env.users.Add(ctx, "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	opTok, _ := env.users.CreateToken(ctx, "olga", "own")
	adTok, _ := env.users.CreateToken(ctx, "admin", "admin's")
	c := env.client()
	op := map[string]string{"Authorization": "Bearer " + opTok, "Content-Type": "application/json"}
	r := c.do("POST", "/api/v1/tokens", strings.NewReader(`{"label":"ci"}`), op)
	var created struct{ Token string }
	if err := json.Unmarshal([]byte(r.body), &created); err != nil || r.code != http.StatusCreated || !strings.HasPrefix(created.Token, "pbxg_") {
		t.Fatalf("create token: %d %s", r.code, r.body)
	}
	r = c.do("GET", "/api/v1/tokens", nil, op)
	if strings.Contains(r.body, "admin's") || !strings.Contains(r.body, `"label":"ci"`) {
		t.Fatalf("operator token list: %s", r.body)
	}
	all, _ := env.users.ListTokens(ctx, "admin")
	// An operator cannot revoke someone else's token.
	if r := c.do("DELETE", "/api/v1/tokens/"+all[0].ID, nil, op); r.code != http.StatusNotFound {
		t.Fatalf("revoke other's token: %d", r.code)
	}
	if _, err := env.users.TokenUser(ctx, adTok); err != nil {
		t.Fatal("admin token was revoked by an operator")
	}
	if r := c.do("DELETE", "/api/v1/tokens/"+all[0].ID, nil, map[string]string{"Authorization": "Bearer " + adTok}); r.code != http.StatusNoContent {
		t.Fatalf("admin revokes own token: %d", r.code)
	}
	if r := c.do("GET", "/api/v1/me", nil, map[string]string{"Authorization": "Bearer " + adTok}); r.code != http.StatusUnauthorized {
		t.Fatalf("revoked token still works: %d", r.code)
	}
}
