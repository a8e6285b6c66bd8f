package web

import (
	"strings"
	"sync"
	"testing"
	"time"

	cdpage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// In Chromium, in German, at desktop (1280 px) and phone (390 px) width:
// the numbers page shows what Meta reported (quality low, limit 250,
// paused template with Meta's explanation); the admin creates a template
// — first with a URL button lacking its example (refused at that button,
// the form keeps what was typed), then complete: it is listed "in
// Prüfung" and the emulator has it; deleting asks first (cancel keeps
// it), then removes it at the emulator and in the list. Screenshots:
// testdata/artifacts/wa-account-*.png.
func TestBrowserWhatsAppAccountAndTemplates(t *testing.T) {
	t.Parallel()
	env, ch, emu := waAccountEnv(t)
	signalsFromMeta(t, ch, emu)
	b := startBrowser(t, env, "wa-account-", 180*time.Second)
	var mu sync.Mutex
	accept, asked := false, []string{}
	dialogs := chromedp.Events(b.Ctx, cdpage.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			mu.Lock()
			asked = append(asked, ev.Message)
			a := accept
			mu.Unlock()
			_, _ = chromedp.Call(b.Ctx, cdpage.HandleJavaScriptDialog, cdpage.HandleJavaScriptDialogParams{Accept: a})
		}
	}()
	base := env.srv.URL
	for _, vp := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 1000}, {"phone", 390, 844}} {
		b.Run("account "+vp.name, chromedp.EmulateViewport(vp.w, vp.h), chromedp.Navigate(base+"/whatsapp"),
			browsertest.Click("#wa-tab-account"), chromedp.WaitVisible(chromedp.CSS("#wa-signals")), b.Shot("01-account-"+vp.name))
		if q := b.Text(".wa-quality"); !strings.Contains(q, "niedrig (rot)") {
			t.Errorf("%s: quality %q", vp.name, q)
		}
		if tier := b.Text(".wa-tier"); !strings.Contains(tier, "bis 250 Kunden") {
			t.Errorf("%s: tier %q", vp.name, tier)
		}
		if s := b.Text("#wa-signals"); !strings.Contains(s, "Vorlage hello_world (en_US): pausiert") || !strings.Contains(s, "Limit gesenkt") {
			t.Errorf("%s: signals %q", vp.name, s)
		}
	}
	b.Run("desktop", chromedp.EmulateViewport(1280, 1000))
	b.Run("form, URL button without example", chromedp.Navigate(base+"/whatsapp/templates"), chromedp.WaitVisible(chromedp.CSS("#wa-template-form")),
		browsertest.TypeIn("#tpl-name", "termin_erinnerung"),
		browsertest.SetValue("#tpl-language", "de"),
		browsertest.TypeIn("#tpl-body", "Hallo {{1}}, Ihr Termin ist am {{2}}. Bis bald!"),
		browsertest.TypeIn("#tpl-body-examples", "Anna\n3. März"),
		browsertest.SetValue("#tpl-button_type_0", "URL"),
		browsertest.TypeIn("#tpl-button_text_0", "Termin ansehen"),
		browsertest.TypeIn("#tpl-button_value_0", "https://praxis.example/t/{{1}}"), // netscope: a template button URL typed into the form, never fetched
		browsertest.Click("#tpl-submit"), chromedp.WaitVisible(chromedp.CSS(".wa-button-row .err")), b.Shot("02-button-refused"))
	if e := b.Text(".wa-button-row .err"); !strings.Contains(e, "Ein Link mit Variable braucht ein Beispiel.") {
		t.Fatalf("button error %q", e)
	}
	if _, ok := ch.Templates().Get("termin_erinnerung", "de"); ok {
		t.Fatal("refused template kept")
	}
	b.Run("form, complete", browsertest.TypeIn("#tpl-button_example_0", "abc123"),
		browsertest.Click("#tpl-submit"), chromedp.WaitVisible(chromedp.CSS(".flash")), b.Shot("03-created"))
	if f := b.Text(".flash"); f != "Vorlage eingereicht; Meta prüft sie." {
		t.Errorf("flash %q", f)
	}
	if s := b.Text("#wa-tpl-termin_erinnerung-de .wa-tpl-status"); s != "in Prüfung" {
		t.Errorf("status %q", s)
	}
	if ti, ok := ch.Templates().Get("termin_erinnerung", "de"); !ok || ti.Status != "PENDING" {
		t.Errorf("local copy %+v %v", ti, ok)
	}
	b.Run("phone list", chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#wa-template-list")), b.Shot("04-list-phone"),
		chromedp.EmulateViewport(1280, 1000))
	del := "#wa-delete-termin_erinnerung-de"
	b.Run("delete, cancelled", browsertest.Click(del), chromedp.WaitVisible(chromedp.CSS(del)))
	mu.Lock()
	q := ""
	if len(asked) > 0 {
		q = asked[len(asked)-1]
	}
	accept = true
	mu.Unlock()
	if !strings.Contains(q, "Ja, die Vorlage „termin_erinnerung“ bei Meta löschen.") {
		t.Fatalf("dialog asked %q", q)
	}
	if _, ok := ch.Templates().Get("termin_erinnerung", "de"); !ok {
		t.Fatal("cancelled delete removed the template")
	}
	b.Run("delete, confirmed", browsertest.Click(del), chromedp.WaitVisible(chromedp.CSS(".flash")), b.Shot("05-deleted"))
	if f := b.Text(".flash"); f != "Vorlage gelöscht." {
		t.Errorf("flash %q", f)
	}
	if _, ok := ch.Templates().Get("termin_erinnerung", "de"); ok {
		t.Error("deleted template still listed")
	}
	if err := ch.Templates().Sync(b.Ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := ch.Templates().Get("termin_erinnerung", "de"); ok {
		t.Error("the emulator still has the deleted template")
	}
}
