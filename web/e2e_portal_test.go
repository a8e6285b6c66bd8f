package web

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdpage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/msglog"
	"github.com/pbxgate/pbxgate/web/browsertest"
)

// TestBrowserPortalSafety drives headless Chromium in German through the
// destructive actions (a campaign delete answered with the JavaScript
// dialog, cancelled and then confirmed; the same without JavaScript
// through the confirmation page), the click-to-chat PNG link, and the
// campaign list and message log at 390 px. Screenshots go to
// testdata/artifacts/portal-*.png.
func TestBrowserPortalSafety(t *testing.T) {
	if _, err := os.Stat(browsertest.ChromiumPath); err != nil {
		t.Skipf("SKIP: %s not found; install Debian's chromium (apt-get install chromium) to run the browser test", browsertest.ChromiumPath)
	}
	var env *testEnv
	var mlog *msglog.Log
	opt, _, engine := withEngine(t, &env)
	env = newEnv(t, opt, withMessageLog(&mlog))
	seedMessages(t, mlog)

	b := browsertest.Start(t, filepath.Join("testdata", "artifacts"), "portal-", 180*time.Second)
	ctx := b.Ctx
	run, click, typeIn, stable := b.Run, browsertest.Click, browsertest.TypeIn, browsertest.Stable
	base := env.srv.URL

	// Dialogs: answer with what the test sets, and remember the question.
	var mu sync.Mutex
	accept, asked := false, []string{}
	dialogs := chromedp.Events(ctx, cdpage.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			mu.Lock()
			asked = append(asked, ev.Message)
			a := accept
			mu.Unlock()
			_, _ = chromedp.Call(ctx, cdpage.HandleJavaScriptDialog, cdpage.HandleJavaScriptDialogParams{Accept: a})
		}
	}()
	setAccept := func(a bool) { mu.Lock(); accept = a; mu.Unlock() }
	lastAsked := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(asked) == 0 {
			return ""
		}
		return asked[len(asked)-1]
	}

	run("setup",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#setup-form")),
		typeIn("#current_password", env.adminPassword),
		typeIn("#password", "ein sicheres Passwort"),
		typeIn("#password2", "ein sicheres Passwort"),
		stable(chromedp.SetValue(chromedp.CSS("#language"), "de")),
		click("#setup-submit"),
		chromedp.WaitVisible(chromedp.CSS("#live")),
	)
	tok, err := env.users.CreateToken(context.Background(), "admin", "api")
	if err != nil {
		t.Fatal(err)
	}
	api := env.client()
	ids := map[string]string{}
	for _, name := range []string{"Sommeraktion", "Winteraktion"} {
		code, m := apiCall(t, api, tok, "POST", "/api/v1/campaigns", `{"name":"`+name+`","channel":"gsm","numbers":["+4915112345678","+4915112345679"],"text":"hi","send":"draft"}`)
		if code != http.StatusCreated {
			t.Fatalf("create: %d %v", code, m)
		}
		ids[name] = m["id"].(string)
	}
	exists := func(id string) bool {
		_, err := engine().Get(context.Background(), id)
		if err != nil && !errors.Is(err, campaign.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	// With JavaScript: the dialog asks; "Abbrechen" keeps the campaign.
	del := "#campaign-delete-" + ids["Sommeraktion"]
	run("list", chromedp.Navigate(base+"/campaigns"), chromedp.WaitVisible(chromedp.CSS(del)), b.Shot("01-list"))
	setAccept(false)
	run("delete, cancelled", click(del), chromedp.WaitVisible(chromedp.CSS(del)))
	if q := lastAsked(); !strings.Contains(q, "Kampagne „Sommeraktion“ mit allen Empfängern und Ergebnissen löschen?") {
		t.Fatalf("dialog asked %q", q)
	}
	if !exists(ids["Sommeraktion"]) {
		t.Fatal("cancelled delete removed the campaign")
	}
	setAccept(true)
	run("delete, confirmed", click(del), chromedp.WaitVisible(chromedp.CSS(".flash")), b.Shot("02-deleted"))
	if exists(ids["Sommeraktion"]) {
		t.Fatal("confirmed delete kept the campaign")
	}
	if s := b.Text(".flash"); s != "Kampagne gelöscht." {
		t.Fatalf("flash %q", s)
	}

	// Without JavaScript: the confirmation page, whose box must be ticked.
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	n := len(asked)
	run("confirm page", chromedp.Navigate(base+"/campaigns/"+ids["Winteraktion"]), chromedp.WaitVisible(chromedp.CSS("#campaign-delete")),
		click("#campaign-delete"), chromedp.WaitVisible(chromedp.CSS("#confirm-page")), b.Shot("03-confirm-page"))
	if len(asked) != n {
		t.Fatal("a dialog opened with JavaScript off")
	}
	if s := b.Text("#confirm-page label"); !strings.Contains(s, "Ja, diese Kampagne mit allen Empfängern und Ergebnissen löschen.") {
		t.Fatalf("confirm page asks %q", s)
	}
	// The unticked box keeps the form from being sent.
	run("unticked", click("#confirm-submit"), chromedp.WaitVisible(chromedp.CSS("#confirm-page")))
	if !exists(ids["Winteraktion"]) {
		t.Fatal("deleted without the box ticked")
	}
	run("ticked", click("#confirm-check"), click("#confirm-submit"), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if exists(ids["Winteraktion"]) {
		t.Fatal("confirmed delete without JavaScript kept the campaign")
	}
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
		t.Fatal(err)
	}

	// Click-to-chat: the page's PNG link answers with a PNG.
	run("click-to-chat",
		chromedp.Navigate(base+"/clicktochat"),
		chromedp.WaitVisible(chromedp.CSS("#ctc-form")),
		typeIn("#number", "0171 1234567"),
		typeIn("#text", "Hallo & willkommen"),
		click("#ctc-submit"),
		chromedp.WaitVisible(chromedp.CSS("#ctc-png")),
		b.Shot("04-clicktochat"),
	)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.getElementById("ctc-png").href).then(r => r.status + " " + r.headers.get("Content-Type"))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fail("fetch PNG", err)
	}
	if got != "200 image/png" {
		t.Fatalf("the page's PNG link answers %q", got)
	}

	// A phone, 390 px wide: the page itself never scrolls sideways; wide
	// tables scroll inside their box.
	if code, m := apiCall(t, api, tok, "POST", "/api/v1/campaigns", `{"name":"Frühlingsaktion mit einem recht langen Namen","channel":"gsm","numbers":["+4915112345678"],"text":"hi","send":"draft"}`); code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, m)
	}
	run("phone", chromedp.EmulateViewport(390, 844))
	for _, pg := range []struct{ path, name, table string }{{"/campaigns", "05-phone-campaigns", "#campaign-list"}, {"/messages", "06-phone-messages", "table"}} {
		run(pg.path, chromedp.Navigate(base+pg.path), chromedp.WaitVisible(chromedp.CSS(pg.table)), b.Shot(pg.name))
		w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil {
			b.Fail("measure "+pg.path, err)
		}
		if w > 390 {
			t.Errorf("%s is %d px wide at 390 px: the page scrolls sideways", pg.path, w)
		}
	}
}
