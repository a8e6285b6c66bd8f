package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
)

// fallSaleForm is the edit form of 2023_april_promo (Meta's Fall Sale
// example) with a new text.
func fallSaleForm(tok, body string) url.Values {
	return url.Values{"csrf_token": {tok}, "category": {"MARKETING"}, "header": {"Fall Sale"},
		"body": {body}, "body_examples": {"Mark\nFALL25"}, "footer": {"Not interested in any of our sales? Tap Stop Promotions"},
		"button_type_0": {"QUICK_REPLY"}, "button_text_0": {"Stop promotions"}}
}

// In English, through the portal against the Cloud API emulator: the
// list offers Edit for approved, paused and rejected templates (not for
// the disabled one); the form comes pre-filled with the template as
// Meta lists it (samples included), name and language fixed; a body
// breaking Meta's rules is refused at the body field and nothing
// changes; the edit goes to Meta (the emulator has the new text, PENDING)
// and the list shows "in review"; an edit of the pending template is
// refused; after Meta's approval the second edit within 24 hours is
// refused with Meta's explanation. An operator may not edit.
func TestWhatsAppTemplateEditEnglish(t *testing.T) {
	t.Parallel()
	env, ch, emu := waAccountEnv(t)
	c := env.client()
	c.setup("a safe new password")
	r := c.get("/whatsapp/templates")
	mustContain(t, r.body, `id="wa-edit-2023_april_promo-en_US"`, `id="wa-edit-summer_sale-de"`, `id="wa-edit-old_offer-de"`)
	if strings.Contains(r.body, `id="wa-edit-legacy_notice-de"`) {
		t.Error("the disabled template offers Edit")
	}
	const page = "/whatsapp/templates/2023_april_promo/en_US/edit"
	r = c.get(page)
	if r.code != http.StatusOK {
		t.Fatalf("edit page: %d", r.code)
	}
	mustContain(t, r.body, "Edit template 2023_april_promo (en_US)", `value="Fall Sale"`,
		"Hi {{1}}, our Fall Sale is on!", "Mark\nFALL25", `value="Stop promotions"`, "The category of an approved template cannot change.",
		"Submit the changes to Meta for review")
	if strings.Contains(r.body, `name="name"`) || strings.Contains(r.body, `name="language"`) {
		t.Error("name or language are editable")
	}
	tok := c.token(csrfRE)

	r = c.post(page, fallSaleForm(tok, "{{1}}, our Fall Sale ends soon with code {{2}}."))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("bad body: %d", r.code)
	}
	mustContain(t, r.body, "The variables break Meta&#39;s rules", "not at the start or end", "Edit template 2023_april_promo")
	if ti, _ := ch.Templates().Get("2023_april_promo", "en_US"); ti.Status != "APPROVED" {
		t.Errorf("a refused edit changed the status to %s", ti.Status)
	}

	const newBody = "Hi {{1}}, our Fall Sale ends soon! Use promo code {{2}} for 30% off."
	r = c.post(page, fallSaleForm(tok, newBody))
	if r.code != http.StatusSeeOther || r.location != "/whatsapp/templates" {
		t.Fatalf("edit: %d %s\n%s", r.code, r.location, r.body)
	}
	r = c.get("/whatsapp/templates")
	mustContain(t, r.body, "Changes submitted; Meta is reviewing the template again.")
	if ti, _ := ch.Templates().Get("2023_april_promo", "en_US"); ti.Status != "PENDING" || ti.Components[1].Text != newBody {
		t.Errorf("local copy after the edit: %s %q", ti.Status, ti.Components[1].Text)
	}
	if err := ch.Templates().Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	ti, _ := ch.Templates().Get("2023_april_promo", "en_US")
	if ti.Status != "PENDING" || ti.Components[1].Text != newBody {
		t.Errorf("at the emulator after the edit: %s %q", ti.Status, ti.Components[1].Text)
	}
	if r := c.get("/whatsapp/templates"); strings.Contains(r.body, `id="wa-edit-2023_april_promo-en_US"`) {
		t.Error("a template in review offers Edit")
	}
	r = c.post(page, fallSaleForm(tok, newBody))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("edit while pending: %d", r.code)
	}
	mustContain(t, r.body, "Only approved, rejected or paused templates can be edited.")

	if err := emu.SetTemplateStatus(t.Context(), "2023_april_promo", "en_US", "APPROVED", "NONE", "", ""); err != nil {
		t.Fatal(err)
	}
	r = c.post(page, fallSaleForm(tok, "Hi {{1}}, last days of our Fall Sale! Code {{2}} saves 30%."))
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("second edit within 24 h: %d", r.code)
	}
	mustContain(t, r.body, "Meta refused the changes: Edit limit reached: An approved template can be edited once in 24 hours")

	op := operatorClient(t, env)
	if r := op.get(page); r.code != http.StatusForbidden {
		t.Errorf("operator edit page: %d", r.code)
	}
	if r := op.get("/whatsapp/templates"); strings.Contains(r.body, "wa-edit-") {
		t.Error("operator sees Edit")
	}
}

