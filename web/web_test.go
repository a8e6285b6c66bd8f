package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

func TestHealthReadyMetrics(t *testing.T) {
	t.Parallel()
	ready := true
	env := newEnv(t, func(d *app.Deps) {
		d.Ready = func(context.Context) app.Readiness {
			if ready {
				return app.Readiness{Ready: true, Components: []app.Component{{Name: "store", State: "ok"}}}
			}
			return app.Readiness{Ready: false, Components: []app.Component{{Name: "modem:0", State: "down", Detail: "port gone"}}}
		}
	})
	c := env.client()
	r := c.get("/healthz")
	if r.code != http.StatusOK || strings.TrimSpace(r.body) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", r.code, r.body)
	}
	r = c.get("/readyz")
	var rd app.Readiness
	if err := json.Unmarshal([]byte(r.body), &rd); err != nil || r.code != http.StatusOK || !rd.Ready || rd.Components[0].Name != "store" {
		t.Fatalf("readyz: %d %s", r.code, r.body)
	}
	ready = false
	r = c.get("/readyz")
	if r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "port gone") {
		t.Fatalf("readyz not ready: %d %s", r.code, r.body)
	}
	r = c.get("/metrics")
	if r.code != http.StatusOK || !strings.Contains(r.body, "go_goroutines") {
		t.Fatalf("metrics: %d", r.code)
	}
	// Everything else needs setup first.
	if r := c.get("/"); r.code != http.StatusSeeOther || r.location != "/setup" {
		t.Fatalf("/ before setup: %d %s", r.code, r.location)
	}
	if r := c.get("/api/v1/me"); r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, `"code":"setup_required"`) {
		t.Fatalf("api before setup: %d %s", r.code, r.body)
	}
}

func TestMetricsCanRequireAuth(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(d *app.Deps) { d.MetricsRequireAuth = true })
	c := env.client()
	if r := c.get("/metrics"); r.code != http.StatusUnauthorized {
		t.Fatalf("metrics without auth: %d", r.code)
	}
	tok, err := env.users.CreateToken(context.Background(), "admin", "prometheus")
	if err != nil {
		t.Fatal(err)
	}
	if r := c.do("GET", "/metrics", nil, map[string]string{"Authorization": "Bearer " + tok}); r.code != http.StatusOK {
		t.Fatalf("metrics with token: %d", r.code)
	}
}

func TestExtraHandlersMountedWithoutAuth(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(d *app.Deps) {
		d.Extra = map[string]http.Handler{
			"/webhooks/whatsapp": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hook:" + r.Method)) }),
			"/hooks/":            http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("tree:" + r.URL.Path)) }),
		}
	})
	c := env.client()
	if r := c.get("/webhooks/whatsapp"); r.code != http.StatusOK || r.body != "hook:GET" {
		t.Fatalf("extra GET: %d %q", r.code, r.body)
	}
	if r := c.do("POST", "/webhooks/whatsapp", strings.NewReader("{}"), map[string]string{"Content-Type": "application/json"}); r.body != "hook:POST" {
		t.Fatalf("extra POST: %d %q", r.code, r.body)
	}
	if r := c.get("/hooks/a/b"); r.body != "tree:/hooks/a/b" {
		t.Fatalf("extra subtree: %d %q", r.code, r.body)
	}
}

