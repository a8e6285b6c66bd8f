package rules

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Interactive answers (WhatsApp only): an automatic answer whose Text is
// offered with reply buttons or a list the contact taps, or with one
// call-to-action button opening a web page (CTA); the tapped
// choice's ID comes back as the inbound message's Payload, so a further
// rule can match it. Contacts on other channels (SMS, Telegram) get the
// same answer as text, the choices numbered below it (FallbackText).
//
// The limits are Meta's for interactive messages (Cloud API reference,
// "Interactive reply buttons messages" and "Interactive list messages";
// the schema ActionObject of its OpenAPI description): 1–3 buttons with a
// title of up to 20 characters; 1–10 list rows with a title of up to 24
// and a description of up to 72, behind a button label of up to 20; ids
// up to 256 characters, unique; a body of up to 1,024 characters. A CTA
// URL button ("Interactive Call-to-Action URL Button Messages") has a
// label of up to 20 characters and an http(s) URL.

// Interactive is the choices of an answer: Buttons, or a list (Rows
// behind ListButton).
type Interactive struct {
	Buttons    []Choice `json:"buttons,omitempty"`
	ListButton string   `json:"list_button,omitempty"`
	Rows       []Choice `json:"rows,omitempty"`
	// CTA is a call-to-action button that opens a web page (Meta's
	// interactive "cta_url" message), instead of buttons or a list.
	CTA *LinkButton `json:"cta,omitempty"`
}

// LinkButton is a button labelled Title that opens URL.
type LinkButton struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Choice is one button or list row.
type Choice struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"` // list rows only
}

// InteractiveReplier sends text with choices back to a WhatsApp contact.
type InteractiveReplier interface {
	ReplyInteractive(ctx context.Context, in message.Inbound, text string, ia Interactive) error
}

// checkInteractive applies Meta's limits.
func checkInteractive(text string, ia *Interactive) error {
	if strings.TrimSpace(text) == "" {
		return errors.New("text: an answer with buttons or a list needs its text")
	}
	if n := utf8.RuneCountInString(text); n > 1024 {
		return fmt.Errorf("text: %d characters; with buttons or a list WhatsApp allows 1024", n)
	}
	if c := ia.CTA; c != nil {
		if len(ia.Buttons) > 0 || len(ia.Rows) > 0 || ia.ListButton != "" {
			return errors.New("interactive.cta: a link button stands alone, without reply buttons or a list")
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(c.Title)); n == 0 || n > 20 {
			return fmt.Errorf("interactive.cta.title: 1 to 20 characters, not %d", n)
		}
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("interactive.cta.url: %q is not a web address (https://…)", c.URL)
		}
		return nil
	}
	choices, what, maxTitle := ia.Buttons, "buttons", 20
	switch {
	case len(ia.Buttons) > 0 && len(ia.Rows) > 0:
		return errors.New("interactive: give buttons or list rows, not both")
	case len(ia.Buttons) > 3:
		return fmt.Errorf("interactive.buttons: %d buttons; WhatsApp shows at most 3 (use a list for up to 10)", len(ia.Buttons))
	case len(ia.Rows) > 0:
		choices, what, maxTitle = ia.Rows, "rows", 24
		if len(ia.Rows) > 10 {
			return fmt.Errorf("interactive.rows: %d rows; a WhatsApp list has at most 10", len(ia.Rows))
		}
		if n := utf8.RuneCountInString(ia.ListButton); n == 0 || n > 20 {
			return fmt.Errorf("interactive.list_button: the list's button label has 1 to 20 characters, not %d", n)
		}
	case len(ia.Buttons) == 0:
		return errors.New("interactive: give 1 to 3 buttons or 1 to 10 list rows")
	}
	seen := map[string]bool{}
	for i, c := range choices {
		where := fmt.Sprintf("interactive.%s[%d]", what, i)
		if c.ID == "" || len(c.ID) > 256 {
			return fmt.Errorf("%s.id: 1 to 256 characters (it comes back when the contact taps it)", where)
		}
		if seen[c.ID] {
			return fmt.Errorf("%s.id: %q is used twice", where, c.ID)
		}
		seen[c.ID] = true
		if n := utf8.RuneCountInString(c.Title); n == 0 || n > maxTitle {
			return fmt.Errorf("%s.title: 1 to %d characters, not %d", where, maxTitle, n)
		}
		if what == "buttons" && c.Description != "" {
			return fmt.Errorf("%s.description: buttons have none (list rows do)", where)
		}
		if n := utf8.RuneCountInString(c.Description); n > 72 {
			return fmt.Errorf("%s.description: at most 72 characters, not %d", where, n)
		}
	}
	return nil
}

// FallbackText is an interactive answer as plain text for channels
// without buttons: the text, then one line per choice ("1) Yes") or the
// link button as "Title: URL".
func FallbackText(text string, ia Interactive) string {
	choices := ia.Buttons
	if len(choices) == 0 {
		choices = ia.Rows
	}
	var b strings.Builder
	b.WriteString(text)
	if c := ia.CTA; c != nil {
		b.WriteString("\n" + c.Title + ": " + c.URL)
	}
	for i, c := range choices {
		fmt.Fprintf(&b, "\n%d) %s", i+1, c.Title)
		if c.Description != "" {
			b.WriteString(" – " + c.Description)
		}
	}
	return b.String()
}

// replyInteractive sends a's answer with its choices: on WhatsApp as
// buttons or a list, elsewhere (or without an InteractiveReplier) as
// FallbackText through the Replier.
func (e *Engine) replyInteractive(ctx context.Context, in message.Inbound, vars Vars, a Action) error {
	text := vars.Render(a.Text)
	ia := *a.Interactive
	if in.Kind == message.WhatsApp && e.cfg.Interactive != nil {
		return e.cfg.Interactive.ReplyInteractive(ctx, in, text, ia)
	}
	return e.cfg.Replier.Reply(ctx, in, FallbackText(text, ia))
}
