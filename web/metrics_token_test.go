package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"
)

// With a metrics token, /metrics answers only to exactly that bearer
// token: not without one, not to a wrong one or a prefix of it, not to a
// user's API token; everything else is unchanged.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	const token = "scrape-0123456789abcdef"
	env := newEnv(t, func(d *app.Deps) { d.MetricsToken = token })
	c := env.client()
	apiTok, err := env.users.CreateToken(context.Background(), "admin", "not for metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"", "Bearer", "Bearer ", "Bearer scrape-0123456789abcde", "Bearer " + token + "x",
		"Basic " + token, "bearer " + token, "Bearer " + apiTok} {
		r := c.do("GET", "/metrics", nil, map[string]string{"Authorization": h})
		if r.code != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") ||
			strings.Contains(r.body, "go_goroutines") {
			t.Errorf("Authorization %q: %d %s", h, r.code, r.header.Get("WWW-Authenticate"))
		}
	}
	r := c.do("GET", "/metrics", nil, map[string]string{"Authorization": "Bearer " + token})
	if r.code != http.StatusOK || !strings.Contains(r.body, "go_goroutines") {
		t.Fatalf("with the token: %d", r.code)
	}
	if r := c.get("/healthz"); r.code != http.StatusOK {
		t.Fatalf("healthz: %d", r.code)
	}
	// Without a token /metrics stays open (the default).
	if r := newEnv(t).client().get("/metrics"); r.code != http.StatusOK {
		t.Fatalf("default metrics: %d", r.code)
	}
}
