package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/logbuf"
	"github.com/pbxgate/pbxgate/gateway/message"
	chat "github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/web/browsertest"
)

// TestBrowserEndToEnd drives the portal in real headless Chromium: first-run
// setup with the console password, logout and login, a CSV import with a
// bad row, an SMS campaign sent now that reaches Vollendet, retry of the
// failed recipient, duplicate, the language switch, an admin's reply in a
// chat session, and the System page with its logs. Screenshots go to
// testdata/artifacts/.
func TestBrowserEndToEnd(t *testing.T) {
	if _, err := os.Stat(browsertest.ChromiumPath); err != nil {
		t.Skipf("SKIP: %s not found; install Debian's chromium (apt-get install chromium) to run the browser test", browsertest.ChromiumPath)
	}
	var env *testEnv
	var sessions *chat.Manager
	replies := make(chan message.Outbound, 4)
	opt, ch, engine := withEngine(t, &env)
	env = newEnv(t, opt, func(d *app.Deps) {
		st := app.Status{QueueDepth: 3, SIP: []app.SIPStatus{{Name: "pbx", Server: "192.0.2.10:5060", Health: app.HealthOK, State: "registered"}}} // netscope: a status line rendered
		for i, bars := range []int{4, 2} {
			st.Modems = append(st.Modems, app.ModemStatus{ID: fmt.Sprintf("sim%d", i+1), Model: "EC25", Health: app.HealthOK, State: "ready",
				SignalBars: bars, Operator: "Telekom.de", Registration: "home", SIM: fmt.Sprintf("+49152000000%02d", i+1), SentToday: 40 * (i + 1), DailyCap: 500})
		}
		for h := range 24 {
			st.History = append(st.History, app.TrafficBucket{Start: time.Date(2026, 11, 21, h, 0, 0, 0, time.UTC), Sent: 5 + h*3%17, Delivered: 4 + h*3%15, Failed: h % 4})
		}
		d.Status = staticStatus{st}
		ring := logbuf.New(200)
		d.Logs = ring
		d.Logger = slog.New(ring.Handler(slog.NewTextHandler(io.Discard, nil)))
		mgr, err := chat.New(chat.Config{Store: d.Store, Deliverer: &phones{got: map[string]int{}}, Logger: d.Logger,
			Channels: []chat.Channel{{Name: "gsm", Kind: message.SMS, Route: chat.Target{Kind: "extension", ID: "201"},
				Sender: chat.SenderFunc(func(_ context.Context, out message.Outbound) error {
					replies <- out
					return nil
				})}}})
		if err != nil {
			t.Fatal(err)
		}
		d.Sessions = mgr
		sessions = mgr
		d.PBX = storedPBX{st: d.Store, file: config.Default().SIP}
		rctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- mgr.Run(rctx) }()
		t.Cleanup(func() { stop(); <-done })
	})
	if err := sessions.Inbound(context.Background(), message.Inbound{ID: "in-1", Kind: message.SMS, Channel: "gsm", Receiver: "+4930123",
		From: "+4915123456789", Text: "Ist mein Paket schon unterwegs?", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// One recipient of the CSV is refused by the "network" until retried.
	ch.setReject("+436641234567", true)

	artifacts := filepath.Join("testdata", "artifacts")
	csvPath := filepath.Join(t.TempDir(), "empfaenger.csv")
	if err := os.WriteFile(csvPath, []byte(testCSV), 0o644); err != nil {
		t.Fatal(err)
	}

	b := browsertest.Start(t, artifacts, "", 180*time.Second)
	ctx := b.Ctx
	shot, run, text := b.Shot, b.Run, b.Text
	click, typeIn, stable := browsertest.Click, browsertest.TypeIn, browsertest.Stable
	base := env.srv.URL

	// First run: everything leads to setup, which asks for the console
	// password and a new one.
	run("setup page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#setup-form")),
		shot("01-setup"),
		typeIn("#current_password", env.adminPassword),
		typeIn("#password", "ein sicheres Passwort"),
		typeIn("#password2", "ein sicheres Passwort"),
		stable(chromedp.SetValue(chromedp.CSS("#language"), "de")),
		click("#setup-submit"),
		chromedp.WaitVisible(chromedp.CSS("#live")),
		shot("02-dashboard"),
	)
	if s := text("main h1"); s != "Übersicht" {
		t.Fatalf("dashboard title %q", s)
	}

	// Log out and in again.
	run("logout/login",
		click("#logout"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		typeIn("#username", "admin"),
		typeIn("#password", "ein sicheres Passwort"),
		click("#login-submit"),
		chromedp.WaitVisible(chromedp.CSS("#live")),
	)

	// Messaging > Nachrichtenkampagne > Hinzufügen, CSV with a bad row.
	run("campaign form",
		click("#nav-campaigns"),
		chromedp.WaitVisible(chromedp.CSS("#campaign-add")),
		click("#campaign-add"),
		chromedp.WaitVisible(chromedp.CSS("#campaign-form")),
		typeIn("#name", "Frühlingsaktion"),
		typeIn("#numbers", "+49 151 23456789"),
		stable(chromedp.SetUploadFiles(chromedp.CSS("#csv"), []string{csvPath})),
		chromedp.WaitVisible(chromedp.CSS("#csv-problems")),
		typeIn("#text", "Hallo! 20 % Rabatt – nur heute 😀"),
	)
	if s := text("#csv-problems"); !strings.Contains(s, "Zeile 3") {
		t.Fatalf("CSV problems %q lack the bad line", s)
	}
	// The emoji switches to UCS-2; the counter says so live.
	if s := text("#sms-counter"); !strings.Contains(s, "1 SMS-Teil") || !strings.Contains(s, "Unicode") {
		t.Fatalf("counter %q", s)
	}
	run("save campaign",
		shot("03-campaign-form"),
		click("#skip_invalid"),
		click("#campaign-save"),
		chromedp.WaitVisible(chromedp.CSS("#campaign-detail")),
		// The page refreshes itself while the campaign runs.
		chromedp.WaitVisible(chromedp.CSS("#campaign-state.st-completed")),
		shot("04-campaign-completed"),
	)
	if s := text("#campaign-state"); s != "Vollendet" {
		t.Fatalf("state %q, want Vollendet", s)
	}
	if s := text("#campaign-counts"); !strings.Contains(s, "1 fehlgeschlagen") {
		t.Fatalf("counts %q, want one failure", s)
	}

	// Retry the failed recipient once the network accepts it.
	ch.setReject("+436641234567", false)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	run("retry", click("#campaign-retry"))
	id := strings.TrimPrefix(strings.TrimPrefix(loc, base), "/campaigns/")
	deadline := time.After(30 * time.Second)
	for {
		changes := engine().Changes()
		c, err := engine().Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State == "completed" && c.Counts.Failed == 0 {
			break
		}
		select {
		case <-changes:
		case <-deadline:
			t.Fatalf("retry did not finish: %+v", c.Counts)
		}
	}
	// The retrying page reloads itself every few seconds; a navigation of
	// ours that meets one of those reloads is aborted by the browser, so
	// navigate again until one lands (bounded).
	for attempt := 1; ; attempt++ {
		err := chromedp.Do(ctx, chromedp.Navigate(loc), chromedp.WaitVisible(chromedp.CSS("#campaign-state.st-completed")))
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "ERR_ABORTED") {
			t.Fatalf("open campaign after retry: %v", err)
		}
	}
	run("after retry", shot("05-after-retry"))
	if s := text("#campaign-counts"); !strings.Contains(s, "0 fehlgeschlagen") {
		t.Fatalf("counts after retry %q", s)
	}

	// Duplicate: a new draft.
	run("duplicate",
		click("#campaign-duplicate"),
		chromedp.WaitVisible(chromedp.CSS("#campaign-start")),
		shot("06-duplicate"),
	)
	if s := text("#campaign-state"); s != "Entwurf" {
		t.Fatalf("duplicate state %q", s)
	}

	// Switch to English.
	run("language",
		click("#lang-en"),
		// The new page, not the German one still showing.
		chromedp.WaitVisible(chromedp.CSS(`html[lang="en"] #campaign-start`)),
	)
	if s := text("#campaign-state"); s != "Draft" {
		t.Fatalf("English state %q", s)
	}
	run("list in English",
		click("#nav-campaigns"),
		chromedp.WaitVisible(chromedp.CSS("#campaign-list")),
		shot("07-list-en"),
	)
	if s := text("#campaign-list"); !strings.Contains(s, "Completed") || !strings.Contains(s, "Draft") {
		t.Fatalf("list %q", s)
	}

	// An admin answers a customer's chat from the portal.
	run("session reply",
		click("#nav-sessions"),
		click(".grid a[href^='/sessions/']"),
		chromedp.WaitVisible(chromedp.CSS("#reply-text")),
		typeIn("#reply-text", "Ja, es ist heute unterwegs."),
		click("#session-reply"),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
		shot("08-session-reply"),
	)
	if s := text("#chat-log"); !strings.Contains(s, "Ja, es ist heute unterwegs.") {
		t.Fatalf("chat log after the reply: %q", s)
	}
	select {
	case out := <-replies:
		if out.To != "+4915123456789" || out.Text != "Ja, es ist heute unterwegs." {
			t.Fatalf("reply sent as %+v", out)
		}
	default:
		t.Fatal("the reply did not reach the channel")
	}

	// System: backup/restore, firmware update, then the log.
	run("system and logs",
		chromedp.Navigate(base+"/system"),
		chromedp.WaitVisible(chromedp.CSS("#update-card")),
		shot("09-system"),
		click("#logs-link"),
		chromedp.WaitVisible(chromedp.CSS("#log-table")),
		shot("10-logs"),
	)
	if s := text("#log-table"); !strings.Contains(s, "session action") {
		t.Fatalf("log page lacks the reply's log line: %q", s)
	}

	// PBX settings: a queue with a member missing is refused at the field.
	run("pbx settings",
		chromedp.Navigate(base+"/pbx"),
		chromedp.WaitVisible(chromedp.CSS("#pbx-form")),
		typeIn("#q0_name", "support"),
		click("#pbx-save"),
		chromedp.WaitVisible(chromedp.CSS("#pbx-form .err")),
		shot("11-pbx-settings"),
	)
	if s := text("#queue-0"); !strings.Contains(s, "a queue needs at least one extension") {
		t.Fatalf("queue without members: %q", s)
	}
}
