package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// TestOpenAPIMatchesRoutes: every /api/v1 route is documented and every
// documented operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := newServer(Deps{Store: st, Users: users.New(st, users.WithParams(fastHash)), Logger: slog.New(slog.DiscardHandler),
		Location: time.UTC, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
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
