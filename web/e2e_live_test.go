package web

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserLiveViews drives headless Chromium in German and in English,
// at desktop width and at 390 px: the campaign page opens its event
// stream (Chromium's own EventSource parses what web/live sends), the
// campaign is started behind the page's back and the page shows it
// completed without a reload; the dashboard streams too. Screenshots go
// to testdata/artifacts/live-*.png.
func TestBrowserLiveViews(t *testing.T) {
	var env *testEnv
	opt, _, _ := withEngine(t, &env)
	env = newEnv(t, opt)
	b := startBrowser(t, env, "live-", 180*time.Second)
	ctx := b.Ctx
	run := b.Run
	base := env.srv.URL

	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	api := env.client()

	for _, tc := range []struct {
		lang, draft, done, counts string
		width, height             int64
	}{
		{"de", "Entwurf", "Vollendet", "2 gesendet · 2 zugestellt · 0 fehlgeschlagen · 0 ausgeschlossen", 1280, 1000},
		{"de", "Entwurf", "Vollendet", "2 gesendet · 2 zugestellt · 0 fehlgeschlagen · 0 ausgeschlossen", 390, 844},
		{"en", "Draft", "Completed", "2 sent · 2 delivered · 0 failed · 0 excluded", 1280, 1000},
		{"en", "Draft", "Completed", "2 sent · 2 delivered · 0 failed · 0 excluded", 390, 844},
	} {
		name := tc.lang + "-" + map[int64]string{1280: "desktop", 390: "phone"}[tc.width]
		code, m := apiCall(t, api, tok, "POST", "/api/v1/campaigns", `{"name":"Live `+name+`","channel":"gsm","numbers":["+4915112345678","+4915112345679"],"text":"hi","send":"draft"}`)
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, m)
		}
		id := m["id"].(string)
		run(name+" dashboard",
			chromedp.EmulateViewport(tc.width, tc.height),
			chromedp.Navigate(base+"/lang/"+tc.lang+"?next=/"),
			chromedp.WaitVisible(chromedp.CSS(`#live[data-live-state="streaming"]`)),
			b.Shot(name+"-dashboard"),
		)
		run(name+" campaign",
			chromedp.Navigate(base+"/campaigns/"+id),
			chromedp.WaitVisible(chromedp.CSS(`#campaign-live[data-live-state="streaming"]`)),
			b.Shot(name+"-campaign-draft"),
		)
		if s := b.Text("#campaign-state"); s != tc.draft {
			t.Fatalf("%s: state %q, want %q", name, s, tc.draft)
		}
		// A marker a reload would wipe.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.liveMarker = true`)); err != nil {
			b.Fail("marker", err)
		}
		if code, m := apiCall(t, api, tok, "POST", "/api/v1/campaigns/"+id+"/start", ""); code >= 300 {
			t.Fatalf("start: %d %v", code, m)
		}
		run(name+" completed live",
			chromedp.WaitVisible(chromedp.CSS(`#campaign-live dl[data-state="completed"]`)),
			b.Shot(name+"-campaign-completed"),
		)
		if s := b.Text("#campaign-state"); s != tc.done {
			t.Errorf("%s: badge %q, want %q", name, s, tc.done)
		}
		if s := b.Text("#campaign-counts"); s != tc.counts {
			t.Errorf("%s: counts %q, want %q", name, s, tc.counts)
		}
		kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.liveMarker === true`))
		if err != nil {
			b.Fail("read marker", err)
		}
		if !kept {
			t.Errorf("%s: the page reloaded instead of updating in place", name)
		}
		w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil {
			b.Fail("measure", err)
		}
		if int64(w) > tc.width {
			t.Errorf("%s: the campaign page is %d px wide at %d px", name, w, tc.width)
		}
	}
}
