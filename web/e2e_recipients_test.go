package web

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/browsertest"
)

// recipientsEnv is a real campaign engine whose channel fails
// +4915123456789 with the modem driver's +CMS ERROR 38 reason (cmsChannel)
// and delivers to the others, and a completed campaign of three.
func recipientsEnv(t *testing.T) (*testEnv, *campaign.Engine, string) {
	t.Helper()
	ch := &cmsChannel{fail: map[string]bool{"+4915123456789": true}, reject: map[string]bool{}}
	var eng *campaign.Engine
	env := newEnv(t, func(d *app.Deps) {
		eng = startEngine(t, d, map[string]campaign.Channel{"gsm": ch}, campaign.Config{DNC: recipients.NewLists(d.Store)})
		ch.eng = eng
	})
	camp, err := eng.Create(context.Background(), campaign.Spec{Name: "Empfänger", Channel: "gsm", Content: campaign.Content{Text: "Hallo"},
		When: campaign.When{Kind: "now"}},
		[]recipients.Recipient{{Number: "+4915111111111"}, {Number: "+4915123456789"}, {Number: "+4915222222222"}})
	if err != nil {
		t.Fatal(err)
	}
	done := waitState(t, eng, camp.ID, campaign.Completed)
	if done.Counts.Failed != 1 || done.Counts.Delivered != 2 {
		t.Fatalf("counts = %+v, want 1 failed, 2 delivered", done.Counts)
	}
	return env, eng, camp.ID
}

// waitAttempt waits until campaign id is completed after attempt n.
func waitAttempt(t *testing.T, eng *campaign.Engine, id string, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		changes := eng.Changes()
		c, err := eng.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Attempt >= n && c.State == campaign.Completed {
			return
		}
		select {
		case <-changes:
		case <-deadline:
			t.Fatalf("campaign %s: attempt %d %s, want attempt %d completed", id, c.Attempt, c.State, n)
		}
	}
}

