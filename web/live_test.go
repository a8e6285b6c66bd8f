package web

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/live"
)

// stream opens path as an EventSource would (same cookies) and returns a
// reader of its events; the stream is closed when the test ends.
func (c *client) stream(path string) (*http.Response, func() (string, string)) {
	c.env.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c.env.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.env.srv.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Accept-Language", c.lang)
	hc := *c.http
	hc.Timeout = 0 // a stream; the test's context ends it
	resp, err := hc.Do(req)
	if err != nil {
		c.env.t.Fatal(err)
	}
	c.env.t.Cleanup(func() { resp.Body.Close() })
	r := bufio.NewReader(resp.Body)
	next := func() (string, string) {
		name, data, err := live.ReadEvent(r)
		if err != nil {
			c.env.t.Fatalf("%s: stream ended: %v", path, err)
		}
		return name, data
	}
	return resp, next
}

// TestCampaignProgressIsLive: the campaign page's event stream pushes the
// state and counters as the real engine sends, in the reader's language,
// without a reload.
func TestCampaignProgressIsLive(t *testing.T) {
	t.Parallel()
	var env *testEnv
	opt, _, _ := withEngine(t, &env)
	env = newEnv(t, opt)
	admin := env.client()
	admin.setup("admin password")
	admin.lang = "de"
	admin.get("/lang/de")
	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	code, m := apiCall(t, admin, tok, "POST", "/api/v1/campaigns", `{"name":"Live","channel":"gsm","numbers":["+4915112345678","+4915112345679"],"text":"hi","send":"draft"}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	id := m["id"].(string)
	page := admin.get("/campaigns/" + id)
	mustContain(t, page.body, `data-events="/campaigns/`+id+`/events"`, `id="campaign-live"`)

	resp, next := admin.stream("/campaigns/" + id + "/events")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	name, data := next()
	if name != "update" || !strings.Contains(data, `data-state="draft"`) || !strings.Contains(data, "Entwurf") ||
		!strings.Contains(data, "0 gesendet · 0 zugestellt") {
		t.Fatalf("first update %q:\n%s", name, data)
	}
	if code, m := apiCall(t, admin, tok, "POST", "/api/v1/campaigns/"+id+"/start", ""); code != http.StatusOK && code != http.StatusAccepted && code != http.StatusNoContent {
		t.Fatalf("start: %d %v", code, m)
	}
	// Updates follow the engine until the campaign is done; each one is
	// pushed by a change (the bounded wait is the test's, not the stream's).
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(data, `data-state="completed"`) || !strings.Contains(data, "2 zugestellt") {
		if time.Now().After(deadline) {
			t.Fatalf("no completed update; last:\n%s", data)
		}
		_, data = next()
	}
	mustContain(t, data, "Vollendet", "2 gesendet · 2 zugestellt · 0 fehlgeschlagen")
}

// TestLiveStreamsBounded: more live views than the budget are refused
// with 503 (the page then reloads instead); the dashboard and sessions
// streams serve their fragments.
func TestLiveStreamsBounded(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(d *app.Deps) { d.LiveLimits = live.Limits{Streams: 1} })
	c := env.client()
	c.setup("admin password")
	mustContain(t, c.get("/").body, `data-events="/dashboard/events"`)
	resp, next := c.stream("/dashboard/events")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dashboard stream: %d", resp.StatusCode)
	}
	if name, data := next(); name != "update" || data == "" {
		t.Fatalf("dashboard update %q %q", name, data)
	}
	r := c.get("/dashboard/events")
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("second stream over a budget of 1: %d", r.code)
	}
	// A stream takes no request body.
	if r := c.do("GET", "/dashboard/events", strings.NewReader("x"), nil); r.code != http.StatusBadRequest {
		t.Fatalf("stream with a body: %d", r.code)
	}
}