func TestFirstRunSetup(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	c := env.client()
	c.lang = "de-DE,de;q=0.9"
	r := c.get("/setup")
	mustContain(t, r.body, "Ersteinrichtung", "Erstpasswort von der Konsole")
	form := func(cur, pw, pw2, country, tz string) url.Values {
		c.get("/setup")
		return url.Values{"form_token": {c.token(formRE)}, "current_password": {cur}, "password": {pw}, "password2": {pw2},
			"language": {"de"}, "country": {country}, "timezone": {tz}}
	}
	// Wrong console password, short password, bad country and zone: all
	// reported next to their fields, in German.
	r = c.post("/setup", form("wrong", "short", "short", "Germany", "Mars/Olympus"))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("bad setup: %d", r.code)
	}
	mustContain(t, r.body, "Das Passwort ist falsch.", "mindestens 10 Zeichen", "zweistelligen ISO-Ländercode", "Unbekannte Zeitzone")
	r = c.post("/setup", form(env.adminPassword, "new password 1", "new password 2", "DE", "Europe/Berlin"))
	mustContain(t, r.body, "Die Passwörter stimmen nicht überein.")
	r = c.post("/setup", form(env.adminPassword, env.adminPassword, env.adminPassword, "DE", "Europe/Berlin"))
	mustContain(t, r.body, "nicht das Erstpasswort")

	// Without the form token the POST is refused.
	r = c.post("/setup", url.Values{"current_password": {env.adminPassword}, "password": {"x"}})
	if r.code != http.StatusForbidden {
		t.Fatalf("setup without form token: %d", r.code)
	}

	r = c.post("/setup", form(env.adminPassword, "chosen password", "chosen password", "at", "Europe/Vienna"))
	if r.code != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("setup: %d %s %s", r.code, r.location, r.body)
	}
	r = c.get("/")
	if r.code != http.StatusOK {
		t.Fatalf("dashboard after setup: %d", r.code)
	}
	mustContain(t, r.body, "Einrichtung abgeschlossen", "Übersicht", "Nachrichtenkampagne")
	st, err := app.LoadSettings(env.store)
	if err != nil || !st.SetupDone || st.DefaultCountry != "AT" || st.TimeZone != "Europe/Vienna" || st.Language != "de" {
		t.Fatalf("settings = %+v, %v", st, err)
	}
	// The console password no longer works; setup is closed.
	if _, err := env.users.Authenticate(context.Background(), "admin", env.adminPassword); err == nil {
		t.Fatal("first-run password still valid")
	}
	if r := env.client().get("/setup"); r.code != http.StatusSeeOther || r.location != "/login" {
		t.Fatalf("setup after done: %d %s", r.code, r.location)
	}
}

func TestLoginLogoutAndRateLimit(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	admin := env.client()
	admin.setup("admin password")

	c := env.client()
	if r := c.get("/campaigns"); r.code != http.StatusSeeOther || r.location != "/login" {
		t.Fatalf("unauthenticated: %d %s", r.code, r.location)
	}
	r := c.login("admin", "wrong password")
	if r.code != http.StatusUnauthorized {
		t.Fatalf("bad login: %d", r.code)
	}
	mustContain(t, r.body, "Wrong user name or password.")
	r = c.login("admin", "admin password")
	if r.code != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("login: %d %s", r.code, r.location)
	}
	var sessionCookieSeen bool
	for _, ck := range c.http.Jar.Cookies(mustURL(env.srv.URL)) {
		sessionCookieSeen = sessionCookieSeen || ck.Name == app.SessionCookie
	}
	if !sessionCookieSeen {
		t.Fatal("no session cookie")
	}
	tok := c.csrf("/")
	if r := c.post("/logout", url.Values{"csrf_token": {tok}}); r.code != http.StatusSeeOther || r.location != "/login" {
		t.Fatalf("logout: %d %s", r.code, r.location)
	}
	if r := c.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("after logout: %d", r.code)
	}

	// Five failures lock the account out for this client, even with the
	// right password, and say for how long.
	for range 5 {
		c.login("admin", "guess guess")
	}
	r = c.login("admin", "admin password")
	if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("rate limit: %d", r.code)
	}
	mustContain(t, r.body, "Too many failed logins")

	// A client cannot dodge the limit with its own X-Forwarded-For.
	d := env.client()
	for i := range 6 {
		d.get("/login")
		r = d.do("POST", "/login", strings.NewReader(url.Values{"form_token": {d.token(formRE)}, "username": {"nobody"}, "password": {"guess guess"}}.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": fmt.Sprintf("10.0.0.%d", i)})
	}
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("X-Forwarded-For bypassed the rate limit: %d", r.code)
	}
}

func TestAuditLogBounded(t *testing.T) {
	t.Parallel()
	s, err := newServer(testDeps(t))
	if err != nil {
		t.Fatal(err)
	}
	s.AuditKeep = 3
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest("POST", "/", nil)
	for i := range 5 {
		s.Audit(c, "user.add", fmt.Sprint("u", i))
	}
	got := s.RecentAudit(10)
	if len(got) != 3 || got[0].Target != "u4" || got[2].Target != "u2" {
		t.Fatalf("audit = %+v, want the newest 3", got)
	}
}