// TestBrowserCampaignRecipients drives Chromium in German and English, at
// 1280 px and at 390 px, through the campaign page's recipient filter:
// "failed" shows only the recipient the modem refused, with the modem's
// reason in the page's language; its "send again" button retries exactly
// that recipient (the engine's attempt moves on, the page keeps the
// filter); the portal's CSV export has the reason column in the page's
// language. Screenshots: testdata/artifacts/recipients-*.png.
func TestBrowserCampaignRecipients(t *testing.T) {
	env, eng, id := recipientsEnv(t)
	b := startBrowser(t, env, "recipients-", 480*time.Second)
	base := env.srv.URL
	attempt := 1
	for _, tc := range []struct {
		lang, reason, flash, count, csvHead string
		width, height                       int64
	}{
		{"de", "Netz außer Betrieb", "Die Nachricht an diesen Empfänger wird erneut gesendet.", "1 Empfänger", "Grund", 1280, 1000},
		{"de", "Netz außer Betrieb", "Die Nachricht an diesen Empfänger wird erneut gesendet.", "1 Empfänger", "Grund", 390, 844},
		{"en", "network out of order", "The message to this recipient is being sent again.", "1 recipients", "Reason", 1280, 1000},
		{"en", "network out of order", "The message to this recipient is being sent again.", "1 recipients", "Reason", 390, 844},
	} {
		name := tc.lang + "-" + map[int64]string{1280: "desktop", 390: "phone"}[tc.width]
		b.Run(name+" filter",
			chromedp.EmulateViewport(tc.width, tc.height),
			chromedp.Navigate(base+"/lang/"+tc.lang+"?next=/campaigns/"+id),
			chromedp.WaitVisible(chromedp.CSS("#recipient-filter")),
			browsertest.SetValue("#recipient-state", "failed"),
			browsertest.Click("#recipient-filter-apply"),
			chromedp.WaitVisible(chromedp.CSS("#recipient-list button.retry-one")),
			b.Shot(name+"-01-failed"),
		)
		rows, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#recipient-list tbody tr")).map(r => r.innerText)`))
		if err != nil {
			b.Fail("rows", err)
		}
		if len(rows) != 1 || !strings.Contains(rows[0], "+4915123456789") || !strings.Contains(rows[0], tc.reason) {
			t.Fatalf("%s: failed rows %q, want only +4915123456789 with %q", name, rows, tc.reason)
		}
		if got := b.Text("#recipient-count"); got != tc.count {
			t.Errorf("%s: count %q, want %q", name, got, tc.count)
		}
		csv, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`fetch("/campaigns/`+id+`/export.csv").then(r => r.text())`, chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fail("export", err)
		}
		head, _, _ := strings.Cut(csv, "\n")
		if !strings.Contains(head, ","+tc.csvHead+",") || !strings.Contains(csv, tc.reason) {
			t.Errorf("%s: export lacks the %q column with %q:\n%s", name, tc.csvHead, tc.reason, csv)
		}
		if tc.lang == "de" && strings.Contains(csv, "network out of order") {
			t.Errorf("%s: the German export has the English reason:\n%s", name, csv)
		}
		b.Run(name+" retry one",
			browsertest.Click("#recipient-list button.retry-one"),
			chromedp.WaitVisible(chromedp.CSS(".flash")),
			b.Shot(name+"-02-retried"),
		)
		if got := b.Text(".flash"); got != tc.flash {
			t.Errorf("%s: flash %q, want %q", name, got, tc.flash)
		}
		loc, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`location.search`))
		if err != nil {
			b.Fail("location", err)
		}
		if loc != "?state=failed" {
			t.Errorf("%s: after the retry the page is at %q, want the failed filter kept", name, loc)
		}
		attempt++
		waitAttempt(t, eng, id, attempt)
		page, err := eng.Recipients(context.Background(), id, campaign.RecipientQuery{Status: campaign.RFailed})
		if err != nil || page.Total != 1 || page.Items[0].Attempt != attempt {
			t.Fatalf("%s: failed recipients after the retry %+v (%v), want the one at attempt %d", name, page, err, attempt)
		}
		// Failure reasons grouped with counts, in the page's language;
		// the link filters the list to the failed recipients with it.
		b.Run(name+" reasons",
			chromedp.Navigate(base+"/campaigns/"+id),
			chromedp.WaitVisible(chromedp.CSS("#recipient-reasons a")),
			b.Shot(name+"-03-reasons"),
		)
		reasons, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#recipient-reasons a[data-key]")).map(a => a.innerText.trim())`))
		if err != nil {
			b.Fail("reasons", err)
		}
		if want := []string{tc.reason + " — 1"}; !slices.Equal(reasons, want) {
			t.Fatalf("%s: failure reasons %q, want %q", name, reasons, want)
		}
		b.Run(name+" reason link",
			clickJS("#recipient-reasons a[data-key]"),
			waitJS(`location.search.includes("reason=") && document.readyState === "complete" && !!document.querySelector("#recipient-reasons-all")`),
			b.Shot(name+"-04-reason-filtered"),
		)
		if rows := recipientRows(b); len(rows) != 1 || !strings.Contains(rows[0], "+4915123456789") {
			t.Errorf("%s: rows after the reason link %q, want only +4915123456789", name, rows)
		}
		if loc := evalString(b, `location.search`); !strings.Contains(loc, "reason=") || !strings.Contains(loc, "state=failed") {
			t.Errorf("%s: the reason link leads to %q, want state=failed and reason=", name, loc)
		}
		// Search by a part of the number, with spaces, alone and together
		// with the state filter.
		b.Run(name+" search",
			chromedp.Navigate(base+"/campaigns/"+id),
			chromedp.WaitVisible(chromedp.CSS("#recipient-number")),
			browsertest.SetValue("#recipient-number", "222 222"),
			clickJS("#recipient-filter-apply"),
			waitJS(`location.search.includes("number=") && document.readyState === "complete" && !!document.querySelector("#recipient-list")`),
			b.Shot(name+"-05-search"),
		)
		if rows := recipientRows(b); len(rows) != 1 || !strings.Contains(rows[0], "+4915222222222") {
			t.Errorf("%s: rows for the search 222 222 %q, want only +4915222222222", name, rows)
		}
		if got := evalString(b, `document.querySelector("#recipient-number").value`); got != "222 222" {
			t.Errorf("%s: the search field shows %q after the search", name, got)
		}
		b.Run(name+" search with state",
			browsertest.SetValue("#recipient-number", "2345"),
			// Picking a state submits the filter with the number typed
			// (chromedp's SetValue fires change, the select autosubmits).
			browsertest.SetValue("#recipient-state", "delivered"),
			waitJS(`location.search.includes("number=2345") && document.readyState === "complete" && !!document.querySelector("#recipient-none")`),
		)
		if got, want := evalString(b, `document.querySelector("#recipient-count").innerText.trim()`), map[string]string{"de": "0 Empfänger", "en": "0 recipients"}[tc.lang]; got != want {
			t.Errorf("%s: count for 2345 among the delivered %q, want %q", name, got, want)
		}
		// Send a selection again: none ticked says so; the ticked failed
		// recipient is retried (the engine's attempt moves on).
		selNone := map[string]string{"de": "Wählen Sie mindestens einen fehlgeschlagenen Empfänger aus.", "en": "Select at least one failed recipient."}[tc.lang]
		selDone := map[string]string{"de": "Die Nachrichten an die ausgewählten Empfänger werden erneut gesendet.", "en": "The messages to the selected recipients are being sent again."}[tc.lang]
		b.Run(name+" retry selected none",
			chromedp.Navigate(base+"/campaigns/"+id+"?state=failed"),
			chromedp.WaitVisible(chromedp.CSS("#recipient-list input.retry-select")),
			clickJS("#retry-selected"),
			waitJS(`document.readyState === "complete" && !!document.querySelector(".flash")`),
		)
		if got := evalString(b, `document.querySelector(".flash").innerText.trim()`); got != selNone {
			t.Errorf("%s: flash for an empty selection %q, want %q", name, got, selNone)
		}
		b.Run(name+" retry selected",
			clickJS(`#recipient-list input.retry-select[value="+4915123456789"]`),
			b.Shot(name+"-06-selected"),
			clickJS("#retry-selected"),
			waitJS(`document.querySelector(".flash") && document.querySelector(".flash").innerText.trim() === `+strconv.Quote(selDone)),
			b.Shot(name+"-07-selected-retried"),
		)
		if loc := evalString(b, `location.search`); loc != "?state=failed" {
			t.Errorf("%s: after retrying the selection the page is at %q, want the failed filter kept", name, loc)
		}
		attempt++
		waitAttempt(t, eng, id, attempt)
		w, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil {
			b.Fail("measure", err)
		}
		if int64(w) > tc.width {
			t.Errorf("%s: the campaign page is %d px wide at %d px", name, w, tc.width)
		}
	}
}

// recipientRows are the texts of the campaign page's recipient rows.
func recipientRows(b *browsertest.Browser) []string {
	rows, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#recipient-list tbody tr")).map(r => r.innerText)`))
	if err != nil {
		b.Fail("rows", err)
	}
	return rows
}

// evalString is the string value of the JavaScript expression js (tried
// again while the browser still swaps the document of a navigation).
func evalString(b *browsertest.Browser, js string) string {
	var err error
	for range 20 {
		var s string
		if s, err = chromedp.Run(b.Ctx, chromedp.Evaluate[string](js)); err == nil {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fail("evaluate "+js, err)
	return ""
}

// clickJS clicks the element sel selects once, as the page's own click()
// does (a form's submit button submits it; no second click from a retry).
func clickJS(sel string) browsertest.Action {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](`document.querySelector(`+strconv.Quote(sel)+`).click()`)(ctx, tg)
		return chromedp.Void{}, err
	}
}

// waitJS waits (up to 20 s) until the JavaScript expression js is true,
// across the navigation a form submit starts (a poll that races the
// document swap is tried again).
func waitJS(js string) browsertest.Action {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		for {
			_, err := chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond))(ctx, tg)
			if err == nil || ctx.Err() != nil {
				return chromedp.Void{}, err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
