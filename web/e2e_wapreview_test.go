package web

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/browsertest"
)

// TestBrowserWhatsAppPreview drives Chromium in German and English, at
// 1280 px and at 390 px, through the campaign form's WhatsApp preview:
// a template with a text header, body variables, a footer and two buttons
// shows all four, the body filled for the first recipient of the uploaded
// CSV ({{name}} → Anna); an image header shows the picked picture; a
// location header shows the address and the coordinates from the Google
// Maps URL. Screenshots: testdata/artifacts/wapreview-*.png.
func TestBrowserWhatsAppPreview(t *testing.T) {
	tpls := templateList{
		{Name: "angebot", Language: "de", Status: "APPROVED", Category: "MARKETING", Header: "TEXT", HeaderText: "Sommer-Aktion",
			Variables: []string{"1", "2"}, Body: "Hallo {{1}}, Ihr Code {{2}} gilt bis Ende August.", Footer: "Abmelden mit STOP",
			Buttons: []campaign.TemplateButton{{Type: "QUICK_REPLY", Text: "Keine Werbung"}, {Type: "URL", Dynamic: true, Text: "Zum Shop"}}},
		{Name: "flyer", Language: "de", Status: "APPROVED", Category: "MARKETING", Header: "IMAGE", Body: "Unser neuer Flyer."},
		{Name: "standort", Language: "de", Status: "APPROVED", Category: "UTILITY", Header: "LOCATION", Variables: []string{"1"}, Body: "Wir sind umgezogen, {{1}}."},
	}
	ch := &waChannel{}
	env := newEnv(t, func(d *app.Deps) {
		chans := map[string]campaign.Channel{"wa": ch}
		eng, err := campaign.New(campaign.Config{Store: d.Store, Channels: chans, Logger: slog.New(slog.DiscardHandler),
			Location: time.UTC, Region: "DE", Templates: tpls})
		if err != nil {
			t.Fatal(err)
		}
		ch.mu.Lock()
		ch.eng = eng
		ch.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		d.Campaigns = app.EngineCampaigns(eng, chans)
		d.Templates = tpls
	})
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "kunden.csv")
	if err := os.WriteFile(csvPath, []byte("name;phone\nAnna;+4915123456789\nBernd;+4915222222222\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pngPath := filepath.Join(dir, "flyer.png")
	img := image.NewRGBA(image.Rect(0, 0, 120, 80))
	for x := range 120 {
		for y := range 80 {
			img.Set(x, y, color.RGBA{R: uint8(x * 2), G: 120, B: uint8(y * 3), A: 255})
		}
	}
	f, err := os.Create(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b := startBrowser(t, env, "wapreview-", 480*time.Second)
	text := func(sel string) string { return b.Text(sel) }
	for _, tc := range []struct {
		lang, sample, image, location string
		width, height                 int64
	}{
		{"de", "Variablen gefüllt für den ersten Empfänger, +4915123456789.", "Bild:", "Standort:", 1280, 1000},
		{"de", "Variablen gefüllt für den ersten Empfänger, +4915123456789.", "Bild:", "Standort:", 390, 844},
		{"en", "Variables filled for the first recipient, +4915123456789.", "Image:", "Location:", 1280, 1000},
		{"en", "Variables filled for the first recipient, +4915123456789.", "Image:", "Location:", 390, 844},
	} {
		name := tc.lang + "-" + map[int64]string{1280: "desktop", 390: "phone"}[tc.width]
		const msg = `[data-wa-preview="angebot|de"]`
		b.Run(name+" text template",
			chromedp.EmulateViewport(tc.width, tc.height),
			chromedp.Navigate(env.srv.URL+"/lang/"+tc.lang+"?next=/campaigns/new"),
			chromedp.WaitVisible(chromedp.CSS("#sender")),
			browsertest.SetValue("#sender", "wa|"),
			chromedp.SetUploadFiles(chromedp.CSS(`#csv`), []string{csvPath}),
			chromedp.WaitVisible(chromedp.CSS("#csv-preview table")),
			browsertest.SetValue("#template", "angebot|de"),
			chromedp.WaitVisible(chromedp.CSS(`[data-template="angebot|de"]`)),
			browsertest.TypeIn(`[id="var|angebot|de|1"]`, "{{name}}"),
			browsertest.TypeIn(`[id="var|angebot|de|2"]`, "SOMMER25"),
			chromedp.WaitVisible(chromedp.CSS(msg+" .wa-foot")),
			chromedp.ScrollIntoView(chromedp.CSS(msg)),
			b.Shot(name+"-01-text"),
		)
		if got := text(msg + " .wa-head"); got != "Sommer-Aktion" {
			t.Errorf("%s: header %q", name, got)
		}
		if got := text(msg + " .wa-body"); got != "Hallo Anna, Ihr Code SOMMER25 gilt bis Ende August." {
			t.Errorf("%s: body %q, want the variables filled for Anna", name, got)
		}
		if got := text(msg + " .wa-foot"); got != "Abmelden mit STOP" {
			t.Errorf("%s: footer %q", name, got)
		}
		if got := text(msg + " .wa-buttons"); got != "Keine Werbung\nZum Shop" {
			t.Errorf("%s: buttons %q", name, got)
		}
		if got := text("#wa-sample"); got != tc.sample {
			t.Errorf("%s: sample line %q, want %q", name, got, tc.sample)
		}

		const flyer = `[data-wa-preview="flyer|de"]`
		b.Run(name+" image template",
			browsertest.SetValue("#template", "flyer|de"),
			chromedp.WaitVisible(chromedp.CSS(`[data-template="flyer|de"]`)),
			chromedp.SetUploadFiles(chromedp.CSS(`[id="mediafile|flyer|de"]`), []string{pngPath}),
			chromedp.WaitVisible(chromedp.CSS(flyer+" img.wa-img")),
			chromedp.ScrollIntoView(chromedp.CSS(flyer)),
			b.Shot(name+"-02-image"),
		)
		if got := text(flyer + " .wa-media"); !strings.Contains(got, tc.image) || !strings.Contains(got, "flyer.png") {
			t.Errorf("%s: image header %q", name, got)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			w, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelector('`+flyer+` img.wa-img').naturalWidth`))
			if err == nil && w == 120 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: the preview image is %d px wide (%v), want the picked 120 px picture", name, w, err)
				break
			}
		}

		const loc = `[data-wa-preview="standort|de"]`
		b.Run(name+" location template",
			browsertest.SetValue("#template", "standort|de"),
			chromedp.WaitVisible(chromedp.CSS(`[data-template="standort|de"]`)),
			browsertest.TypeIn(`[id="maps|standort|de"]`, "https://www.google.com/maps/place/Stephansdom/@48.2084,16.3731,17z"), // netscope: a Maps URL typed into the form and parsed for coordinates, never fetched
			browsertest.TypeIn(`[id="address|standort|de"]`, "Stephansplatz 3, 1010 Wien"),
			chromedp.WaitVisible(chromedp.CSS(loc+" .wa-loc")),
			chromedp.ScrollIntoView(chromedp.CSS(loc)),
			b.Shot(name+"-03-location"),
		)
		if got := text(loc + " .wa-loc"); got != tc.location+" Stephansplatz 3, 1010 Wien (48.2084, 16.3731)" {
			t.Errorf("%s: location header %q", name, got)
		}
		if got := text(loc + " .wa-body"); got != "Wir sind umgezogen, {{1}}." {
			t.Errorf("%s: an unfilled variable shows as %q, want its placeholder", name, got)
		}
		sw, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil {
			b.Fail("measure", err)
		}
		if int64(sw) > tc.width {
			t.Errorf("%s: the form is %d px wide at %d px", name, sw, tc.width)
		}
	}
}
