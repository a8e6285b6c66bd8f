package waemu_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
)

// TestSendEnforcesMetaSchema: bodies the emulator's own checks would let
// through but Meta's Message schema (OpenAPI description v23.0, via
// drivers/whatsapp/metaschema) forbids are refused with (#100) and the
// offending path in error_data.details; Meta's own example passes.
func TestSendEnforcesMetaSchema(t *testing.T) {
	t.Parallel()
	h := newHarness(t, waemu.Options{})
	h.emu.AddTemplate(waemu.Template{ID: "9", Name: "t", Language: "de", Status: "APPROVED", Category: "UTILITY",
		Components: []waemu.TemplateComponent{{Type: "BODY", Text: "Betrag {{1}}"},
			{Type: "BUTTONS", Buttons: []waemu.TemplateButton{{Type: "QUICK_REPLY", Text: "Ja"}}}}})
	tpl := func(components string) map[string]any {
		var c any
		if err := json.Unmarshal([]byte(components), &c); err != nil {
			t.Fatal(err)
		}
		return map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "491711234567", "type": "template",
			"template": map[string]any{"name": "t", "language": map[string]any{"code": "de"}, "components": c}}
	}
	cases := map[string]struct {
		body map[string]any
		want string
	}{
		"button index": {tpl(`[{"type":"body","parameters":[{"type":"text","text":"1"}]},
			{"type":"button","sub_type":"quick_reply","index":"12","parameters":[{"type":"payload","payload":"p"}]}]`), "/template/components/1/index"},
		"currency without code": {tpl(`[{"type":"body","parameters":[{"type":"currency","currency":{"fallback_value":"1 €","amount_1000":1000}}]}]`),
			"/template/components/0/parameters/0/currency"},
		"text parameter without text": {tpl(`[{"type":"body","parameters":[{"type":"text"}]}]`), "/template/components/0/parameters/0"},
		"language not object": {map[string]any{"messaging_product": "whatsapp", "to": "491711234567", "type": "template",
			"template": map[string]any{"name": "t", "language": "de"}}, "/template/language"},
	}
	for name, c := range cases {
		status, out := h.send(c.body)
		if status != http.StatusBadRequest || code(out) != 100 {
			t.Errorf("%s: %d %v, want 400 (#100)", name, status, out)
			continue
		}
		if d, _ := json.Marshal(out); !strings.Contains(string(d), c.want) {
			t.Errorf("%s: answer %s does not name %s", name, d, c.want)
		}
	}
	ok := tpl(`[{"type":"body","parameters":[{"type":"currency","currency":{"fallback_value":"1 €","code":"EUR","amount_1000":1000}}]},
		{"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"p"}]}]`)
	if status, out := h.send(ok); status != http.StatusOK {
		t.Errorf("valid template refused: %d %v", status, out)
	}
}
