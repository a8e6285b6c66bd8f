package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// browserResolve resolves a Location header the way a browser does (WHATWG
// URL Standard, "basic URL parser"): leading and trailing C0 controls and
// spaces are trimmed, ASCII TAB and newlines removed anywhere, and in
// special schemes (http, https) "\" counts as "/".
func browserResolve(base *url.URL, loc string) (*url.URL, error) {
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= 0x20 })
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(loc)
	loc = strings.ReplaceAll(loc, "\\", "/")
	ref, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(ref), nil
}

// GET /lang/xx?next=… goes back to a page of this site, never elsewhere,
// whatever encoding the next parameter uses (the issue: "/%09/evil.example/"
// passed the old check and Chromium followed it).
func TestLanguageRedirectStaysLocal(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	base, _ := url.Parse(env.srv.URL)
	hostile := []string{
		"/%09/evil.example/", "/%0d%0a/evil.example/", "/%0a/evil.example", "%09//evil.example",
		"//evil.example", "///evil.example", "%2F%2Fevil.example", "/%2F/evil.example", "/%252F/evil.example",
		`/\evil.example`, "/%5Cevil.example", "%5C%5Cevil.example", "/%5C/evil.example", `\/evil.example`,
		"https://evil.example", "https:%2F%2Fevil.example", "https:evil.example", "javascript:alert(1)", // netscope: hostile redirect targets, only parsed
		"%20//evil.example", "/%2509/evil.example", "/%00/evil.example", "/%7F/evil.example", "evil.example",
		"/%E2%80%A8/evil.example", "/x/%09/../../%09/evil.example",
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(raw string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, env.srv.URL+"/lang/de", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = "next=" + raw
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	for _, raw := range hostile {
		code, loc := get(raw)
		if code != http.StatusSeeOther {
			t.Errorf("next=%s: status %d", raw, code)
			continue
		}
		u, err := browserResolve(base, loc)
		if err != nil || u.Host != base.Host || u.Scheme != base.Scheme {
			t.Errorf("next=%s: Location %q leads a browser to %v (%v)", raw, loc, u, err)
		}
		if loc != "/" {
			t.Errorf("next=%s: Location %q, want the fallback /", raw, loc)
		}
	}
	for raw, want := range map[string]string{
		"/campaigns": "/campaigns",
		"%2Fmessages%3Fq%3Dx%26from%3D2026-01-01": "/messages?q=x&from=2026-01-01",
		"/groups/Stammkunden%20Wien":              "/groups/Stammkunden Wien",
	} {
		if code, loc := get(raw); code != http.StatusSeeOther || loc != want {
			t.Errorf("next=%s: %d %q, want %q", raw, code, loc, want)
		}
	}
}
