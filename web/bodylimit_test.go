package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/screens"

	"github.com/pbxgate/pbxgate/drivers/forward"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/rules"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// bodyEnv is a portal with setup done, a rules engine (so /rules/test
// reads its body), two mounted machine endpoints (as webhooks are) and an
// admin's API token. read counts the body bytes the handlers pulled from
// the connection, outside the whole gin stack.
type bodyEnv struct {
	*testEnv
	http  *http.Client
	token string
	// noExpect sends declared bodies without Expect: 100-continue, as a
	// hostile client would.
	noExpect bool
	s        *server
	read     atomic.Int64
}

func newBodyEnv(t *testing.T) *bodyEnv {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	us := users.New(st, users.WithParams(fastHash))
	if _, _, err := us.EnsureAdmin(context.Background()); err != nil {
		t.Fatal(err)
	}
	cons, err := consent.New(consent.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.New(rules.Config{Store: st, Consent: cons, Replier: &replies{}, Location: time.UTC,
		HTTP: forward.NewHTTP(forward.HTTPConfig{Timeout: 5 * time.Second}), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	readAll := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, "read: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	d := app.Deps{Store: st, Users: us, Logger: slog.New(slog.DiscardHandler), Location: time.UTC, DefaultCountry: "DE", Now: time.Now,
		Rules: eng, Consent: cons, Extra: map[string]http.Handler{"/webhooks/test": readAll, "/ctl/": readAll}}
	s, err := newServer(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSettings(app.Settings{SetupDone: true, Language: "en", DefaultCountry: "DE", TimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	tok, err := us.CreateToken(context.Background(), users.FirstAdmin, "body test")
	if err != nil {
		t.Fatal(err)
	}
	e := &bodyEnv{s: s, token: tok, http: &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}}
	h := s.handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = &countingBody{ReadCloser: r.Body, n: &e.read}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	e.testEnv = &testEnv{t: t, srv: srv, store: st, users: us}
	return e
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// jsonFlood is an endless JSON string value, {"label":"aaaa…, so JSON
// decoders keep reading; n bytes in all.
type jsonFlood struct{ left int64 }

func (f *jsonFlood) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), f.left))
	for i := range n {
		p[i] = 'a'
	}
	f.left -= int64(n)
	return n, nil
}

func flood(n int64) io.Reader {
	return io.MultiReader(strings.NewReader(`{"label":"`), &jsonFlood{left: n})
}

// routeURL fills a gin route pattern with placeholder parameters.
func routeURL(pattern string) string {
	parts := strings.Split(pattern, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
			parts[i] = "x1"
		}
	}
	return strings.Join(parts, "/")
}

// send streams body to route. chunked leaves Content-Length unset; a
// declared body is sent with Expect: 100-continue, as curl does for large
// bodies, so the client sees an early refusal instead of a reset.
func (e *bodyEnv) send(method, path string, body io.Reader, size int64, chunked bool, lang string) (int, string, http.Header, error) {
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		return 0, "", nil, err
	}
	req.ContentLength = size
	if chunked {
		req.ContentLength = -1
	} else if !e.noExpect {
		req.Header.Set("Expect", "100-continue")
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/json")
	if !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/webhooks/") && !strings.HasPrefix(path, "/ctl/") {
		// Portal routes read forms.
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept-Language", lang)
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), resp.Header, nil
}

func wantTooLarge(t *testing.T, what string, code int, body string, hdr http.Header) {
	t.Helper()
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("%s: status %d, want 413; body %.200s", what, code, body)
		return
	}
	if strings.HasPrefix(what, http.MethodHead+" ") {
		return // no body
	}
	if strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != "too_large" || !strings.Contains(e.Error.Message, "MB") {
			t.Errorf("%s: 413 body %q, want the too_large error naming the limit", what, body)
		}
		return
	}
	if !strings.Contains(body, "larger than") {
		t.Errorf("%s: 413 page lacks the explanation: %.300s", what, body)
	}
}

