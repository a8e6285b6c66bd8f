package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// browserCSV is what an administrator exports from a spreadsheet: a header,
// five German mobile numbers in the usual spellings and, on line 4, a row
// whose number is not one.
const browserCSV = "name;telefon\n" +
	"Anna;0151 23456701\n" +
	"Bernd;+49 160 9876543\n" +
	"Kein;keine Nummer\n" +
	"Carla;0172/3456789\n" +
	"Dieter;0049 176 12345678\n" +
	"Eva;01522 3344556\n"

// browserRecipients are the CSV's valid numbers in E.164.
var browserRecipients = []string{"+4915123456701", "+491609876543", "+491723456789", "+4917612345678", "+4915223344556"}

// The emoji forces UCS-2; the text still fits one part (≤ 70 UTF-16 units).
const browserText = "Frühlingsaktion: 20 % Rabatt, nur heute 🌷"

// TestPortalEndToEndAgainstSimulatedModems drives the real daemon's portal
// in headless Chromium, the way an administrator would: first-run setup with
// the password the console printed, a CSV import with a bad row, an SMS
// campaign sent now through two simulated modems, the detail page until it
// shows Vollendet, then the simulator's own record of what each modem sent
// (the real modem stack, AT commands over ptys, not a recording channel),
// retry/duplicate and the switch to English. Screenshots go to
// testdata/artifacts/.
func TestPortalEndToEndAgainstSimulatedModems(t *testing.T) {
	p, work := startBrowserDaemon(t, 2, "")
	consolePassword := firstRunPassword(t, p)
	base := strings.TrimSuffix(p.portal, "/")

	artifacts := filepath.Join("testdata", "artifacts")
	csvPath := filepath.Join(work, "empfaenger.csv")
	if err := os.WriteFile(csvPath, []byte(browserCSV), 0o644); err != nil {
		t.Fatal(err)
	}

	b := browsertest.Start(t, artifacts, "daemon-", 120*time.Second)
	b.Context = func() string { return "daemon log:\n" + p.log() }
	ctx := b.Ctx
	shot, run, fail := b.Shot, b.Run, b.Fail
	click, typeIn, setValue, stable := browsertest.Click, browsertest.TypeIn, browsertest.SetValue, browsertest.Stable
	text := b.Text
	// watch polls the campaign page until cond (a JavaScript expression)
	// holds. While the campaign sends, the page reloads itself; at rest the
	// test reloads it, as a person presses F5, to see delivery reports that
	// arrive after the campaign completed. 60 s is a failure guard only.
	watch := func(step, cond string) {
		t.Helper()
		probe := `(() => {
			const d = document.querySelector("#campaign-detail");
			if (!d || document.readyState !== "complete") return "loading";
			if (` + cond + `) return "ok";
			return d.hasAttribute("data-refresh") ? "refreshing" : "rest";
		})()`
		deadline := time.Now().Add(60 * time.Second)
		for {
			st, err := chromedp.Run(ctx, chromedp.Evaluate[string](probe))
			if err != nil && ctx.Err() != nil {
				fail(step, err)
			}
			if st == "ok" {
				return
			}
			if time.Now().After(deadline) {
				fail(step, fmt.Errorf("not reached within 60 s: %s", cond))
			}
			run("poll", chromedp.Sleep(300*time.Millisecond))
			if st == "rest" {
				// A reload that meets a navigation fails; the next
				// round looks at whatever page is there.
				_ = chromedp.Do(ctx, chromedp.Reload())
			}
		}
	}
	const (
		stateIs  = `document.querySelector("#campaign-state").textContent.trim() === %q`
		countsIn = `document.querySelector("#campaign-counts").textContent.includes(%q)`
	)

	// First run: every page leads to setup, which asks for the password the
	// console printed and a new one.
	run("setup page",
		chromedp.Navigate(base+"/campaigns"),
		chromedp.WaitVisible(chromedp.CSS("#setup-form")),
		shot("01-setup"),
		typeIn("#current_password", consolePassword),
		typeIn("#password", "ein sicheres Passwort"),
		typeIn("#password2", "ein sicheres Passwort"),
		setValue("#language", "de"),
		setValue("#country", "DE"),
		setValue("#timezone", "Europe/Berlin"),
		// Marks this document, so the wait below knows when the answer to
		// the submit has replaced it.
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.body.dataset.before = "submit"; true`)(ctx, tg)
			return err
		}),
		click("#setup-submit"),
	)
	// Setup signs the admin in; should it land on the login form instead,
	// log in as a person would.
	landed := ""
	for landed == "" {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState !== "complete" || document.body.dataset.before ? "" :
			document.querySelector("#live") ? "dashboard" : document.querySelector("#login-form") ? "login" :
			document.querySelector("#setup-form") ? "setup" : "other"`))
		switch {
		case err == nil:
			landed = s
		case ctx.Err() != nil:
			fail("after setup", err)
		}
		if landed == "" {
			run("wait after setup", chromedp.Sleep(100*time.Millisecond))
		}
	}
	switch landed {
	case "setup", "other":
		fail("setup", fmt.Errorf("setup was not accepted: %s page", landed))
	}
	if landed == "login" {
		run("login",
			typeIn("#username", "admin"),
			typeIn("#password", "ein sicheres Passwort"),
			click("#login-submit"),
			chromedp.WaitVisible(chromedp.CSS("#live")),
		)
	}
	run("dashboard", chromedp.WaitVisible(chromedp.CSS("#live")), shot("02-dashboard"))
	if s := text("main h1"); s != "Übersicht" {
		t.Fatalf("dashboard title %q, want the German Übersicht", s)
	}

	// Nachrichtenkampagne > Hinzufügen: CSV import with a bad row.
	run("campaign form",
		click("#nav-campaigns"),
		chromedp.WaitVisible(chromedp.CSS("#campaign-add")),
		shot("03-campaign-list"),
		click("#campaign-add"),
		chromedp.WaitVisible(chromedp.CSS("#campaign-form")),
	)
	senders, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#sender option")).map(o => o.value)`))
	if err != nil {
		fail("list senders", err)
	}
	sender := ""
	for _, s := range senders {
		if strings.HasPrefix(s, "sms|") {
			sender = s
			break
		}
	}
	if sender == "" {
		t.Fatalf("the sender list %q offers nothing of the channel sms", senders)
	}
	run("fill campaign",
		typeIn("#name", "Frühlingsaktion"),
		setValue("#sender", sender),
		stable(chromedp.SetUploadFiles(chromedp.CSS("#csv"), []string{csvPath})),
		chromedp.WaitVisible(chromedp.CSS("#csv-problems")),
		typeIn("#text", browserText),
	)
	problems := text("#csv-problems")
	if !strings.Contains(problems, "Zeile 4") || !strings.Contains(problems, "keine Nummer") {
		t.Fatalf("CSV problems %q do not name line 4 and its input", problems)
	}
	if s := text("#csv-valid"); !strings.Contains(s, "5") {
		t.Fatalf("CSV preview %q does not count 5 valid recipients", s)
	}
	if s := text("#sms-counter"); !strings.Contains(s, "1 SMS-Teil") || !strings.Contains(s, "Unicode") {
		t.Fatalf("counter %q: want one part, Unicode (the emoji)", s)
	}
	run("send now",
		click("#skip_invalid"),
		click("#send-now"),
		shot("04-campaign-form"),
		click("#campaign-save"),
		chromedp.WaitVisible(chromedp.CSS("#campaign-detail")),
	)
	detailURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		fail("detail location", err)
	}
	if !regexp.MustCompile(`/campaigns/[^/]+$`).MatchString(detailURL) {
		fail("save campaign", fmt.Errorf("landed on %s, not a campaign's page", detailURL))
	}

	// Watch the detail page until the badge says Vollendet and the
	// modems' delivery reports are in.
	watch("watch campaign", fmt.Sprintf(stateIs, "Vollendet")+" && "+fmt.Sprintf(countsIn, "5 zugestellt"))
	run("completed", chromedp.WaitVisible(chromedp.CSS("#campaign-state.st-completed")), shot("05-campaign-completed"))
	counts := text("#campaign-counts")
	if !strings.Contains(counts, "0 fehlgeschlagen") {
		t.Errorf("counts %q, want no failure", counts)
	}
	if s := text("#recipient-list tbody"); strings.Count(s, "+49") != len(browserRecipients) {
		t.Errorf("recipient list shows %d numbers, want %d:\n%s", strings.Count(s, "+49"), len(browserRecipients), s)
	}

	// The point of running the daemon: ask the simulated network what the
	// modems really sent over their AT ports.
	var modems []struct {
		IMEI   string `json:"imei"`
		Number string `json:"number"`
	}
	getJSON(t, p.portal+"sim/modems", &modems)
	if len(modems) != 2 {
		t.Fatalf("simulated modems: %+v, want 2", modems)
	}
	checkReceived := func(want int) {
		t.Helper()
		received := map[string][]string{}
		perModem := map[string]int{}
		for _, md := range modems {
			var sent []struct {
				To         string     `json:"to"`
				Text       string     `json:"text"`
				Complete   bool       `json:"complete"`
				Duplicates []struct{} `json:"duplicates"`
			}
			getJSON(t, p.portal+"sim/modems/"+md.IMEI+"/sent", &sent)
			for _, s := range sent {
				if !s.Complete || len(s.Duplicates) > 0 {
					t.Errorf("modem %s sent to %s: complete=%v, %d duplicate parts", md.Number, s.To, s.Complete, len(s.Duplicates))
				}
				received[s.To] = append(received[s.To], s.Text)
				perModem[md.Number]++
			}
		}
		for _, n := range browserRecipients {
			got := received[n]
			ok := len(got) == want
			for _, text := range got {
				ok = ok && text == browserText
			}
			if !ok {
				t.Errorf("%s received %q, want %d× %q", n, got, want, browserText)
			}
		}
		for n := range received {
			if !slices.Contains(browserRecipients, n) {
				t.Errorf("an SMS went to %s, which is not in the CSV: %q", n, received[n])
			}
		}
		t.Logf("simulated modems sent: %v", perModem)
	}
	checkReceived(1)
	if t.Failed() {
		t.FailNow()
	}

	// Nothing failed, so retry is not offered; the copy is a new draft.
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#campaign-retry").length`)); n > 0 {
		t.Errorf("Fehlgeschlagene erneut senden is offered although nothing failed (%s)", counts)
	}
	run("duplicate",
		click("#campaign-duplicate"),
		chromedp.WaitVisible(chromedp.CSS("#campaign-start")),
		shot("06-duplicate"),
	)
	if s := text("#campaign-state"); s != "Entwurf" {
		t.Fatalf("duplicate's state %q, want Entwurf", s)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc == detailURL {
		t.Fatalf("duplicate stayed on the original campaign %s", loc)
	}

	// The network refuses the copy: every modem's status reports say
	// "incompatible destination" (TP-ST 0x41), after the campaign completed.
	setFault := func(body string) {
		t.Helper()
		for _, md := range modems {
			req, _ := http.NewRequest(http.MethodPut, p.portal+"sim/modems/"+md.IMEI+"/fault", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("PUT fault %s on %s: %s", body, md.Number, resp.Status)
			}
		}
	}
	setFault(`{"report_status": 65}`)
	run("start copy", click("#campaign-start"))
	watch("copy fails", fmt.Sprintf(stateIs, "Vollendet")+" && "+fmt.Sprintf(countsIn, "5 fehlgeschlagen")+
		` && document.querySelector("#campaign-retry")`)
	run("copy failed", shot("07-copy-failed"))

	// The network accepts again: retry sends only the failed recipients.
	setFault(`{}`)
	run("retry", click("#campaign-retry"))
	watch("retry", fmt.Sprintf(stateIs, "Vollendet")+" && "+fmt.Sprintf(countsIn, "5 zugestellt")+
		" && "+fmt.Sprintf(countsIn, "0 fehlgeschlagen"))
	run("after retry", shot("08-after-retry"))
	// Once for the campaign, once refused for the copy, once its retry.
	checkReceived(3)

	// Switch to English on the copy's page, then the list.
	run("language",
		click("#lang-en"),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="en"] #campaign-detail`)),
	)
	if s := text("#campaign-state"); s != "Completed" {
		t.Fatalf("English state %q, want Completed", s)
	}
	run("list in English",
		click("#nav-campaigns"),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="en"] #campaign-list`)),
		shot("09-list-en"),
	)
	list := text("#campaign-list")
	if strings.Count(list, "Completed") != 2 || !strings.Contains(list, "Frühlingsaktion (Kopie)") {
		t.Fatalf("English list %q: want the campaign and its copy, both Completed", list)
	}

	// The message log has every SMS to one recipient: the campaign's, the
	// copy's that the network refused, and the retry's.
	who := browserRecipients[0]
	run("message log",
		click("#nav-messages"),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="en"] #message-filters`)),
		typeIn("#m-q", who),
		setValue("#m-dir", "out"),
		click("#message-search"),
		chromedp.WaitVisible(chromedp.CSS("#messages")),
		shot("10-message-log-en"),
	)
	logRows, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#messages tbody tr")].map(r =>
		r.querySelector(".badge").className + "|" + r.textContent.replace(/\s+/g, " "))`))
	if err != nil {
		fail("message rows", err)
	}
	var delivered, failed int
	for _, r := range logRows {
		if !strings.Contains(r, who) || !strings.Contains(r, browserText) || !strings.Contains(r, "Campaign") {
			t.Errorf("message log row %q: want %s, the campaign text and its origin", r, who)
		}
		switch {
		case strings.Contains(r, "ms-delivered"):
			delivered++
		case strings.Contains(r, "ms-failed"):
			failed++
		}
	}
	if len(logRows) != 3 || delivered != 2 || failed != 1 {
		t.Errorf("message log for %s: %d rows (%d delivered, %d failed), want 3 (2, 1):\n%s", who, len(logRows), delivered, failed, strings.Join(logRows, "\n"))
	}

	// A subscriber group: an admin pastes numbers, the invalid one is named
	// at the field, the valid ones join.
	run("groups",
		click("#nav-groups"),
		chromedp.WaitVisible(chromedp.CSS("#group-create")),
		typeIn("#name", "Newsletter"),
		typeIn("#description", "Monthly offers"),
		click("#group-create button[type=submit]"),
		chromedp.WaitVisible(chromedp.CSS("#members-add")),
		typeIn("#numbers", browserRecipients[1]+", 12x45; "+browserRecipients[2]),
		click("#members-add button[type=submit]"),
		chromedp.WaitVisible(chromedp.CSS("#members-add .err")),
		shot("11-group-members-en"),
	)
	if e := text("#members-add .err"); !strings.Contains(e, "12x45") {
		t.Errorf("group member error %q does not name the invalid number 12x45", e)
	}
	if m := text("#members"); !strings.Contains(m, browserRecipients[1]) || !strings.Contains(m, browserRecipients[2]) {
		t.Errorf("group members %q: want %s and %s", m, browserRecipients[1], browserRecipients[2])
	}
}

// startBrowserDaemon is the set-up of the daemon browser tests: it skips
// without Debian's chromium, runs the test in parallel, and starts a
// demo-mode daemon (the simulators' controls mounted) with sims simulated
// modems on one SMS channel "sms" and extra appended to its
// configuration. It returns the daemon and the test's work directory.
func startBrowserDaemon(t *testing.T, sims int, extra string) (*proc, string) {
	t.Helper()
	if _, err := os.Stat(browsertest.ChromiumPath); err != nil {
		t.Skipf("SKIP: %s not found; install Debian's chromium (apt-get install chromium) to run the browser test", browsertest.ChromiumPath)
	}
	t.Parallel()
	work := t.TempDir()
	names := make([]string, sims)
	for i := range names {
		names[i] = fmt.Sprintf("sim%d", i+1)
	}
	cfgPath := filepath.Join(work, "pbxgate.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
log: {format: json}
http: {listen: "127.0.0.1:0"}
modems: {discover: false, simulate: %d}
sms_channels: [{name: sms, modems: [%s]}]
`, filepath.Join(work, "data"), sims, strings.Join(names, ", ")) + extra
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startDaemon(t, cfgPath, "--demo"), work
}
