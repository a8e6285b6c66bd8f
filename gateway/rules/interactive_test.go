package rules

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// interactiveBox records interactive answers (the daemon's adapter sends
// them through drivers/whatsapp, whose bodies are checked against Meta's
// schema in that package).
type interactiveBox struct {
	mu   sync.Mutex
	sent []struct {
		To, Text string
		IA       Interactive
	}
}

func (b *interactiveBox) ReplyInteractive(_ context.Context, in message.Inbound, text string, ia Interactive) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, struct {
		To, Text string
		IA       Interactive
	}{in.From, text, ia})
	return nil
}

// An automatic answer with reply buttons: a WhatsApp contact gets the
// buttons (placeholders rendered), an SMS contact the same answer with
// the choices numbered as text; the tapped button's id (Payload) can be
// matched by a further rule like a keyword.
func TestInteractiveAnswerWhatsAppAndSMSFallback(t *testing.T) {
	t.Parallel()
	box := &interactiveBox{}
	v := newEnv(t, func(c *Config) { c.Interactive = box })
	v.save(Rule{Name: "menu", Keyword: Define, Match: Contains, Pattern: "termin", Actions: []Action{{Type: AutoAnswer,
		Text:        "Hallo {NICKNAME}, wann passt es Ihnen?",
		Interactive: &Interactive{Buttons: []Choice{{ID: "slot-am", Title: "Vormittag"}, {ID: "slot-pm", Title: "Nachmittag"}}}}}})
	v.clk.Add(1)
	wa := v.handleIn(message.Inbound{ID: "wamid.1", Kind: message.WhatsApp, Channel: "whatsapp", From: "+4915112345678", Text: "Termin bitte", At: v.clk.Now()})
	if len(wa.Outcomes) != 1 || wa.Outcomes[0].Status != Done {
		t.Fatalf("whatsapp outcome %+v", wa.Outcomes)
	}
	if len(box.sent) != 1 || box.sent[0].Text != "Hallo Anna, wann passt es Ihnen?" || len(box.sent[0].IA.Buttons) != 2 || box.sent[0].IA.Buttons[1].ID != "slot-pm" {
		t.Fatalf("interactive %+v", box.sent)
	}
	if n := len(v.out.texts()); n != 0 {
		t.Errorf("whatsapp contact also got %d texts", n)
	}
	v.handle("+4915112345678", "termin")
	if got := v.out.texts(); len(got) != 1 || got[0] != "Hallo Anna, wann passt es Ihnen?\n1) Vormittag\n2) Nachmittag" {
		t.Errorf("SMS fallback %q", got)
	}
	if len(box.sent) != 1 {
		t.Error("the SMS contact got buttons")
	}
}

// Without an InteractiveReplier (no WhatsApp channel) a WhatsApp contact
// gets the text fallback too; list rows carry their descriptions.
func TestInteractiveListFallbackWithoutReplier(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.save(Rule{Name: "list", Keyword: Define, Match: Contains, Pattern: "menü", Actions: []Action{{Type: AutoAnswer, Text: "Bitte wählen:",
		Interactive: &Interactive{ListButton: "Auswahl", Rows: []Choice{{ID: "a", Title: "Öffnungszeiten", Description: "Mo–Fr 9–17 Uhr"}, {ID: "b", Title: "Anfahrt"}}}}}})
	v.handleIn(message.Inbound{ID: "wamid.2", Kind: message.WhatsApp, Channel: "whatsapp", From: "+4915100000001", Text: "Menü", At: v.clk.Now()})
	if got := v.out.texts(); len(got) != 1 || got[0] != "Bitte wählen:\n1) Öffnungszeiten – Mo–Fr 9–17 Uhr\n2) Anfahrt" {
		t.Errorf("fallback %q", got)
	}
}