// TestUploadLimitsAreRoutes: every route given a larger body budget exists
// (a renamed upload route must not silently fall back to 1 MiB), and only
// uploads get one.
func TestUploadLimitsAreRoutes(t *testing.T) {
	t.Parallel()
	e := newBodyEnv(t)
	served := map[string]bool{}
	for _, r := range e.s.engine().Routes() {
		served[r.Method+" "+r.Path] = true
	}
	for route, limit := range app.UploadLimits {
		if !served[route] {
			t.Errorf("uploadLimits names %q, which is not a route", route)
		}
		if limit <= app.DefaultBodyLimit {
			t.Errorf("%s: limit %d is not above the default", route, limit)
		}
	}
	// The upload handlers' own limits and the budget agree: a body just
	// over the budget is refused before the handler, one just over the
	// default is not.
	h := e.s.handler()
	for route, limit := range app.UploadLimits {
		method, path, _ := strings.Cut(route, " ")
		for _, size := range []int64{limit + 1, app.DefaultBodyLimit + 1} {
			req := httptest.NewRequest(method, routeURL(path), strings.NewReader("x"))
			req.ContentLength = size
			req.Header.Set("Authorization", "Bearer "+e.token)
			req.Header.Set("Content-Type", "application/octet-stream")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := rec.Code == http.StatusRequestEntityTooLarge; got != (size > limit) {
				t.Errorf("%s with Content-Length %d: status %d", route, size, rec.Code)
			}
		}
	}
}

// TestOversizedBodyEveryRoute sends every route of the router (listed
// from the router itself, so new routes are covered) a body over its
// budget, declared and chunked, over loopback as the bearer-token admin.
func TestOversizedBodyEveryRoute(t *testing.T) {
	t.Parallel()
	e := newBodyEnv(t)
	routes := e.s.engine().Routes()
	if len(routes) < 100 {
		t.Fatalf("only %d routes", len(routes))
	}
	hits := map[string]bool{}
	for _, r := range routes {
		if r.Method == http.MethodConnect || r.Method == http.MethodTrace {
			continue // Any() mounts; net/http's client cannot send these with a body
		}
		limit := app.BodyLimit(r.Method, r.Path)
		if limit > app.DefaultBodyLimit {
			continue // uploads: TestUploadLimitsAreRoutes (no 4 GB over loopback)
		}
		what := r.Method + " " + r.Path
		url := routeURL(r.Path)
		size := limit + 64<<10

		// Declared: refused before any handler reads a byte.
		e.read.Store(0)
		code, body, hdr, err := e.send(r.Method, url, flood(size), size+int64(len(`{"label":"`)), false, "en")
		if err != nil {
			t.Errorf("%s declared: %v", what, err)
			continue
		}
		wantTooLarge(t, what+" (declared)", code, body, hdr)
		if n := e.read.Load(); n != 0 {
			t.Errorf("%s (declared): handlers read %d bytes of a refused body", what, n)
		}

		// Chunked: whoever reads past the budget gets a 413, and
		// nobody reads more than the budget.
		e.read.Store(0)
		code, body, hdr, err = e.send(r.Method, url, flood(size), 0, true, "en")
		if err != nil {
			t.Errorf("%s chunked: %v", what, err)
			continue
		}
		n := e.read.Load()
		if n > limit+1 {
			t.Errorf("%s (chunked): handlers read %d bytes, budget %d", what, n, limit)
		}
		if n > limit {
			hits[what] = true
			wantTooLarge(t, what+" (chunked)", code, body, hdr)
		} else if code == http.StatusRequestEntityTooLarge {
			hits[what] = true // a handler's own smaller limit (bodyTooLarge)
			wantTooLarge(t, what+" (chunked)", code, body, hdr)
		}
	}
	// The routes the issue measured (RSS 93 → 944 MB) and the mounted
	// machine endpoints read their bodies: they must have hit the budget.
	for _, want := range []string{"POST /api/v1/tokens", "POST /api/v1/users", "POST /api/v1/rules/test",
		"PUT /api/v1/me/password", "POST /api/v1/groups", "POST /webhooks/test", "POST /ctl/*rest", "POST /automation/test"} {
		if !hits[want] {
			t.Errorf("%s did not read its oversized chunked body up to the budget", want)
		}
	}
	t.Logf("%d routes, %d read a chunked body up to the budget", len(routes), len(hits))
}

