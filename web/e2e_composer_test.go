package web

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// jsPlan is what app.js's plan (window.pbxgatePlan) answers.
type jsPlan struct {
	GSM   bool `json:"gsm"`
	Chars int  `json:"chars"`
	Parts int  `json:"parts"`
	Units int  `json:"units"`
	Left  int  `json:"left"`
}

// TestBrowserComposer drives Chromium in German and English, at 1280 px
// and at 390 px, through the campaign form's SMS composer: the page's
// JavaScript planner agrees with testdata/sms_plan_vectors.json (the
// vectors TestPlanVectorsGo checks gateway/sms against, from 3GPP TS
// 23.038/23.040); 150 GSM-7 characters are one part; one emoji from the
// offline picker lands in the text, the counter switches to UCS-2 and a
// warning says 3 parts instead of 1. Screenshots:
// testdata/artifacts/composer-*.png.
func TestBrowserComposer(t *testing.T) {
	var env *testEnv
	opt, _, _ := withEngine(t, &env)
	env = newEnv(t, opt)
	b := startBrowser(t, env, "composer-", 480*time.Second)
	vectors := planVectors(t)
	texts := make([]string, len(vectors))
	for i, v := range vectors {
		texts[i] = v.text()
	}
	js, _ := json.Marshal(texts)
	for _, tc := range []struct {
		lang, warn, gsm, ucs string
		width, height        int64
	}{
		{"de", "3 SMS-Teile statt 1 ohne Emoji", "150 Zeichen · 1 SMS-Teil · GSM-7", "151 Zeichen · 3 SMS-Teile · Unicode (UCS-2)", 1280, 1000},
		{"de", "3 SMS-Teile statt 1 ohne Emoji", "150 Zeichen · 1 SMS-Teil · GSM-7", "151 Zeichen · 3 SMS-Teile · Unicode (UCS-2)", 390, 844},
		{"en", "3 SMS parts instead of 1 without emoji", "150 characters · 1 SMS part · GSM-7", "151 characters · 3 SMS parts · Unicode (UCS-2)", 1280, 1000},
		{"en", "3 SMS parts instead of 1 without emoji", "150 characters · 1 SMS part · GSM-7", "151 characters · 3 SMS parts · Unicode (UCS-2)", 390, 844},
	} {
		name := tc.lang + "-" + map[int64]string{1280: "desktop", 390: "phone"}[tc.width]
		b.Run(name+" form",
			chromedp.EmulateViewport(tc.width, tc.height),
			chromedp.Navigate(env.srv.URL+"/lang/"+tc.lang+"?next=/campaigns/new"),
			chromedp.WaitVisible(chromedp.CSS("#text")),
		)
		plans, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]jsPlan](string(js)+`.map(t => window.pbxgatePlan(t))`))
		if err != nil {
			b.Fail("plan vectors", err)
		}
		for i, v := range vectors {
			p := plans[i]
			if p.GSM != (v.Encoding == "GSM-7") || p.Chars != v.Chars || p.Parts != v.Parts || p.Units != v.Units || p.Left != v.Left {
				t.Errorf("%s: %s: JavaScript plan %+v, want %s chars %d parts %d units %d left %d", name, v.Name, p, v.Encoding, v.Chars, v.Parts, v.Units, v.Left)
			}
		}
		if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`(() => { const a = document.getElementById("text"); a.value = "a".repeat(150); a.dispatchEvent(new Event("input", {bubbles: true})); return true })()`)); err != nil {
			b.Fail("type", err)
		}
		b.Run(name+" typed", b.Shot(name+"-01-gsm"))
		if got := b.Text("#sms-counter"); !strings.HasPrefix(got, tc.gsm) {
			t.Errorf("%s: counter %q, want %q…", name, got, tc.gsm)
		}
		hidden, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.getElementById("sms-emoji-warning").hidden`))
		if err != nil || !hidden {
			t.Errorf("%s: the warning shows for a GSM-7 text (%v)", name, err)
		}
		b.Run(name+" emoji",
			browsertest.Click("#emoji-toggle"),
			chromedp.WaitVisible(chromedp.CSS("#emoji-picker button.emoji")),
			b.Shot(name+"-02-picker"),
			browsertest.Click("#emoji-picker button.emoji"),
			chromedp.WaitVisible(chromedp.CSS("#sms-emoji-warning")),
			b.Shot(name+"-03-warning"),
		)
		val, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.getElementById("text").value`))
		if err != nil {
			b.Fail("read text", err)
		}
		if val != strings.Repeat("a", 150)+"😀" {
			t.Errorf("%s: text %q, want 150 a and 😀", name, val)
		}
		if got := b.Text("#sms-counter"); !strings.HasPrefix(got, tc.ucs) {
			t.Errorf("%s: counter %q, want %q…", name, got, tc.ucs)
		}
		if got := b.Text("#sms-emoji-warning"); !strings.Contains(got, tc.warn) {
			t.Errorf("%s: warning %q, want %q", name, got, tc.warn)
		}
		w, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil {
			b.Fail("measure", err)
		}
		if int64(w) > tc.width {
			t.Errorf("%s: the form is %d px wide at %d px", name, w, tc.width)
		}
	}
}
