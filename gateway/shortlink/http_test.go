package shortlink

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The redirect is an HTTP 302 with the target in Location (RFC 9110
// 15.4.3); a refused client gets 429 with Retry-After (RFC 6585 4).
func TestRedirectEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLinks(t, "http://127.0.0.1:8080")                         // netscope: never fetched
	s, err := l.Shorten(ctx, "3", 1, "http://127.0.0.1:9/shop/x?y=1") // netscope: never fetched
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimPrefix(FindURLs(s)[0], l.Base())
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := httptest.NewServer(http.StripPrefix("", l.Handler(HandlerOptions{PerMinute: 60, Burst: 5, Now: clock})))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(method, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	r := get("GET", PathPrefix+key)
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "http://127.0.0.1:9/shop/x?y=1" || r.Header.Get("Cache-Control") != "no-store" { // netscope: never fetched
		t.Fatalf("redirect: %d %v", r.StatusCode, r.Header)
	}
	// HEAD (link previews) resolves without counting.
	if r := get("HEAD", PathPrefix+key); r.StatusCode != http.StatusFound {
		t.Fatalf("HEAD: %d", r.StatusCode)
	}
	// Unknown keys: a bare 404 that names nothing.
	req, _ := http.NewRequest("GET", srv.URL+PathPrefix+"AAAAAAAAAAAA", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "3") || resp.Header.Get("Location") != "" {
		t.Fatalf("unknown key: %d %q", resp.StatusCode, body)
	}
	if r := get("POST", PathPrefix+key); r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", r.StatusCode)
	}
	// Burst 5: GET, HEAD and the 404 took three (POST is refused before
	// the limit); two more pass, the sixth request is refused.
	for i := 4; i <= 5; i++ {
		if r := get("GET", PathPrefix+key); r.StatusCode != http.StatusFound {
			t.Fatalf("request %d: %d", i, r.StatusCode)
		}
	}
	r = get("GET", PathPrefix+key)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("6th: %d %v", r.StatusCode, r.Header)
	}
	mu.Lock()
	now = now.Add(time.Second) // one token a second at 60/min
	mu.Unlock()
	if r := get("GET", PathPrefix+key); r.StatusCode != http.StatusFound {
		t.Fatalf("after a second: %d", r.StatusCode)
	}
	st, err := l.Stats(ctx, "3")
	if err != nil {
		t.Fatal(err)
	}
	if st.Clicks != 4 || st.Clicked != 1 || st.PerRecipient[1] != 4 {
		t.Fatalf("clicks %+v, want 4 GETs counted (not HEAD, 404, POST or 429)", st)
	}
}

// BenchmarkRedirect measures one redirect through the handler: rate limit,
// key lookup (cached after the first of each key), click counting and the
// 302, with 1,000 links of a campaign and a flush every 10,000 clicks.
func BenchmarkRedirect(b *testing.B) {
	ctx := context.Background()
	l := newLinks(b, "http://127.0.0.1:8080") // netscope: never fetched
	var paths []string
	for seq := range 1000 {
		s, err := l.Shorten(ctx, "1", seq, "http://127.0.0.7/offer") // netscope: never fetched
		if err != nil {
			b.Fatal(err)
		}
		paths = append(paths, PathPrefix+strings.TrimPrefix(FindURLs(s)[0], l.Base()))
	}
	h := l.Handler(HandlerOptions{PerMinute: 1 << 30, Burst: 1 << 30})
	reqs := make([]*http.Request, len(paths))
	for i, p := range paths {
		reqs[i] = httptest.NewRequest("GET", p, nil)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, reqs[i%len(reqs)])
		if w.Code != http.StatusFound {
			b.Fatal(w.Code)
		}
		if i%10000 == 9999 {
			if err := l.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