// TestTooLargeInUsersLanguage: the portal's 413 is a page in the browser's
// language, the API's a JSON error (German when asked).
func TestTooLargeInUsersLanguage(t *testing.T) {
	t.Parallel()
	e := newBodyEnv(t)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/login", flood(2<<20))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: screens.FormCookie, Value: strings.Repeat("f", 32)})
	req.Header.Set("Accept-Language", "de-AT,de;q=0.9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "größer als 1 MB") ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("portal: %d %s\n%.400s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	code, body, _, err := e.send(http.MethodPost, "/api/v1/tokens", flood(2<<20), 0, true, "de")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "größer als 1 MB") || !strings.Contains(body, `"too_large"`) {
		t.Fatalf("API (de): %d %s", code, body)
	}
	code, body, _, err = e.send(http.MethodPost, "/api/v1/tokens", flood(2<<20), 0, true, "")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than 1 MB") {
		t.Fatalf("API (no language): %d %s", code, body)
	}
}

// memNow is the process's allocation counter, live heap (after a GC) and
// peak RSS since the last resetPeakRSS.
type memNow struct {
	totalAlloc, heapInuse uint64
	hwmKB, rssKB          int64
}

func readMem() memNow {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := memNow{totalAlloc: ms.TotalAlloc, heapInuse: ms.HeapInuse}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				switch f[0] {
				case "VmHWM:":
					m.hwmKB, _ = strconv.ParseInt(f[1], 10, 64)
				case "VmRSS:":
					m.rssKB, _ = strconv.ParseInt(f[1], 10, 64)
				}
			}
		}
	}
	return m
}

// resetPeakRSS restarts VmHWM at the current RSS (Linux: clear_refs 5).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// TestOversizedBodyMemory streams 200 MiB to the routes the issue measured
// (and to a mounted webhook), declared and chunked, and checks that the
// process allocated and held far less than the body: a handler buffering
// it would allocate at least 200 MiB.
func TestOversizedBodyMemory(t *testing.T) {
	// Not parallel: it measures the process.
	e := newBodyEnv(t)
	const size = 200 << 20
	const bound = 32 << 20 // generous: the budget is 1 MiB
	modes := []struct {
		name              string
		chunked, noExpect bool
	}{{"declared", false, false}, {"declared, no Expect: 100-continue", false, true}, {"chunked", true, false}}
	for _, route := range []string{"/api/v1/tokens", "/api/v1/users", "/api/v1/rules/test", "/webhooks/test"} {
		for _, m := range modes {
			what := fmt.Sprintf("POST %s (%s)", route, m.name)
			e.noExpect = m.noExpect
			before := readMem()
			resetPeakRSS()
			code, body, hdr, err := e.send(http.MethodPost, route, flood(size), size+int64(len(`{"label":"`)), m.chunked, "en")
			after := readMem()
			switch {
			case err != nil && m.noExpect:
				// The server answered 413 and closed without reading;
				// a client still writing may see the reset first.
				t.Logf("%s: %v", what, err)
			case err != nil:
				t.Fatalf("%s: %v", what, err)
			default:
				wantTooLarge(t, what, code, body, hdr)
			}
			alloc := after.totalAlloc - before.totalAlloc
			t.Logf("%s: allocated %.1f MiB, live heap %.1f → %.1f MiB, RSS %d → %d kB (peak %d kB)", what,
				float64(alloc)/(1<<20), float64(before.heapInuse)/(1<<20), float64(after.heapInuse)/(1<<20),
				before.rssKB, after.rssKB, after.hwmKB)
			if alloc > bound {
				t.Errorf("%s: the process allocated %d bytes for a refused 200 MiB body", what, alloc)
			}
			if after.heapInuse > before.heapInuse+bound {
				t.Errorf("%s: live heap grew from %d to %d bytes", what, before.heapInuse, after.heapInuse)
			}
			if before.rssKB > 0 && after.hwmKB > before.rssKB+bound/1024 {
				t.Errorf("%s: peak RSS %d kB, %d kB before", what, after.hwmKB, before.rssKB)
			}
		}
	}
}