func TestSessionCookieFlags(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.client().setup("admin password")
	c := env.client()
	c.get("/login")
	req, _ := http.NewRequest("POST", env.srv.URL+"/login", strings.NewReader(url.Values{
		"form_token": {c.token(formRE)}, "username": {"admin"}, "password": {"admin password"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	for _, ck := range c.http.Jar.Cookies(mustURL(env.srv.URL)) {
		req.AddCookie(ck)
	}
	r, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	var found bool
	for _, ck := range r.Cookies() {
		if ck.Name == app.SessionCookie {
			found = true
			if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode {
				t.Fatalf("session cookie flags: %+v", ck)
			}
		}
	}
	if !found {
		t.Fatal("no session cookie set")
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	c := env.client()
	c.setup("admin password")
	tok := c.csrf("/system")
	form := url.Values{"label": {"ci"}}
	// Missing token.
	if r := c.post("/system/tokens", form); r.code != http.StatusForbidden {
		t.Fatalf("no csrf token: %d", r.code)
	}
	// Wrong token.
	form.Set("csrf_token", tok+"x")
	if r := c.post("/system/tokens", form); r.code != http.StatusForbidden {
		t.Fatalf("wrong csrf token: %d", r.code)
	}
	// Right token but a cross-site request (browser metadata).
	form.Set("csrf_token", tok)
	r := c.do("POST", "/system/tokens", strings.NewReader(form.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "cross-site"})
	if r.code != http.StatusForbidden {
		t.Fatalf("cross-site: %d", r.code)
	}
	r = c.do("POST", "/system/tokens", strings.NewReader(form.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}) // netscope: an Origin header the portal must refuse
	if r.code != http.StatusForbidden {
		t.Fatalf("foreign origin: %d", r.code)
	}
	toks, _ := env.users.ListTokens(context.Background(), "")
	if len(toks) != 0 {
		t.Fatalf("a rejected request created a token: %+v", toks)
	}
	// Same request, proper: works and shows the token once.
	r = c.post("/system/tokens", form)
	if r.code != http.StatusOK {
		t.Fatalf("create token: %d %s", r.code, r.body)
	}
	mustContain(t, r.body, "pbxg_", "Copy the token now")
}

func TestRolesOnServer(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	admin := env.client()
	admin.setup("admin password")
	ctx := context.Background()
	if err := env.users.Add(ctx, "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	op := env.client()
	if r := op.login("olga", "operator password"); r.code != http.StatusSeeOther {
		t.Fatalf("operator login: %d", r.code)
	}
	tok := op.csrf("/system")
	if strings.Contains(op.body, `id="user-add"`) {
		t.Fatal("operator sees the add-user form")
	}
	// Posting anyway is refused by the server.
	r := op.post("/system/users", url.Values{"csrf_token": {tok}, "new_name": {"mallory"}, "new_password": {"mallory password"}, "role": {"admin"}})
	if r.code != http.StatusForbidden {
		t.Fatalf("operator adds user: %d", r.code)
	}
	if _, err := env.users.Get(ctx, "mallory"); err == nil {
		t.Fatal("operator created a user")
	}
	r = op.post("/system/settings", url.Values{"csrf_token": {tok}, "country": {"US"}, "timezone": {"UTC"}})
	if r.code != http.StatusForbidden {
		t.Fatalf("operator changes settings: %d", r.code)
	}
	// API: operator token cannot list users, admin token can.
	opTok, _ := env.users.CreateToken(ctx, "olga", "op")
	adTok, _ := env.users.CreateToken(ctx, "admin", "ad")
	if r := op.do("GET", "/api/v1/users", nil, map[string]string{"Authorization": "Bearer " + opTok}); r.code != http.StatusForbidden || !strings.Contains(r.body, `"code":"forbidden"`) {
		t.Fatalf("operator api users: %d %s", r.code, r.body)
	}
	if r := op.do("GET", "/api/v1/users", nil, map[string]string{"Authorization": "Bearer " + adTok}); r.code != http.StatusOK || !strings.Contains(r.body, `"olga"`) {
		t.Fatalf("admin api users: %d %s", r.code, r.body)
	}
	if r := op.do("GET", "/api/v1/me", nil, map[string]string{"Authorization": "Bearer pbxg_nope"}); r.code != http.StatusUnauthorized {
		t.Fatalf("bad token: %d", r.code)
	}

	// Admin adds a user; validation errors are next to the field.
	tok = admin.csrf("/system")
	r = admin.post("/system/users", url.Values{"csrf_token": {tok}, "new_name": {"bob"}, "new_password": {"short"}, "role": {"operator"}})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("weak password add: %d", r.code)
	}
	idx := strings.Index(r.body, `id="new_password"`)
	if idx < 0 || !strings.Contains(r.body[idx:idx+400], "at least 10 characters") {
		t.Fatalf("error not next to the password field:\n%s", r.body)
	}
	r = admin.post("/system/users", url.Values{"csrf_token": {tok}, "new_name": {"bob"}, "new_password": {"bob password"}, "role": {"operator"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("add user: %d %s", r.code, r.body)
	}
	if u, err := env.users.Get(ctx, "bob"); err != nil || u.Role != "operator" {
		t.Fatalf("bob = %+v %v", u, err)
	}
	// Audit log records it.
	r = admin.get("/system")
	mustContain(t, r.body, "User added", "bob (operator)")
	// An admin sets olga's password (forgotten): her session ends.
	r = admin.post("/system/users/olga/password", url.Values{"csrf_token": {tok}, "password": {"short"}})
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "at least 10 characters") {
		t.Fatalf("weak reset: %d", r.code)
	}
	r = admin.post("/system/users/olga/password", url.Values{"csrf_token": {tok}, "password": {"new operator pw"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("reset: %d", r.code)
	}
	if r := op.get("/"); r.code != http.StatusSeeOther {
		t.Fatalf("olga's session survived the reset: %d", r.code)
	}
	if _, err := env.users.Authenticate(ctx, "olga", "new operator pw"); err != nil {
		t.Fatal(err)
	}
	op.login("olga", "new operator pw")
	// Deleting olga ends her session at once.
	// Without the confirmation the portal asks first and deletes nothing.
	r = admin.post("/system/users/olga/delete", url.Values{"csrf_token": {tok}})
	mustContain(t, r.body, `id="confirm-page"`, "Yes, delete the user “olga”.", `action="/system/users/olga/delete"`, `name="confirm" value="yes"`)
	if _, err := env.users.Authenticate(ctx, "olga", "new operator pw"); err != nil {
		t.Fatalf("olga deleted without confirmation: %v", err)
	}
	r = admin.post("/system/users/olga/delete", url.Values{"csrf_token": {tok}, "confirm": {"yes"}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.code)
	}
	if r := op.get("/"); r.code != http.StatusSeeOther || r.location != "/login" {
		t.Fatalf("deleted user's session: %d %s", r.code, r.location)
	}
}

func TestLanguageSwitch(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	c := env.client()
	c.setup("admin password")
	c.lang = ""
	// Setup chose English; the cookie set there wins.
	mustContain(t, c.get("/").body, "Dashboard", `lang="en"`)
	r := c.get("/lang/de?next=/campaigns")
	if r.code != http.StatusSeeOther || r.location != "/campaigns" {
		t.Fatalf("lang switch: %d %s", r.code, r.location)
	}
	mustContain(t, c.get("/").body, "Übersicht", `lang="de"`)
	// Open redirects are refused.
	if r := c.get("/lang/en?next=//evil.example/"); r.location != "/" {
		t.Fatalf("open redirect: %s", r.location)
	}
}

func TestBackupDownloadRestores(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	admin := env.client()
	admin.setup("admin password")
	ctx := context.Background()
	if err := env.users.Add(ctx, "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	op := env.client()
	op.login("olga", "operator password")
	if r := op.get("/system/backup"); r.code != http.StatusForbidden {
		t.Fatalf("operator backup: %d", r.code)
	}
	r := admin.get("/system/backup")
	if r.code != http.StatusOK || !strings.Contains(r.header.Get("Content-Disposition"), "pbxgate-backup-") || len(r.body) == 0 {
		t.Fatalf("backup: %d %v", r.code, r.header)
	}
	dir := t.TempDir() + "/restored"
	if err := store.Restore(ctx, dir, strings.NewReader(r.body), nil); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := users.New(st, users.WithParams(fastHash)).Authenticate(ctx, "olga", "operator password"); err != nil {
		t.Fatalf("restored store lacks olga: %v", err)
	}
	mustContain(t, admin.get("/system").body, "Backup downloaded")
}

func TestWhatsAppSetupPage(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(d *app.Deps) {
		d.WhatsApp = &app.WhatsAppSetup{WebhookPath: "/webhooks/whatsapp", VerifyToken: "verify-me-123", PhoneNumberID: "1234567890", TokenSet: true}
	})
	admin := env.client()
	admin.setup("admin password")
	r := admin.get("/whatsapp")
	mustContain(t, r.body, env.srv.URL+"/webhooks/whatsapp", "verify-me-123", "1234567890", "set (hidden)")
	if err := env.users.Add(context.Background(), "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	op := env.client()
	op.login("olga", "operator password")
	r = op.get("/whatsapp")
	if strings.Contains(r.body, "verify-me-123") {
		t.Fatal("operator sees the verify token")
	}
	mustContain(t, r.body, "visible to administrators only")
	// Without the channel the page says so.
	env2 := newEnv(t)
	c := env2.client()
	c.setup("admin password")
	mustContain(t, c.get("/whatsapp").body, "WhatsApp is not configured.")
}

// TestSetupWithExistingUsers: users created with `pbxgate user add` before
// the first start finish setup by logging in as an administrator.
func TestSetupWithExistingUsers(t *testing.T) {
	t.Parallel()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	us := users.New(st, users.WithParams(fastHash))
	ctx := context.Background()
	if err := us.Add(ctx, "root", "root password", users.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := us.Add(ctx, "olga", "operator password", users.RoleOperator); err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, func(d *app.Deps) { d.Store, d.Users = st, us })
	c := env.client()
	r := c.get("/setup")
	mustContain(t, r.body, "Users already exist", `id="username"`)
	submit := func(user, pw string) resp {
		c.get("/setup")
		return c.post("/setup", url.Values{"form_token": {c.token(formRE)}, "username": {user}, "current_password": {pw},
			"language": {"en"}, "country": {"DE"}, "timezone": {"Europe/Berlin"}})
	}
	if r := submit("olga", "operator password"); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "administrators only") {
		t.Fatalf("operator finishing setup: %d", r.code)
	}
	if r := submit("root", "wrong password"); r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Wrong user name or password.") {
		t.Fatalf("wrong password: %d", r.code)
	}
	if r := submit("root", "root password"); r.code != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("setup: %d %s", r.code, r.body)
	}
	mustContain(t, c.get("/").body, "root · Administrator")
}

func TestClickToChat(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	c := env.client()
	c.setup("admin password")
	r := c.get("/clicktochat?kind=whatsapp&number=0171+1234567&text=JOIN+news")
	mustContain(t, r.body, "https://wa.me/491711234567?text=JOIN", "data:image/svg+xml;base64,", `id="ctc-png"`) // netscope: a link built, not followed
	// The page's own PNG link works: its query string is not HTML-escaped
	// into the attribute (it used to answer 400).
	m := regexp.MustCompile(`href="(/clicktochat/qr\.png\?[^"]*)" id="ctc-png"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no PNG link in %s", r.body)
	}
	pngHref := html.UnescapeString(m[1])
	if !strings.Contains(pngHref, "&number=0171+1234567") || !strings.Contains(pngHref, "text=JOIN+news") {
		t.Fatalf("PNG link %q", pngHref)
	}
	r = c.get(pngHref)
	if r.code != http.StatusOK || !strings.HasPrefix(r.body, "\x89PNG") {
		t.Fatalf("page's PNG link %s: %d %q", pngHref, r.code, r.body[:min(8, len(r.body))])
	}
	r = c.get("/clicktochat/qr.png?kind=sms&number=%2B4917112345678&text=START")
	if r.code != http.StatusOK || !strings.HasPrefix(r.body, "\x89PNG") {
		t.Fatalf("qr png: %d %q", r.code, r.body[:min(8, len(r.body))])
	}
	r = c.get("/clicktochat?kind=sms&number=%2B4917112345678&text=START")
	mustContain(t, r.body, `href="sms:+4917112345678`)
	r = c.get("/clicktochat?kind=sms&number=abc")
	mustContain(t, r.body, "Enter a valid phone number.")
}
