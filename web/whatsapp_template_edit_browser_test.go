package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/web/browsertest"
)

// In Chromium against the Cloud API emulator, German at desktop width:
// "Bearbeiten" on Meta's Fall Sale template opens the form pre-filled
// (text and samples as Meta lists them, category fixed); a text starting
// with a variable is refused at the text field and what was typed stays;
// corrected, the changes go to Meta: the list shows the template "in
// Prüfung" and the emulator has the new text. Then in English at phone
// width the paused template's form offers its category. Screenshots:
// testdata/artifacts/wa-tpl-edit-*.png.
func TestBrowserWhatsAppTemplateEdit(t *testing.T) {
	t.Parallel()
	env, ch, _ := waAccountEnv(t)
	b := startBrowser(t, env, "wa-tpl-edit-", 150*time.Second)
	base := env.srv.URL
	b.Run("list de", chromedp.EmulateViewport(1280, 1000), chromedp.Navigate(base+"/whatsapp/templates"),
		chromedp.WaitVisible(chromedp.CSS("#wa-edit-2023_april_promo-en_US")), b.Shot("01-list-de"))
	if l := b.Text("#wa-edit-2023_april_promo-en_US"); l != "Bearbeiten" {
		t.Errorf("edit action %q", l)
	}
	b.Run("open form", browsertest.Click("#wa-edit-2023_april_promo-en_US"), chromedp.WaitVisible(chromedp.CSS("#wa-template-edit")),
		b.Shot("02-form-de"))
	if body := fieldValue(t, b, "tpl-body"); !strings.HasPrefix(body, "Hi {{1}}, our Fall Sale is on!") {
		t.Errorf("form body %q", body)
	}
	if h := b.Text("#wa-template-edit h2"); h != "Vorlage 2023_april_promo (en_US) bearbeiten" {
		t.Errorf("heading %q", h)
	}
	b.Run("refused at the field", clearField("tpl-body"),
		browsertest.TypeIn("#tpl-body", "{{1}}, our Fall Sale ends soon with code {{2}}."),
		browsertest.Click("#tpl-submit"), chromedp.WaitVisible(chromedp.CSS("#wa-template-edit .err")), b.Shot("03-refused-de"))
	if e := b.Text("#wa-template-edit .err"); !strings.Contains(e, "Die Variablen verletzen die Regeln von Meta") {
		t.Errorf("field error %q", e)
	}
	if body := fieldValue(t, b, "tpl-body"); body != "{{1}}, our Fall Sale ends soon with code {{2}}." {
		t.Errorf("typed text lost: %q", body)
	}
	const newBody = "Hi {{1}}, our Fall Sale ends soon! Code {{2}} saves 30%."
	b.Run("submitted", clearField("tpl-body"), browsertest.TypeIn("#tpl-body", newBody),
		browsertest.Click("#tpl-submit"), chromedp.WaitVisible(chromedp.CSS(".flash")), b.Shot("04-submitted-de"))
	if f := b.Text(".flash"); f != "Änderungen eingereicht; Meta prüft die Vorlage erneut." {
		t.Errorf("flash %q", f)
	}
	if s := b.Text("#wa-tpl-2023_april_promo-en_US .wa-tpl-status"); s != "in Prüfung" {
		t.Errorf("status %q", s)
	}
	if err := ch.Templates().Sync(b.Ctx); err != nil {
		t.Fatal(err)
	}
	if ti, _ := ch.Templates().Get("2023_april_promo", "en_US"); ti.Status != "PENDING" || ti.Components[1].Text != newBody {
		t.Errorf("at the emulator: %s %q", ti.Status, ti.Components[1].Text)
	}

	b.Run("paused en phone", chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/lang/en?next=/whatsapp/templates/summer_sale/de/edit"),
		chromedp.WaitVisible(chromedp.CSS("select#tpl-category")), b.Shot("05-paused-en-phone"))
	if h := b.Text("#wa-template-edit h2"); h != "Edit template summer_sale (de)" {
		t.Errorf("heading %q", h)
	}
	if s := b.Text("#tpl-edit-status"); s != "paused" {
		t.Errorf("status %q", s)
	}
}

// fieldValue is the current value of the form field with that id.
func fieldValue(t *testing.T, b *browsertest.Browser, id string) string {
	t.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.getElementById("`+id+`").value`))
	if err != nil {
		t.Fatalf("value of %s: %v", id, err)
	}
	return v
}

// clearField empties the form field with that id.
func clearField(id string) browsertest.Action {
	eval := chromedp.Evaluate[bool](`(document.getElementById("` + id + `").value = "") === ""`)
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := eval(ctx, tg)
		return chromedp.Void{}, err
	}
}
