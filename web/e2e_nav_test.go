package web

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// TestBrowserNavCollapses: at 390 px the navigation folds behind the menu
// button (the header no longer takes a third of the screen) and opens on a
// tap; at desktop width it is open and the button hidden; German and
// English. Screenshots go to testdata/artifacts/nav-*.png.
func TestBrowserNavCollapses(t *testing.T) {
	env := newEnv(t)
	b := startBrowser(t, env, "nav-", 120*time.Second)
	ctx := b.Ctx
	run, click := b.Run, browsertest.Click
	base := env.srv.URL
	evalInt := func(js string) int {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err != nil {
			b.Fail(js, err)
		}
		return v
	}
	for _, tc := range []struct{ lang, menu string }{{"de", "Menü"}, {"en", "Menu"}} {
		run(tc.lang+" phone",
			chromedp.EmulateViewport(390, 844),
			chromedp.Navigate(base+"/lang/"+tc.lang+"?next=/campaigns"),
			chromedp.WaitVisible(chromedp.CSS("#nav-toggle")),
			chromedp.WaitNotVisible(chromedp.CSS("#nav-campaigns")),
			b.Shot(tc.lang+"-phone-closed"),
		)
		if s := b.Text("#nav-toggle"); s != tc.menu {
			t.Errorf("%s: button %q, want %q", tc.lang, s, tc.menu)
		}
		if h := evalInt(`Math.ceil(document.querySelector("header.top").getBoundingClientRect().height)`); h > 120 {
			t.Errorf("%s: the closed header is %d px high at 390×844", tc.lang, h)
		}
		run(tc.lang+" open", click("#nav-toggle"), chromedp.WaitVisible(chromedp.CSS("#nav-campaigns")),
			chromedp.WaitVisible(chromedp.CSS(`#nav-toggle[aria-expanded="true"]`)), b.Shot(tc.lang+"-phone-open"))
		if w := evalInt(`document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("%s: the open menu makes the page %d px wide", tc.lang, w)
		}
		run(tc.lang+" go", click("#nav-campaigns"), chromedp.WaitVisible(chromedp.CSS("#campaign-list, .muted")))
		run(tc.lang+" desktop",
			chromedp.EmulateViewport(1280, 1000),
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.CSS("#nav-campaigns")),
			chromedp.WaitNotVisible(chromedp.CSS("#nav-toggle")),
			b.Shot(tc.lang+"-desktop"),
		)
	}
}
