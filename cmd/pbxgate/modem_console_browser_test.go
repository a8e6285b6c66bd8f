package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// TestModemATConsoleInBrowser drives the real daemon's portal in headless
// Chromium against a simulated modem on a pty: the admin opens Modems >
// AT trace and console, sees the live trace of the modem's set-up (the PIN
// never shown), runs AT+CSQ and gets the modem's answer, is refused
// AT+CPIN=… and ATD…, is asked to confirm AT+CMGF=1 and, after confirming,
// sees pbxgate restore PDU mode; every command is in the audit log. A POST
// without the CSRF token is refused (403), and so is an operator (403,
// and no link). The flow runs in German, then in English.
func TestModemATConsoleInBrowser(t *testing.T) {
	p, _ := startBrowserDaemon(t, 1, "")
	consolePassword := firstRunPassword(t, p)
	base := strings.TrimSuffix(p.portal, "/")

	b := browsertest.Start(t, filepath.Join("testdata", "artifacts"), "atconsole-", 150*time.Second)
	b.Context = func() string { return "daemon log:\n" + p.log() }
	ctx := b.Ctx
	shot, run, fail, text := b.Shot, b.Run, b.Fail, b.Text
	click, typeIn, setValue := browsertest.Click, browsertest.TypeIn, browsertest.SetValue
	eval := func(step, js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			fail(step, err)
		}
		return s
	}
	// waitFor polls a JavaScript condition (a failure guard of 30 s, no
	// timing assertion).
	waitFor := func(step, cond string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { try { return document.readyState === "complete" && !!(`+cond+`) } catch (e) { return false } })()`))
			if err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				fail(step, fmt.Errorf("not reached within 30 s: %s (%v)", cond, err))
			}
			run("poll", chromedp.Sleep(200*time.Millisecond))
		}
	}

	run("setup",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#setup-form")),
		typeIn("#current_password", consolePassword),
		typeIn("#password", "ein sicheres Passwort"),
		typeIn("#password2", "ein sicheres Passwort"),
		setValue("#language", "de"),
		setValue("#country", "DE"),
		setValue("#timezone", "Europe/Berlin"),
		click("#setup-submit"),
	)
	waitFor("after setup", `document.querySelector("#live") || document.querySelector("#login-form")`)
	if eval("landed", `document.querySelector("#login-form") ? "login" : "dashboard"`) == "login" {
		run("login", typeIn("#username", "admin"), typeIn("#password", "ein sicheres Passwort"), click("#login-submit"))
		waitFor("dashboard", `document.querySelector("#live")`)
	}
	// The modem comes online (its set-up is what the trace shows).
	waitFor("modem online", `fetch("/api/v1/status").then(r => r.json()).then(s => s.modems && s.modems.some(m => m.state === "ready" || m.health === "ok"))`)

	for _, lang := range []struct {
		code, title, refused, confirm, restored string
	}{
		{"de", "AT-Protokoll und Konsole", "nicht erlaubt", "ausführen?", "an Modem"},
		{"en", "AT trace and console", "is refused", "Run AT+CMGF=1 on sim1?", "to modem"},
	} {
		step := func(s string) string { return lang.code + " " + s }
		run(step("language"), chromedp.Navigate(base+"/lang/"+lang.code+"?next=/modems"))
		waitFor(step("modems page"), fmt.Sprintf(`document.documentElement.lang === %q && document.querySelector("#at-link")`, lang.code))
		run(step("open console"), click("#at-link"))
		waitFor(step("trace"), `document.querySelector("#at-trace-table")`)
		if s := text("main h1"); s != lang.title {
			t.Errorf("%s: title %q, want %q", lang.code, s, lang.title)
		}
		trace := text("#at-trace-table")
		if !strings.Contains(trace, "AT+CMGF=0") || !strings.Contains(trace, lang.restored) {
			t.Errorf("%s: trace lacks the set-up (AT+CMGF=0, %q):\n%s", lang.code, lang.restored, trace)
		}
		run(step("trace shot"), shot(lang.code+"-01-trace"))

		// A read: the answer of the modem.
		run(step("AT+CSQ"), typeIn("#at-command", "AT+CSQ"), click("#at-run"))
		waitFor(step("answer"), `document.querySelector("#at-answer")`)
		if a := text("#at-answer"); !strings.Contains(a, "+CSQ: ") || !strings.HasSuffix(a, "OK") {
			t.Errorf("%s: AT+CSQ answered %q", lang.code, a)
		}
		// The live trace picks the command up by itself.
		waitFor(step("live trace"), `[...document.querySelectorAll("#at-trace-table code")].some(c => c.textContent === "AT+CSQ")`)
		run(step("answer shot"), shot(lang.code+"-02-answer"))

		// Refused: a PIN (it would land in the audit log) and a call.
		for _, c := range []string{"AT+CPIN=4711", "ATD+4917012345678"} {
			run(step("refused "+c), chromedp.Navigate(base+"/modems/at?modem=sim1"), chromedp.WaitVisible(chromedp.CSS("#at-form")),
				typeIn("#at-command", c), click("#at-run"))
			waitFor(step("refusal "+c), `document.querySelector("#at-form .err")`)
			if e := text("#at-form .err"); !strings.Contains(e, lang.refused) {
				t.Errorf("%s: %s: error %q, want %q", lang.code, c, e, lang.refused)
			}
		}
		run(step("refused shot"), shot(lang.code+"-03-refused"))

		// Bad input is named in the reader's language.
		run(step("bad input"), chromedp.Navigate(base+"/modems/at?modem=sim1"), chromedp.WaitVisible(chromedp.CSS("#at-form")),
			typeIn("#at-command", "CSQ"), click("#at-run"))
		waitFor(step("bad input error"), `document.querySelector("#at-form .err")`)
		if e := text("#at-form .err"); !strings.Contains(e, "AT+CSQ") {
			t.Errorf("%s: bad input error %q does not show an example", lang.code, e)
		}

		// A setting pbxgate relies on: confirm, then pbxgate restores it.
		run(step("confirm"), chromedp.Navigate(base+"/modems/at?modem=sim1"), chromedp.WaitVisible(chromedp.CSS("#at-form")),
			typeIn("#at-command", "AT+CMGF=1"), click("#at-run"))
		waitFor(step("confirm box"), `document.querySelector("#at-confirm")`)
		if s := text("#at-confirm"); !strings.Contains(s, lang.confirm) {
			t.Errorf("%s: confirmation %q, want %q", lang.code, s, lang.confirm)
		}
		run(step("confirm shot"), shot(lang.code+"-04-confirm"), click("#at-confirm-run"))
		waitFor(step("confirmed answer"), `document.querySelector("#at-answer")`)
		if a := text("#at-answer"); a != "OK" {
			t.Errorf("%s: AT+CMGF=1 answered %q", lang.code, a)
		}
		// pbxgate sets PDU mode again: the trace shows AT+CMGF=0 after it.
		waitFor(step("restored"), `(() => { const l = [...document.querySelectorAll("#at-trace-table code")].map(c => c.textContent);
			const i = l.lastIndexOf("AT+CMGF=1"); return i >= 0 && l.indexOf("AT+CMGF=0", i) > i })()`)

		// Without the CSRF token the POST is refused.
		st := eval(step("csrf"), `fetch("/modems/at", {method: "POST", body: new URLSearchParams({modem: "sim1", command: "AT+CSQ", timeout: "10"})}).then(r => String(r.status))`)
		if st != "403" {
			t.Errorf("%s: POST without CSRF token: status %s, want 403", lang.code, st)
		}
	}

	// The audit log names who ran what with which result; the PIN is masked.
	run("audit", chromedp.Navigate(base+"/system"), chromedp.WaitVisible(chromedp.CSS("#user-add")))
	body := text("main")
	for _, want := range []string{"sim1 AT+CSQ → OK", `sim1 AT+CPIN="****" → refused (secret)`, "sim1 ATD+4917012345678 → refused (call)", "sim1 AT+CMGF=1 → OK"} {
		if !strings.Contains(body, want) {
			t.Errorf("audit log lacks %q", want)
		}
	}
	if strings.Contains(body, "4711") {
		t.Errorf("the PIN typed into the console shows on the system page")
	}
	run("audit shot", shot("05-audit"))

	// An operator gets no link and a 403.
	run("add operator",
		typeIn("#new_name", "olga"),
		typeIn("#new_password", "ein anderes Passwort"),
		setValue("#role", "operator"),
		click("#user-add button[type=submit]"),
		chromedp.Sleep(300*time.Millisecond),
		click("#logout"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		typeIn("#username", "olga"),
		typeIn("#password", "ein anderes Passwort"),
		click("#login-submit"),
	)
	waitFor("operator dashboard", `document.querySelector("#live")`)
	run("operator modems", chromedp.Navigate(base+"/modems"))
	waitFor("operator modems page", `document.querySelector("main h1")`)
	if n := eval("operator link", `String(document.querySelectorAll("#at-link").length)`); n != "0" {
		t.Errorf("the operator sees the AT console link")
	}
	for _, req := range []string{
		`fetch("/modems/at?modem=sim1").then(r => String(r.status))`,
		`fetch("/modems/at/trace?modem=sim1").then(r => String(r.status))`,
		`fetch("/modems/at", {method: "POST", body: new URLSearchParams({modem: "sim1", command: "AT+CSQ", timeout: "10",
			csrf_token: document.querySelector("input[name=csrf_token]").value})}).then(r => String(r.status))`,
	} {
		if st := eval("operator request", req); st != "403" {
			t.Errorf("operator: %s: status %s, want 403", req, st)
		}
	}
}