// In German, a paused template's category and text are changed through
// the portal (the category is a choice: only an approved template keeps
// its own); a button without its label is refused at that button in
// German. Then through the API: an edit naming a new category of an
// approved template is refused naming the field, Meta's example edit of
// a rejected template is taken and answered PENDING.
func TestWhatsAppTemplateEditGermanAndAPI(t *testing.T) {
	t.Parallel()
	env, ch, _ := waAccountEnv(t)
	c := env.client()
	c.setup("a safe new password")
	c.lang = "de"
	c.get("/lang/de")
	const page = "/whatsapp/templates/summer_sale/de/edit"
	r := c.get(page)
	mustContain(t, r.body, "Vorlage summer_sale (de) bearbeiten", "Sommer-Sale: {{1}} % Rabatt!", `<select id="tpl-category" name="category">`,
		"Änderungen bei Meta zur Prüfung einreichen")
	tok := c.token(csrfRE)
	form := url.Values{"csrf_token": {tok}, "category": {"UTILITY"}, "body": {"Sommer-Sale: {{1}} % Rabatt für Stammkunden!"}, "body_examples": {"20"},
		"button_type_0": {"QUICK_REPLY"}}
	r = c.post(page, form)
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("button without label: %d", r.code)
	}
	mustContain(t, r.body, "Die Beschriftung einer Schaltfläche hat 1 bis 25 Zeichen.")
	form.Set("button_type_0", "")
	r = c.post(page, form)
	if r.code != http.StatusSeeOther {
		t.Fatalf("edit: %d\n%s", r.code, r.body)
	}
	mustContain(t, c.get("/whatsapp/templates").body, "Änderungen eingereicht; Meta prüft die Vorlage erneut.")
	if ti, _ := ch.Templates().Get("summer_sale", "de"); ti.Status != "PENDING" || ti.Category != "UTILITY" {
		t.Errorf("after the edit: %s %s", ti.Status, ti.Category)
	}

	api := func(name, lang string, body any) resp {
		b, _ := json.Marshal(body)
		return c.do("PUT", "/api/v1/whatsapp/templates/"+name+"/"+lang, strings.NewReader(string(b)),
			map[string]string{"Content-Type": "application/json", "X-CSRF-Token": tok})
	}
	r = api("hello_world", "en_US", map[string]any{"category": "MARKETING"})
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.body, `"field":"category"`) {
		t.Errorf("API, category of an approved template: %d %s", r.code, r.body)
	}
	edit := map[string]any{"components": []any{map[string]any{"type": "BODY", "text": "Nur diese Woche: {{1}} günstiger!",
		"example": map[string]any{"body_text": []any{[]any{"10 %"}}}}}}
	r = api("old_offer", "de", edit)
	var out struct {
		Template whatsapp.TemplateInfo `json:"template"`
	}
	if r.code != http.StatusOK || json.Unmarshal([]byte(r.body), &out) != nil || out.Template.Status != "PENDING" || out.Template.Vars.Body != 1 {
		t.Errorf("API edit of a rejected template: %d %s", r.code, r.body)
	}
	if r := api("no_such", "de", edit); r.code != http.StatusNotFound {
		t.Errorf("API, unknown template: %d", r.code)
	}
}
