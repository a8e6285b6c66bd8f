package waemu_test

import (
	"encoding/json"
	"fmt"
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

// TestSeveralNumbers: each number of the account has its own service
// windows; a number the emulator does not serve cannot send; webhooks of a
// number carry its metadata.
func TestSeveralNumbers(t *testing.T) {
	t.Parallel()
	const second, display = "106540352242933", "15550783999"
	h := newHarness(t, waemu.Options{Numbers: []waemu.Number{{PhoneNumberID: second, DisplayPhoneNumber: display}}})
	body, _, err := h.emu.InboundNotification(waemu.Inbound{From: "491711234567", Type: "text", Text: "hi", To: second})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"phone_number_id":"`+second+`"`) || !strings.Contains(string(body), `"display_phone_number":"`+display+`"`) {
		t.Errorf("notification lacks the second number's metadata: %s", body)
	}
	// No callback is configured, so the delivery fails; the window opens.
	h.emu.Inject(t.Context(), waemu.Inbound{From: "491711234567", Type: "text", Text: "hi", To: second})
	text := map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "491711234567", "type": "text", "text": map[string]any{"body": "Antwort"}}
	if status, out := h.send(text); status != http.StatusBadRequest || code(out) != 131047 {
		t.Errorf("primary number answered a customer of the second: %d %v, want 131047", status, out)
	}
	base2 := strings.Replace(h.base, h.emu.Options().PhoneNumberID, second, 1)
	if status, out := h.call(http.MethodPost, base2+"/messages", "emu-token", text); status != http.StatusOK {
		t.Errorf("second number: %d %v", status, out)
	}
	if s := h.emu.Sent(); len(s) != 1 || s[0].From != second {
		t.Errorf("sent %+v, want one from %s", s, second)
	}
	base3 := strings.Replace(h.base, h.emu.Options().PhoneNumberID, "106540352242944", 1)
	if status, out := h.call(http.MethodPost, base3+"/messages", "emu-token", text); status != http.StatusBadRequest || code(out) != 100 {
		t.Errorf("unknown number: %d %v, want (#100)", status, out)
	}
}

// TestTemplateButtonParameters: the emulator checks each button parameter
// against the template's button: a URL button takes its suffix as text, a
// copy-code button a coupon_code of at most 15 characters, and the
// sub_type must be the button's kind.
func TestTemplateButtonParameters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, waemu.Options{})
	h.emu.AddTemplate(waemu.Template{ID: "9", Name: "coupon", Language: "de", Status: "APPROVED", Category: "MARKETING",
		Components: []waemu.TemplateComponent{{Type: "BODY", Text: "Ihr Code"},
			{Type: "BUTTONS", Buttons: []waemu.TemplateButton{{Type: "COPY_CODE", Text: "Code kopieren"},
				{Type: "URL", Text: "Shop", URL: "https://shop.example/{{1}}"}}}}}) // netscope: template text, never fetched
	send := func(buttons string) (int, map[string]any) {
		var c any
		if err := json.Unmarshal([]byte(`[`+buttons+`]`), &c); err != nil {
			t.Fatal(err)
		}
		return h.send(map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": "491711234567", "type": "template",
			"template": map[string]any{"name": "coupon", "language": map[string]any{"code": "de"}, "components": c}})
	}
	const code0 = `{"type":"button","sub_type":"copy_code","index":"0","parameters":[{"type":"coupon_code","coupon_code":%q}]}`
	const url1 = `{"type":"button","sub_type":"url","index":"1","parameters":[{"type":"text","text":"sale"}]}`
	if status, out := send(fmt.Sprintf(code0, "SOMMER25") + "," + url1); status != http.StatusOK {
		t.Fatalf("valid buttons refused: %d %v", status, out)
	}
	cases := map[string]struct {
		buttons string
		code    int
		want    string
	}{
		"no code":       {url1, 132000, "button 0"},
		"code too long": {fmt.Sprintf(code0, "SOMMER2025ABCDEF") + "," + url1, 100, "coupon_code"},
		"wrong sub_type": {`{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"x"}]},` + url1,
			132012, "COPY_CODE"},
		"index beyond": {fmt.Sprintf(code0, "A") + "," + url1 + `,{"type":"button","sub_type":"quick_reply","index":"2","parameters":[{"type":"payload","payload":"p"}]}`,
			100, "2 buttons"},
	}
	for name, c := range cases {
		status, out := send(c.buttons)
		if d, _ := json.Marshal(out); status != http.StatusBadRequest || code(out) != c.code || !strings.Contains(string(d), c.want) {
			t.Errorf("%s: %d %s, want (#%d) naming %q", name, status, d, c.code, c.want)
		}
	}
}
