package waemu_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
)

// TestEditTemplate follows Meta's editTemplate operation (POST
// /{Version}/{TEMPLATE_ID} of business-messaging-api_v23.0.yaml; its
// "Edit template" example, which edits the Fall Sale template the
// emulator has as 2023_april_promo, and its answer shape) and the rules
// of Meta's template documentation: only APPROVED, REJECTED or PAUSED
// templates can be edited, name and language stay, an approved template
// keeps its category and is edited at most once in 24 hours and 10 times
// in 30 days, and every edit goes back to review (PENDING). Refusals are
// code 100 with error_user_title, as Meta's.
func TestEditTemplate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, waemu.Options{})
	ex := metaTemplateExamples(t)
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(hooks.Close)
	h.emu.SetCallbackURL(hooks.URL)
	root := strings.TrimSuffix(h.base, "/"+h.emu.Options().PhoneNumberID)
	const promo = "920070352646140" // 2023_april_promo, the id of Meta's example
	edit := func(id string, body any) (int, map[string]any) {
		t.Helper()
		return h.call(http.MethodPost, root+"/"+id, "emu-token", body)
	}
	status := func(name, lang string) string {
		t.Helper()
		_, list := h.call(http.MethodGet, strings.Replace(h.base, h.emu.Options().PhoneNumberID, h.emu.Options().WABAID, 1)+"/message_templates?limit=100", "emu-token", nil)
		for _, x := range list["data"].([]any) {
			m := x.(map[string]any)
			if m["name"] == name && m["language"] == lang {
				return m["status"].(string)
			}
		}
		return ""
	}
	approve := func(name, lang string) {
		t.Helper()
		if err := h.emu.SetTemplateStatus(context.Background(), name, lang, "APPROVED", "NONE", "", ""); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(what string, st int, out map[string]any, title string) {
		t.Helper()
		if b, _ := json.Marshal(out); st != http.StatusBadRequest || code(out) != 100 || !strings.Contains(string(b), title) {
			t.Errorf("%s: %d %s, want (#100) %q", what, st, b, title)
		}
	}

	st, out := edit(promo, ex["Edit template"])
	if st != http.StatusOK || strings.Join(keys(out), ",") != strings.Join(keys(ex["Edit template response"].(map[string]any)), ",") || out["success"] != true {
		t.Fatalf("Meta's example: %d %v", st, out)
	}
	if s := status("2023_april_promo", "en_US"); s != "PENDING" {
		t.Errorf("after the edit: %s, want PENDING", s)
	}
	st, out = edit(promo, ex["Edit template"])
	refused("edit while pending", st, out, "can't be edited")
	approve("2023_april_promo", "en_US")
	st, out = edit(promo, ex["Edit template"])
	refused("second edit within 24 h", st, out, "Edit limit reached")
	// Ten edits of an approved template in 30 days, a day apart: the
	// first was above, nine more pass, the eleventh is refused.
	for i := 2; i <= 11; i++ {
		h.clk.Add(25 * time.Hour)
		st, out = edit(promo, ex["Edit template"])
		if i <= 10 && st != http.StatusOK {
			t.Fatalf("edit %d: %d %v", i, st, out)
		}
		if i == 11 {
			refused("eleventh edit in 30 days", st, out, "10 times in 30 days")
		} else {
			approve("2023_april_promo", "en_US")
		}
	}
	h.clk.Add(30 * 24 * time.Hour)
	if st, out = edit(promo, ex["Edit template"]); st != http.StatusOK {
		t.Errorf("edit after 30 days: %d %v", st, out)
	}

	body := func(text string) map[string]any {
		return map[string]any{"components": []any{map[string]any{"type": "BODY", "text": text}}}
	}
	// hello_world (APPROVED, UTILITY): category, name and language stay.
	const hello = "1192339204654487"
	st, out = edit(hello, map[string]any{"category": "MARKETING"})
	refused("category of an approved template", st, out, "Category can't be changed")
	st, out = edit(hello, map[string]any{"name": "hello_world_2", "components": body("Hallo.")["components"]})
	refused("new name", st, out, "Name or language can't be changed")
	st, out = edit(hello, map[string]any{"language": "de", "components": body("Hallo.")["components"]})
	refused("new language", st, out, "Name or language can't be changed")
	st, out = edit(hello, body("{{1}} willkommen {{2}}"))
	refused("body breaking the rules", st, out, "Invalid parameter format")
	st, out = edit(hello, map[string]any{})
	refused("empty edit", st, out, "Invalid parameter")
	st, out = edit(hello, map[string]any{"components": body("x")["components"], "status": "APPROVED"})
	refused("unknown field", st, out, "Invalid parameter")
	if s := status("hello_world", "en_US"); s != "APPROVED" {
		t.Errorf("refused edits changed hello_world to %s", s)
	}
	// summer_sale is PAUSED: content and category may change.
	if st, out = edit("700000000000007", map[string]any{"category": "UTILITY", "components": body("Sommer-Sale: bis zu 20 % Rabatt!")["components"]}); st != http.StatusOK {
		t.Errorf("paused template: %d %v", st, out)
	}
	// old_offer is REJECTED: may be edited and submitted again.
	if st, out = edit("700000000000008", body("Nur diese Woche!")); st != http.StatusOK {
		t.Errorf("rejected template: %d %v", st, out)
	}
	// legacy_notice is DISABLED: not editable.
	st, out = edit("700000000000009", body("Neu."))
	refused("disabled template", st, out, "can't be edited")
	if st, out = edit("123456", body("Neu.")); st != http.StatusBadRequest || code(out) != 100 {
		t.Errorf("unknown template id: %d %v", st, out)
	}
}
