package waemu_test

import (
	"encoding/json"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
)

// metaTemplateExamples are the template-creation examples of Meta's
// OpenAPI description (../testdata/template_examples.yaml, written by
// drivers/whatsapp/testdata/gen).
func metaTemplateExamples(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../testdata/template_examples.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ex map[string]any
	if err := yaml.Unmarshal(b, &ex); err != nil {
		t.Fatal(err)
	}
	return ex
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestCreateAndDeleteTemplates: Meta's four "Create template w/ …"
// examples are accepted as PENDING with an answer shaped like Meta's
// example response; rules Meta checks at submission are enforced with
// error_user_title/error_user_msg; deletion answers like Meta's example
// and removes the template.
func TestCreateAndDeleteTemplates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, waemu.Options{})
	ex := metaTemplateExamples(t)
	tplURL := strings.Replace(h.base, h.emu.Options().PhoneNumberID, h.emu.Options().WABAID, 1) + "/message_templates"
	wantResp := keys(ex["Create template response"].(map[string]any))
	n := 0
	for name, body := range ex {
		if !strings.HasPrefix(name, "Create template w/") {
			continue
		}
		n++
		status, out := h.call(http.MethodPost, tplURL, "emu-token", body)
		if status != http.StatusOK || out["status"] != "PENDING" || strings.Join(keys(out), ",") != strings.Join(wantResp, ",") {
			t.Errorf("%s: %d %v, want PENDING with keys %v", name, status, out, wantResp)
		}
		// The same again: that language exists.
		if status, out := h.call(http.MethodPost, tplURL, "emu-token", body); status != http.StatusBadRequest || !strings.Contains(errField(out, "error_user_title"), "already exists") {
			t.Errorf("%s twice: %d %v", name, status, out)
		}
	}
	if n != 4 {
		t.Fatalf("%d creation examples, want Meta's 4", n)
	}
	base := func() map[string]any {
		return map[string]any{"name": "termin", "language": "de", "category": "UTILITY", "components": []any{
			map[string]any{"type": "BODY", "text": "Hallo {{1}}, Ihr Termin ist am {{2}}.", "example": map[string]any{"body_text": []any{[]any{"Anna", "3. Mai"}}}}}}
	}
	bad := map[string]struct {
		edit func(m map[string]any)
		want string
	}{
		"name":      {func(m map[string]any) { m["name"] = "Termin Neu" }, "Invalid template name"},
		"category":  {func(m map[string]any) { m["category"] = "PROMO" }, "Invalid category"},
		"no sample": {func(m map[string]any) { delete(m["components"].([]any)[0].(map[string]any), "example") }, "Sample values are missing"},
		"adjacent": {func(m map[string]any) {
			m["components"].([]any)[0].(map[string]any)["text"] = "Hallo {{1}}{{2}} bis bald."
		}, "next to each other"},
		"order": {func(m map[string]any) { m["components"].([]any)[0].(map[string]any)["text"] = "Hallo {{2}}, am {{1}}." }, "in order"},
		"start": {func(m map[string]any) {
			m["components"].([]any)[0].(map[string]any)["text"] = "{{1}}, Ihr Termin am {{2}}."
		}, "start or end"},
		"no body": {func(m map[string]any) {
			m["components"] = []any{map[string]any{"type": "FOOTER", "text": "Danke"}}
		}, "exactly one BODY"},
	}
	for name, c := range bad {
		m := base()
		c.edit(m)
		status, out := h.call(http.MethodPost, tplURL, "emu-token", m)
		if b, _ := json.Marshal(out); status != http.StatusBadRequest || code(out) != 100 || !strings.Contains(string(b), c.want) {
			t.Errorf("%s: %d %s, want (#100) %q", name, status, b, c.want)
		}
	}
	if status, out := h.call(http.MethodPost, tplURL, "emu-token", base()); status != http.StatusOK {
		t.Fatalf("valid template: %d %v", status, out)
	}
	// Delete: Meta's answer shape; gone from the listing; unknown refused.
	status, out := h.call(http.MethodDelete, tplURL+"?name=termin", "emu-token", nil)
	if status != http.StatusOK || strings.Join(keys(out), ",") != strings.Join(keys(ex["Delete template response"].(map[string]any)), ",") || out["success"] != true {
		t.Errorf("delete: %d %v", status, out)
	}
	_, list := h.call(http.MethodGet, tplURL+"?limit=100", "emu-token", nil)
	if b, _ := json.Marshal(list); strings.Contains(string(b), `"termin"`) {
		t.Errorf("deleted template still listed: %s", b)
	}
	if status, out := h.call(http.MethodDelete, tplURL+"?name=termin", "emu-token", nil); status != http.StatusBadRequest || !strings.Contains(errField(out, "error_user_title"), "not found") {
		t.Errorf("delete again: %d %v", status, out)
	}
}

func errField(out map[string]any, k string) string {
	e, _ := out["error"].(map[string]any)
	s, _ := e[k].(string)
	return s
}
