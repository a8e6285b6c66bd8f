package web

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// withGate gives the portal a users.Service (same store, same admin)
// whose hashing goes through g.
func withGate(g *users.HashGate, p users.Params) envOption {
	return func(d *app.Deps) { d.Users = users.New(d.Store, users.WithParams(p), users.WithHashGate(g)) }
}

// holdGate occupies all of g's slots until release.
func holdGate(t *testing.T, g *users.HashGate) (release func()) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	n := g.Stats().Limit
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = g.Do(context.Background(), func() { <-stop })
		}()
	}
	waitFor(t, "gate held", func() bool { return g.Stats().InFlight == n })
	return func() { close(stop); wg.Wait() }
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// loginForm is a fresh browser's login form: its client and form token.
func loginForm(env *testEnv) (*client, string) {
	c := env.client()
	c.get("/login")
	return c, c.token(formRE)
}

// Eight portal logins at once, over loopback: they queue behind the gate
// and all succeed; never more than the gate's limit hash at once.
func TestConcurrentLoginsBounded(t *testing.T) {
	t.Parallel()
	g := users.NewHashGate(1, users.DefaultHashQueue)
	env := newEnv(t, withGate(g, fastHash))
	env.client().setup("admin password 1")

	forms := make([]*client, 8)
	tokens := make([]string, 8)
	for i := range forms {
		forms[i], tokens[i] = loginForm(env)
	}
	release := holdGate(t, g)
	codes := make(chan resp, 8)
	for i := range forms {
		go func() {
			codes <- forms[i].post("/login", url.Values{"form_token": {tokens[i]}, "username": {"admin"}, "password": {"admin password 1"}})
		}()
	}
	waitFor(t, "8 logins queued", func() bool { return g.Stats().Waiting == 8 })
	release()
	for range 8 {
		if r := <-codes; r.code != http.StatusSeeOther || r.location != "/" {
			t.Errorf("login: %d %s", r.code, r.location)
		}
	}
	if st := g.Stats(); st.Peak != 1 || st.Rejected != 0 {
		t.Fatalf("gate: %+v, want at most 1 hash at once and none refused", st)
	}
}

// When more logins wait than the gate queues, the next is told to try
// again (503, Retry-After, in the user's language) at once, without a
// hash and without counting as a failed login.
func TestLoginBusyWhenQueueFull(t *testing.T) {
	t.Parallel()
	g := users.NewHashGate(1, 2)
	env := newEnv(t, withGate(g, fastHash))
	env.client().setup("admin password 1")

	var queued []chan resp
	var forms []*client
	var tokens []string
	for range 3 {
		c, tok := loginForm(env)
		forms, tokens = append(forms, c), append(tokens, tok)
	}
	release := holdGate(t, g)
	for i := range 2 {
		ch := make(chan resp, 1)
		queued = append(queued, ch)
		go func() {
			ch <- forms[i].post("/login", url.Values{"form_token": {tokens[i]}, "username": {"admin"}, "password": {"admin password 1"}})
		}()
	}
	waitFor(t, "2 logins queued", func() bool { return g.Stats().Waiting == 2 })
	forms[2].lang = "de"
	r := forms[2].post("/login", url.Values{"form_token": {tokens[2]}, "username": {"admin"}, "password": {"admin password 1"}})
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("login with a full queue: %d Retry-After %q", r.code, r.header.Get("Retry-After"))
	}
	mustContain(t, r.body, "Gerade werden zu viele Anmeldungen geprüft")
	release()
	for _, ch := range queued {
		if r := <-ch; r.code != http.StatusSeeOther {
			t.Errorf("queued login: %d", r.code)
		}
	}
	// The refusal was no failed login: the same browser logs in now.
	if r := forms[2].post("/login", url.Values{"form_token": {tokens[2]}, "username": {"admin"}, "password": {"admin password 1"}}); r.code != http.StatusSeeOther {
		t.Fatalf("login after the burst: %d", r.code)
	}
	if st := g.Stats(); st.Rejected != 1 || st.Peak != 1 {
		t.Fatalf("gate: %+v", st)
	}
}

// BenchmarkConcurrentLogins: 8 portal logins at once over loopback with
// the production argon2id parameters (users.DefaultParams), through the
// default gate and through one wide enough for all eight (unbounded, as
// before issue 15). Reports the process's peak RSS above its RSS before
// the burst and the most hashes that ran at once.
func BenchmarkConcurrentLogins(b *testing.B) {
	for _, bc := range []struct {
		name  string
		limit int
	}{{"default-gate", users.DefaultMaxHashes}, {"unbounded", 8}} {
		b.Run(bc.name, func(b *testing.B) {
			g := users.NewHashGate(bc.limit, users.DefaultHashQueue)
			base := newLoginBench(b, g)
			var peak int64
			for b.Loop() {
				forms := make([]benchForm, 8)
				for i := range forms {
					forms[i] = openLoginForm(b, base)
				}
				before := readMem()
				resetPeakRSS()
				var wg sync.WaitGroup
				for i := range forms {
					wg.Go(func() {
						if code := forms[i].submit(base, "admin", "admin password 1"); code != http.StatusSeeOther {
							b.Errorf("login: %d", code)
						}
					})
				}
				wg.Wait()
				after := readMem()
				peak = max(peak, after.hwmKB-before.rssKB)
			}
			b.ReportMetric(float64(peak)/1024, "peak-RSS-MB")
			b.ReportMetric(float64(g.Stats().Peak), "hashes-at-once")
		})
	}
}

// newLoginBench serves a set-up portal whose admin has the password
// "admin password 1" hashed with DefaultParams; hashing goes through g.
func newLoginBench(b *testing.B, g *users.HashGate) string {
	b.Helper()
	st, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	us := users.New(st, users.WithHashGate(g))
	ctx := context.Background()
	if err := us.Add(ctx, "admin", "admin password 1", users.RoleAdmin); err != nil {
		b.Fatal(err)
	}
	s, err := newServer(app.Deps{Store: st, Users: us, Logger: slog.New(slog.DiscardHandler), Location: time.UTC, Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SaveSettings(app.Settings{SetupDone: true, Language: "en", DefaultCountry: "DE", TimeZone: "UTC"}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.handler())
	b.Cleanup(srv.Close)
	return srv.URL
}

type benchForm struct {
	http  *http.Client
	token string
}

func openLoginForm(b *testing.B, base string) benchForm {
	jar, _ := cookiejar.New(nil)
	f := benchForm{http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	r, err := f.http.Get(base + "/login")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	m := formRE.FindSubmatch(body)
	if m == nil {
		b.Fatal("no form token")
	}
	f.token = html.UnescapeString(string(m[1]))
	return f
}

func (f benchForm) submit(base, user, pw string) int {
	r, err := f.http.PostForm(base+"/login", url.Values{"form_token": {f.token}, "username": {user}, "password": {pw}})
	if err != nil {
		return 0
	}
	r.Body.Close()
	return r.StatusCode
}
