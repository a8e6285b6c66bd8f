package campaign

import (
	"errors"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// TestWhatsAppTemplateButtons: a campaign fills a template's buttons per
// recipient (Meta's template send: a dynamic URL button takes its URL
// suffix, a copy-code button its code of at most 15 characters, a quick
// reply an optional payload); wrong button values are refused at save
// with a reason code the portal translates, and nothing is created.
func TestWhatsAppTemplateButtons(t *testing.T) {
	t.Parallel()
	wa := newTestChannel("wa-1", newLedger())
	wa.kind = message.WhatsApp
	cat := catalog{
		"order/de": {Name: "order", Language: "de", Status: "APPROVED", Variables: []string{"1"}, Body: "Hallo {{1}}.",
			Buttons: []TemplateButton{{Type: "URL", Dynamic: true}, {Type: "QUICK_REPLY"}, {Type: "COPY_CODE"}, {Type: "URL"}}},
	}
	ev := newEnv(t, "", Config{Templates: cat}, wa)
	rs := numbers(2)
	good := []ButtonValue{{Index: 0, Type: "url", Value: "o/{{first_name}}"}, {Index: 1, Type: "quick_reply", Value: "stop"},
		{Index: 2, Type: "copy_code", Value: "CODE-{{first_name}}"}}
	spec := func(bs ...ButtonValue) Spec {
		return Spec{Name: "Buttons", Channel: "wa-1", Mode: Direct, When: When{Kind: "now"},
			Content: Content{WhatsApp: &WhatsAppContent{Template: "order", Language: "de",
				Values: map[string]string{"1": "{{first_name}}"}, Buttons: bs}}}
	}
	for name, c := range map[string]struct {
		bs   []ButtonValue
		code string
		text string
	}{
		"no URL suffix": {good[1:], "campaign.button_missing", "button 0 (url) needs a value"},
		"empty code":    {[]ButtonValue{good[0], {Index: 2, Type: "copy_code", Value: " "}}, "campaign.button_missing", "button 2 (copy_code) needs a value"},
		"wrong kind":    {[]ButtonValue{good[0], {Index: 1, Type: "url", Value: "x"}, good[2]}, "campaign.button_kind", "button 1 is a quick_reply button"},
		"no such index": {append([]ButtonValue{{Index: 4, Type: "url", Value: "x"}}, good...), "campaign.button_index", "no button 4 (the template has 4 buttons)"},
		"twice":         {append([]ButtonValue{good[0]}, good...), "campaign.button_twice", "button 0 is filled twice"},
		"static URL":    {append([]ButtonValue{{Index: 3, Type: "url", Value: "x"}}, good...), "campaign.button_static", "button 3 has a fixed URL"},
		"unknown var":   {[]ButtonValue{{Index: 0, Type: "url", Value: "{{customer}}"}, good[2]}, "campaign.button_var", "no value for {{customer}}"},
		"code too long": {[]ButtonValue{good[0], {Index: 2, Type: "copy_code", Value: "SOMMERSCHLUSSVERKAUF"}}, "campaign.button_too_long", "at most 15"},
	} {
		_, err := ev.e.Create(bg, spec(c.bs...), rs)
		if r := message.ReasonOf(err); !strings.Contains(errString(err), c.text) || r.Code != c.code || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v (reason %+v), want %s %q", name, err, r, c.code, c.text)
		}
	}
	if p := ev.e.List(bg, ListQuery{}); p.Total != 0 {
		t.Fatalf("refused campaigns were stored: %d", p.Total)
	}
	c, err := ev.e.Create(bg, spec(good...), rs)
	if err != nil {
		t.Fatal(err)
	}
	ev.waitState(c.ID, Completed)
	wa.mu.Lock()
	defer wa.mu.Unlock()
	if len(wa.templates) != 2 {
		t.Fatalf("%d templates sent", len(wa.templates))
	}
	for _, tm := range wa.templates {
		name := tm.Params[0].Value
		want := []ButtonValue{{0, "url", "o/" + name}, {1, "quick_reply", "stop"}, {2, "copy_code", "CODE-" + name}}
		if len(tm.Buttons) != 3 || tm.Buttons[0] != want[0] || tm.Buttons[1] != want[1] || tm.Buttons[2] != want[2] {
			t.Errorf("buttons for %s: %+v, want %+v", name, tm.Buttons, want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
