package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

var sessionLinkRE = regexp.MustCompile(`href="/sessions/([0-9A-Za-z_-]+)"`)

// TestSessionReplyFileInBrowser drives the session page of the real daemon
// (one simulated EC25 with the simulator's MMSC, SMS sessions to a SIP
// peer on loopback) in headless Chromium, in German: a PDF over the 300 KB
// limit is refused at the file field with the reason; a photo with a text
// goes out as MMS, and the chat log shows its thumbnail and what fitting
// did. Screenshots at 1366 and 390 wide go to testdata/artifacts/.
func TestSessionReplyFileInBrowser(t *testing.T) {
	peer := startPBXPeer(t)
	gw := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	p, _ := startBrowserDaemon(t, 1, fmt.Sprintf(`sip:
  enabled: true
  mode: peer
  transport: udp
  listen: %s
  domain: pbxgate.test
  peer_address: %s
  allow_from: [127.0.0.1]
  sessions:
    routes: [{channel: sms, to: "201"}]
`, gw, peer.addr))
	completeSetup(t, p) // German, password "a new admin password"
	injectSMS(t, p, onlySimIMEI(t, p), "+4917012345678", "Haben Sie ein Foto vom Angebot?")
	select {
	case <-peer.inbox:
	case <-time.After(30 * time.Second):
		t.Fatalf("the customer's SMS did not reach extension 201; log:\n%s", p.log())
	}
	pc := newPortalClient(t, p.portal)
	pc.login("admin", "a new admin password")
	m := sessionLinkRE.FindSubmatch(pc.get("/sessions"))
	if m == nil {
		t.Fatal("no session in the list")
	}
	session := string(m[1])

	base := strings.TrimSuffix(p.portal, "/")
	dir := t.TempDir()
	pdf := filepath.Join(dir, "katalog.pdf")
	if err := os.WriteFile(pdf, append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 400*1024)...), 0o600); err != nil {
		t.Fatal(err)
	}
	jpg := filepath.Join(dir, "angebot.jpg")
	if err := os.WriteFile(jpg, noisyJPEG(1000, 800, 9), 0o600); err != nil {
		t.Fatal(err)
	}

	b := browsertest.Start(t, filepath.Join("testdata", "artifacts"), "mms-reply-", 180*time.Second)
	b.Context = func() string { return "daemon log:\n" + p.log() }
	run, shot, text := b.Run, b.Shot, b.Text
	click, typeIn := browsertest.Click, browsertest.TypeIn
	run("login",
		chromedp.EmulateViewport(1366, 900),
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		typeIn("#username", "admin"),
		typeIn("#password", "a new admin password"),
		click("#login-submit"),
		chromedp.WaitVisible(chromedp.CSS("#live")),
		chromedp.Navigate(base+"/lang/de"),
		chromedp.WaitVisible(chromedp.CSS("#live")),
	)
	run("German: oversize PDF refused",
		chromedp.Navigate(base+"/sessions/"+session),
		chromedp.WaitVisible(chromedp.CSS("#reply-file")),
		typeIn("#reply-text", "Unser Katalog"),
		chromedp.SetUploadFiles("#reply-file", []string{pdf}),
		click("#session-reply"),
		chromedp.WaitVisible(chromedp.CSS("#reply-file-field .err")),
		shot("01-de-refused-1366"),
		chromedp.EmulateViewport(390, 844),
		shot("02-de-refused-390"),
		chromedp.EmulateViewport(1366, 900),
	)
	if s := text("#reply-file-field .err"); !strings.Contains(s, "nur Bilder lassen sich verkleinern") || !strings.Contains(s, "300 KB") {
		t.Fatalf("German refusal at the file field: %q", s)
	}
	draft, err := chromedp.Run(b.Ctx, chromedp.Value(chromedp.CSS("#reply-text")))
	if err != nil || draft != "Unser Katalog" {
		t.Fatalf("the refused reply's text was not kept: %q %v", draft, err)
	}
	run("German: photo sent",
		chromedp.SetUploadFiles("#reply-file", []string{jpg}),
		browsertest.SetValue("#reply-text", "Hier das Angebot"),
		click("#session-reply"),
		chromedp.WaitVisible(chromedp.CSS(".msg.out .attachment img.thumb")),
		shot("03-de-sent-1366"),
	)
	if s := text(".msg.out .attachment .fit"); !strings.Contains(s, "angebot.jpg: verkleinert von 1000×800 auf") || !strings.Contains(s, "Grenze 300 KB") {
		t.Fatalf("fitting result in the chat log: %q", s)
	}
	run("German: phone width",
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/sessions/"+session),
		chromedp.WaitVisible(chromedp.CSS(".msg.out .attachment img.thumb")),
		shot("04-de-sent-390"),
	)
	// The MMS went out (sent, not failed) through the simulated modem.
	deadline := time.Now().Add(60 * time.Second)
	sentRE := regexp.MustCompile(`(?s)class="attachment".*?class="meta">[^<]*· Gesendet`)
	for !sentRE.Match(pc.get("/sessions/" + session)) {
		if time.Now().After(deadline) {
			t.Fatalf("the MMS reply was not sent; log:\n%s", p.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
