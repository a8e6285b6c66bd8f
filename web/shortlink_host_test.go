package web

import (
	"io"
	"net/http"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/shortlink"
	"github.com/pbxgate/pbxgate/web/app"
)

// Behind a reverse proxy (http.trusted_proxies) the short-link redirect's
// rate limit counts per client, named by X-Forwarded-For, not per proxy;
// from an untrusted peer the header is ignored. On the short links' own
// domain (http.short_link_url) only the redirects are served.
func TestShortLinksBehindProxyAndOnOwnDomain(t *testing.T) {
	t.Parallel()
	withLinks := func(trusted []string) envOption {
		return func(d *app.Deps) {
			l, err := shortlink.New(shortlink.Config{Store: d.Store, PublicURL: "https://go.example.test"}) // netscope: link base, never dialled
			if err != nil {
				t.Fatal(err)
			}
			d.Extra = map[string]http.Handler{shortlink.PathPrefix: l.Handler(shortlink.HandlerOptions{PerMinute: 1, Burst: 2, ClientIP: ClientIP})}
			d.TrustedProxies = trusted
			d.ShortLinkHost, d.ShortLinkPath = "go.example.test", shortlink.PathPrefix // netscope: a Host header, never dialled
		}
	}
	get := func(env *testEnv, host, path, forwardedFor string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", env.srv.URL+path, nil)
		req.Host = host
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		res, err := env.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	const a, b = "198.51.100.7", "198.51.100.8" // netscope: X-Forwarded-For values, never dialled

	proxied := newEnv(t, withLinks([]string{"127.0.0.1"}))
	for i, want := range []int{404, 404, 429} { // burst 2, then limited
		if got := get(proxied, "go.example.test", "/s/AAAAAAAAAAAA", a); got != want {
			t.Fatalf("client a, request %d: %d, want %d", i+1, got, want)
		}
	}
	if got := get(proxied, "go.example.test", "/s/AAAAAAAAAAAA", b); got != 404 {
		t.Fatalf("client b behind the same proxy: %d, want 404 (its own limit)", got)
	}

	direct := newEnv(t, withLinks(nil))
	get(direct, "go.example.test", "/s/AAAAAAAAAAAA", a)
	get(direct, "go.example.test", "/s/AAAAAAAAAAAA", b)
	if got := get(direct, "go.example.test", "/s/AAAAAAAAAAAA", "198.51.100.9"); got != 429 { // netscope: header value
		t.Fatalf("untrusted peer with a new X-Forwarded-For: %d, want 429 (the header is not believed)", got)
	}

	for _, path := range []string{"/login", "/healthz", "/api/v1/campaigns", "/"} {
		if got := get(direct, "go.example.test", path, ""); got != 404 {
			t.Errorf("GET %s on the short-link domain: %d, want 404", path, got)
		}
	}
	if got := get(direct, "gw.example.test", "/login", ""); got != 200 { // netscope: a Host header, never dialled
		t.Errorf("GET /login on the portal's host: %d, want 200", got)
	}
}
