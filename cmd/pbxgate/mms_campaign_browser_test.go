package main

import (
	"bytes"
	"image"
	"image/jpeg"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// TestMMSCampaignFormInBrowser drives the campaign form of the real daemon
// (one simulated EC25 with the simulator's MMSC) in headless Chromium: in
// German a PDF over the carrier limit is refused at the file field with
// the reason; in English a photo is checked (scaled, the result shown),
// the campaign saved and sent as MMS. Screenshots go to testdata/artifacts/.
func TestMMSCampaignFormInBrowser(t *testing.T) {
	p, _ := startBrowserDaemon(t, 1, "")
	completeSetup(t, p) // German, password "a new admin password"
	base := strings.TrimSuffix(p.portal, "/")
	dir := t.TempDir()
	pdf := filepath.Join(dir, "katalog.pdf")
	if err := os.WriteFile(pdf, append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 400*1024)...), 0o600); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 1000, 800))
	r := rand.New(rand.NewSource(6))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Intn(256))
	}
	var photo bytes.Buffer
	_ = jpeg.Encode(&photo, img, &jpeg.Options{Quality: 95})
	jpg := filepath.Join(dir, "foto.jpg")
	if err := os.WriteFile(jpg, photo.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	b := browsertest.Start(t, filepath.Join("testdata", "artifacts"), "mms-campaign-", 180*time.Second)
	b.Context = func() string { return "daemon log:\n" + p.log() }
	run, shot, text := b.Run, b.Shot, b.Text
	click, typeIn := browsertest.Click, browsertest.TypeIn
	run("login",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		typeIn("#username", "admin"),
		typeIn("#password", "a new admin password"),
		click("#login-submit"),
		chromedp.WaitVisible(chromedp.CSS("#live")),
		chromedp.Navigate(base+"/lang/de"),
		chromedp.WaitVisible(chromedp.CSS("#live")),
	)
	run("German: oversize PDF",
		chromedp.Navigate(base+"/campaigns/new"),
		chromedp.WaitVisible(chromedp.CSS("#mms-media")),
		typeIn("#name", "Katalog"),
		typeIn("#numbers", "+4917011112222"),
		chromedp.SetUploadFiles("#media", []string{pdf}),
		click("#media-check"),
		chromedp.WaitVisible(chromedp.CSS("#mms-media .err")),
		shot("01-de-refused"),
	)
	if s := text("#mms-media .err"); !strings.Contains(s, "nur Bilder lassen sich verkleinern") || !strings.Contains(s, "300 KB") {
		t.Fatalf("German refusal at the file field: %q", s)
	}
	run("English: photo checked",
		chromedp.Navigate(base+"/lang/en"),
		chromedp.WaitVisible(chromedp.CSS("#live")),
		chromedp.Navigate(base+"/campaigns/new"),
		chromedp.WaitVisible(chromedp.CSS("#mms-media")),
		typeIn("#name", "Photo offer"),
		typeIn("#numbers", "+4917011112222"),
		typeIn("#text", "Our offer"),
		chromedp.SetUploadFiles("#media", []string{jpg}),
		click("#media-check"),
		chromedp.WaitVisible(chromedp.CSS("#media-fit")),
		shot("02-en-fitted"),
	)
	if s := text("#media-fit"); !strings.Contains(s, "foto.jpg: the picture was made smaller to fit into 300 KB: 1000×800") {
		t.Fatalf("fitting result: %q", s)
	}
	run("English: saved and sent",
		click("#campaign-save"),
		chromedp.WaitVisible(chromedp.CSS("#campaign-detail")),
		shot("03-en-saved"),
	)
}
