package web

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// In Chromium, in German: a portal user types a start, picks the text
// block "hours" and inserts it; the reply box holds the typed text and the
// block filled in for the contact and the user; "Antworten" sends exactly
// that. Screenshots: testdata/artifacts/textblock-*.png.
func TestBrowserSessionTextBlockPicker(t *testing.T) {
	t.Parallel()
	env, mgr, sentOut := textBlockEnv(t)
	b := startBrowser(t, env, "textblock-", 120*time.Second)
	id := textBlockSession(t, mgr)
	b.Run("session", chromedp.Navigate(env.srv.URL+"/sessions/"+id), chromedp.WaitVisible(chromedp.CSS("#text-block-picker")), b.Shot("01-session"))
	b.Run("insert",
		browsertest.TypeIn("#reply-text", "Danke für Ihre Frage."),
		browsertest.SetValue("#text-block", "hours"),
		browsertest.Click("#text-block-insert"),
		chromedp.WaitReady(chromedp.CSS(`#text-block option[value="hours"][selected]`)),
		b.Shot("02-inserted"))
	if got := b.Text("#text-block-insert"); got != "Einfügen" {
		t.Fatalf("insert button %q, want the German label", got)
	}
	draft, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.getElementById("reply-text").value`))
	if err != nil {
		b.Fail("read reply box", err)
	}
	want := "Danke für Ihre Frage.\nHallo +4915123456789, wir sind Mo–Fr 9–17 Uhr für Sie da (Ihre Nummer: +4915123456789). Ihr admin"
	if draft != want {
		t.Fatalf("reply box %q, want %q", draft, want)
	}
	if n := len(sentOut()); n != 0 {
		t.Fatalf("inserting sent %d messages", n)
	}
	b.Run("reply", browsertest.Click("#session-reply"), chromedp.WaitVisible(chromedp.CSS(".flash")), b.Shot("03-replied"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got string
		if sent := sentOut(); len(sent) == 1 {
			got = sent[0].Text
		}
		// The browser submits the textarea's line break as CRLF (HTML's
		// form submission normalises newlines).
		if strings.ReplaceAll(got, "\r\n", "\n") == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sent %q, want %q", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
