package web

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// TestBrowserShortLinkCounter checks in headless Chromium that the SMS
// counter counts a link as the short link that is really sent once
// "shorten links" is ticked: a 189-character text with a long link is two
// SMS parts as typed and one with the 36-character short link.
func TestBrowserShortLinkCounter(t *testing.T) {
	opt, _, _ := withLinks(t, "http://127.0.0.1:8080")
	env := newEnv(t, opt)
	c := env.client()
	c.setup("admin password")
	b := browsertest.Start(t, filepath.Join("testdata", "artifacts"), "reach-", 120*time.Second)
	run, text := b.Run, b.Text
	click, typeIn := browsertest.Click, browsertest.TypeIn
	link := "http://127.0.0.1:9/angebot/" + strings.Repeat("x", 153) // netscope: typed into the form, never fetched
	run("login and form",
		chromedp.Navigate(env.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		typeIn("#username", "admin"),
		typeIn("#password", "admin password"),
		click("#login-submit"),
		chromedp.WaitVisible(chromedp.CSS("#live")),
		chromedp.Navigate(env.srv.URL+"/campaigns/new"),
		chromedp.WaitVisible(chromedp.CSS("#campaign-form")),
		typeIn("#text", "Angebot: "+link),
	)
	if s := text("#sms-counter"); !strings.Contains(s, "189 characters") || !strings.Contains(s, "2 SMS parts") {
		t.Fatalf("counter as typed: %q", s)
	}
	run("shorten", click("#shorten_links"))
	if s := text("#sms-counter"); !strings.Contains(s, "45 characters") || !strings.Contains(s, "1 SMS part ") {
		t.Fatalf("counter with short links: %q", s)
	}
	run("unshorten", click("#shorten_links"))
	if s := text("#sms-counter"); !strings.Contains(s, "2 SMS parts") {
		t.Fatalf("counter without short links again: %q", s)
	}
}