// Meta's limits are checked when the rule is saved, naming the field.
func TestInteractiveLimitsCheckedAtSave(t *testing.T) {
	t.Parallel()
	v := newEnv(t, func(c *Config) { c.Interactive = &interactiveBox{} })
	b := func(n int) []Choice {
		var out []Choice
		for i := range n {
			out = append(out, Choice{ID: string(rune('a' + i)), Title: "Option"})
		}
		return out
	}
	cases := map[string]Action{
		"interactive.buttons: 4 buttons":                                   {Text: "x", Interactive: &Interactive{Buttons: b(4)}},
		"interactive.rows: 11 rows":                                        {Text: "x", Interactive: &Interactive{ListButton: "Wahl", Rows: b(11)}},
		"interactive.list_button":                                          {Text: "x", Interactive: &Interactive{Rows: b(2)}},
		"interactive.buttons[0].title: 1 to 20":                            {Text: "x", Interactive: &Interactive{Buttons: []Choice{{ID: "a", Title: strings.Repeat("x", 21)}}}},
		"interactive.buttons[1].id: \"a\" is used twice":                   {Text: "x", Interactive: &Interactive{Buttons: []Choice{{ID: "a", Title: "A"}, {ID: "a", Title: "B"}}}},
		"text or media: give the answer":                                   {Interactive: &Interactive{Buttons: b(1)}},
		"not both":                                                         {Text: "x", Interactive: &Interactive{Buttons: b(1), ListButton: "L", Rows: b(1)}},
		"interactive.cta: a link button stands alone":                      {Text: "x", Interactive: &Interactive{Buttons: b(1), CTA: &LinkButton{Title: "Web", URL: "https://example.com/"}}},    // netscope: rule text, never fetched
		"interactive.cta.title: 1 to 20 characters":                        {Text: "x", Interactive: &Interactive{CTA: &LinkButton{Title: strings.Repeat("x", 21), URL: "https://example.com/"}}}, // netscope: rule text, never fetched
		"interactive.cta.url: \"example.com/termin\" is not a web address": {Text: "x", Interactive: &Interactive{CTA: &LinkButton{Title: "Web", URL: "example.com/termin"}}},
	}
	for want, a := range cases {
		a.Type = AutoAnswer
		_, err := v.e.Save(context.Background(), Rule{Name: "r", Enabled: true, Keyword: Define, Match: Contains, Pattern: "x", Actions: []Action{a}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}

// A link button (Meta's call-to-action URL message): a WhatsApp contact
// gets it as such, an SMS contact the text with "Title: URL" below it.
func TestInteractiveCTAAnswerAndFallback(t *testing.T) {
	t.Parallel()
	box := &interactiveBox{}
	v := newEnv(t, func(c *Config) { c.Interactive = box })
	const link = "https://example.com/termin" // netscope: rule text, never fetched
	v.save(Rule{Name: "cta", Keyword: Define, Match: Contains, Pattern: "verschieben", Actions: []Action{{Type: AutoAnswer,
		Text: "Sie können Ihren Termin online verschieben.", Interactive: &Interactive{CTA: &LinkButton{Title: "Termin ändern", URL: link}}}}})
	v.clk.Add(1)
	wa := v.handleIn(message.Inbound{ID: "wamid.3", Kind: message.WhatsApp, Channel: "whatsapp", From: "+4915112345678", Text: "Termin verschieben", At: v.clk.Now()})
	if len(wa.Outcomes) != 1 || wa.Outcomes[0].Status != Done {
		t.Fatalf("whatsapp outcome %+v", wa.Outcomes)
	}
	if len(box.sent) != 1 || box.sent[0].IA.CTA == nil || box.sent[0].IA.CTA.URL != link || box.sent[0].IA.CTA.Title != "Termin ändern" {
		t.Fatalf("interactive %+v", box.sent)
	}
	v.handle("+4915112345678", "verschieben")
	if got := v.out.texts(); len(got) != 1 || got[0] != "Sie können Ihren Termin online verschieben.\nTermin ändern: "+link {
		t.Errorf("SMS fallback %q", got)
	}
}
