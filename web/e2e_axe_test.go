package web

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserAxe runs axe-core (vendored in web/browsertest/axe, WCAG 2.1
// A/AA and best-practice rules) on the portal's main screens in German and
// English, at 1280 px and at 390 px, and fails on any serious or critical
// violation. Screenshots: testdata/artifacts/axe-*.png.
func TestBrowserAxe(t *testing.T) {
	env, _, id := recipientsEnv(t)
	b := startBrowser(t, env, "axe-", 480*time.Second)
	pages := []string{"/", "/campaigns", "/campaigns/new", "/campaigns/" + id, "/campaigns/" + id + "?state=failed", "/messages",
		"/contacts", "/contacts/lists", "/groups", "/automation", "/blacklist", "/modems", "/pbx", "/sessions", "/whatsapp", "/telegram", "/system", "/clicktochat"}
	for _, tc := range []struct {
		lang          string
		width, height int64
	}{{"de", 1280, 1000}, {"de", 390, 844}, {"en", 1280, 1000}, {"en", 390, 844}} {
		name := tc.lang + "-" + map[int64]string{1280: "desktop", 390: "phone"}[tc.width]
		b.Run(name+" language", chromedp.EmulateViewport(tc.width, tc.height), chromedp.Navigate(env.srv.URL+"/lang/"+tc.lang+"?next=/"), chromedp.WaitVisible(chromedp.CSS("main")))
		for _, p := range pages {
			b.Run(name+" "+p, chromedp.Navigate(env.srv.URL+p), chromedp.WaitVisible(chromedp.CSS("main")))
			if strings.HasPrefix(p, "/campaigns/") && !strings.Contains(p, "?") {
				b.Run(name+" shot "+p, b.Shot(name+"-campaign"))
			}
			for _, v := range b.Axe() {
				t.Errorf("%s %s: %s", name, p, v)
			}
		}
	}
}
