package web

import (
	"bytes"
	"context"
	"html"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// fastHash keeps argon2 cheap under -race.
var fastHash = users.Params{Memory: 64, Time: 1, Threads: 1}

type testEnv struct {
	t     *testing.T
	srv   *httptest.Server
	store *store.Store
	users *users.Service
	// adminPassword is what EnsureAdmin printed.
	adminPassword string
}

type envOption func(*app.Deps)

// testDeps are the required dependencies on a store in t.TempDir(), for
// tests that build the server without an HTTP listener.
func testDeps(t testing.TB) app.Deps {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return app.Deps{Store: st, Users: users.New(st, users.WithParams(fastHash)), Logger: slog.New(slog.DiscardHandler),
		Location: time.UTC, DefaultCountry: "DE", Now: time.Now}
}

func newEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	us := users.New(st, users.WithParams(fastHash))
	pw, _, err := us.EnsureAdmin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	d := app.Deps{Store: st, Users: us, Logger: slog.New(slog.DiscardHandler), Gatherer: reg,
		Version: app.VersionInfo{Version: "1.2.3-test"}, Location: time.UTC, DefaultCountry: "DE"}
	for _, o := range opts {
		o(&d)
	}
	h, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testEnv{t: t, srv: srv, store: st, users: us, adminPassword: pw}
}

// client is a browser-like client: cookie jar, no automatic redirects so
// tests see where a response sends the browser.
type client struct {
	env  *testEnv
	http *http.Client
	lang string
	// last page body, for token extraction
	body string
}

func (e *testEnv) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{env: e, lang: "en", http: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	code     int
	body     string
	location string
	header   http.Header
}

func (c *client) do(method, path string, body io.Reader, hdr map[string]string) resp {
	c.env.t.Helper()
	req, err := http.NewRequest(method, c.env.srv.URL+path, body)
	if err != nil {
		c.env.t.Fatal(err)
	}
	if c.lang != "" {
		req.Header.Set("Accept-Language", c.lang)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	r, err := c.http.Do(req)
	if err != nil {
		c.env.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	c.body = string(b)
	return resp{code: r.StatusCode, body: string(b), location: r.Header.Get("Location"), header: r.Header}
}

func (c *client) get(path string) resp { return c.do("GET", path, nil, nil) }

// post submits a form; token adds the page's CSRF/form token.
func (c *client) post(path string, form url.Values) resp {
	return c.do("POST", path, strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

var (
	csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	formRE = regexp.MustCompile(`name="form_token" value="([^"]+)"`)
)

func (c *client) token(re *regexp.Regexp) string {
	c.env.t.Helper()
	m := re.FindStringSubmatch(c.body)
	if m == nil {
		c.env.t.Fatalf("no token in page:\n%s", c.body)
	}
	return html.UnescapeString(m[1])
}

// setup completes first-run setup and leaves the client logged in as admin.
func (c *client) setup(newPassword string) {
	c.env.t.Helper()
	c.get("/setup")
	r := c.post("/setup", url.Values{"form_token": {c.token(formRE)}, "current_password": {c.env.adminPassword},
		"password": {newPassword}, "password2": {newPassword}, "language": {"en"}, "country": {"DE"}, "timezone": {"Europe/Berlin"}})
	if r.code != http.StatusSeeOther || r.location != "/" {
		c.env.t.Fatalf("setup: %d %s\n%s", r.code, r.location, r.body)
	}
}

func (c *client) login(name, pw string) resp {
	c.env.t.Helper()
	c.get("/login")
	return c.post("/login", url.Values{"form_token": {c.token(formRE)}, "username": {name}, "password": {pw}})
}

// csrf fetches a page and returns its session CSRF token.
func (c *client) csrf(path string) string {
	c.env.t.Helper()
	if r := c.get(path); r.code != http.StatusOK {
		c.env.t.Fatalf("GET %s: %d", path, r.code)
	}
	return c.token(csrfRE)
}

func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	plain := html.UnescapeString(body)
	for _, w := range wants {
		if !strings.Contains(body, w) && !strings.Contains(plain, w) {
			t.Fatalf("response lacks %q:\n%s", w, body)
		}
	}
}

// upload posts a streamed multipart form: fields in order, then the file.
func (c *client) uploadFile(path, field, name string, data []byte, fields ...string) resp {
	c.env.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		w.WriteField(fields[i], fields[i+1])
	}
	fw, _ := w.CreateFormFile(field, name)
	fw.Write(data)
	w.Close()
	return c.do("POST", path, &buf, map[string]string{"Content-Type": w.FormDataContentType()})
}

func operatorClient(t *testing.T, env *testEnv) *client {
	t.Helper()
	if err := env.users.Add(context.Background(), "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	op := env.client()
	if r := op.login("olga", "operator password"); r.code != http.StatusSeeOther {
		t.Fatalf("operator login: %d", r.code)
	}
	return op
}

// startEngine runs a real campaign engine with cfg (Store, Channels,
// Logger, Location and Region filled in when empty) on the test store
// until the test ends, and gives it to the portal.
func startEngine(t *testing.T, d *app.Deps, chans map[string]campaign.Channel, cfg campaign.Config) *campaign.Engine {
	t.Helper()
	cfg.Store, cfg.Channels = d.Store, chans
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Region == "" {
		cfg.Region = "DE"
	}
	eng, err := campaign.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	d.Campaigns = app.EngineCampaigns(eng, chans)
	return eng
}
