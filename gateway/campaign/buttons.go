package campaign

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Button kinds a campaign fills (the sub_type of Meta's button component).
const (
	ButtonURL        = "url"         // the variable suffix of a dynamic URL button
	ButtonQuickReply = "quick_reply" // the payload returned when the button is tapped
	ButtonCopyCode   = "copy_code"   // the code the user copies
)

// maxCouponCode is Meta's limit for a copy-code button's code.
const maxCouponCode = 15

// maxButtonValue bounds a URL suffix or quick-reply payload (Meta: the
// payload takes up to 128 characters; a URL at most 2000).
const maxButtonValue = 128

// Reason codes of refused button values (translated as "reason.<code>").
var (
	rButtonIndex   = message.NewCode("campaign.button_index", 3)    // template, index, number of buttons
	rButtonTwice   = message.NewCode("campaign.button_twice", 2)    // template, index
	rButtonKind    = message.NewCode("campaign.button_kind", 4)     // template, index, template's kind, given kind
	rButtonStatic  = message.NewCode("campaign.button_static", 2)   // template, index
	rButtonMissing = message.NewCode("campaign.button_missing", 3)  // template, index, kind
	rButtonVar     = message.NewCode("campaign.button_var", 3)      // recipient, index, error text
	rButtonLong    = message.NewCode("campaign.button_too_long", 4) // recipient, index, length, limit
)

// ButtonValue fills one button of the template: Index is the button's
// position in the template (0-based), Type its kind (url, quick_reply,
// copy_code) and Value the URL suffix, payload or code; Value may contain
// recipient variables ("{{customer_id}}").
type ButtonValue struct {
	Index int    `json:"index"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// TemplateButton is one button of a template as approved by Meta.
type TemplateButton struct {
	// Type is Meta's: URL, QUICK_REPLY, COPY_CODE, PHONE_NUMBER, OTP …
	Type string
	// Dynamic: a URL button whose URL ends in a variable ({{1}}).
	Dynamic bool
	// Text is the button's label, for the portal.
	Text string
}

// Fillable is the campaign kind of a template button (url, quick_reply,
// copy_code), "" when a campaign cannot fill it (phone number, static URL …).
func (b TemplateButton) Fillable() string {
	switch strings.ToUpper(b.Type) {
	case "URL":
		if b.Dynamic {
			return ButtonURL
		}
	case "QUICK_REPLY":
		return ButtonQuickReply
	case "COPY_CODE":
		return ButtonCopyCode
	}
	return ""
}

// Required: a dynamic URL and a copy-code button cannot be sent without
// their value; a quick reply's payload is optional.
func (b TemplateButton) Required() bool {
	k := b.Fillable()
	return k == ButtonURL || k == ButtonCopyCode
}

func invalid(r message.Reason, format string, a ...any) error {
	return message.WithReason(fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...), r)
}

// checkButtons checks the button values against the template's buttons:
// each index exists once, has the template's kind, and every button that
// needs a value has one.
func checkButtons(tpl string, want []TemplateButton, got []ButtonValue) error {
	seen := map[int]bool{}
	for _, b := range got {
		if b.Index < 0 || b.Index >= len(want) {
			return invalid(rButtonIndex.R(tpl, b.Index, len(want)),
				"template %q: there is no button %d (the template has %d buttons)", tpl, b.Index, len(want))
		}
		if seen[b.Index] {
			return invalid(rButtonTwice.R(tpl, b.Index), "template %q: button %d is filled twice", tpl, b.Index)
		}
		seen[b.Index] = true
		tb := want[b.Index]
		kind := tb.Fillable()
		switch {
		case strings.EqualFold(tb.Type, "URL") && !tb.Dynamic:
			return invalid(rButtonStatic.R(tpl, b.Index),
				"template %q: button %d has a fixed URL; it takes no value", tpl, b.Index)
		case kind == "" || !strings.EqualFold(b.Type, kind):
			return invalid(rButtonKind.R(tpl, b.Index, strings.ToLower(tb.Type), b.Type),
				"template %q: button %d is a %s button, not %q", tpl, b.Index, strings.ToLower(tb.Type), b.Type)
		case tb.Required() && strings.TrimSpace(b.Value) == "":
			return invalid(rButtonMissing.R(tpl, b.Index, kind),
				"template %q: button %d (%s) needs a value", tpl, b.Index, kind)
		}
	}
	for i, tb := range want {
		if tb.Required() && !seen[i] {
			return invalid(rButtonMissing.R(tpl, i, tb.Fillable()),
				"template %q: button %d (%s) needs a value", tpl, i, tb.Fillable())
		}
	}
	return nil
}

// renderButtons fills the button values for one recipient.
func renderButtons(bs []ButtonValue, r *Recipient) ([]ButtonValue, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	out := make([]ButtonValue, len(bs))
	for i, b := range bs {
		v, err := render(b.Value, r.Number, r.Vars)
		if err != nil {
			return nil, fmt.Errorf("button %d: %w", b.Index, err)
		}
		limit := maxButtonValue
		if strings.EqualFold(b.Type, ButtonCopyCode) {
			limit = maxCouponCode
		}
		if n := utf8.RuneCountInString(v); n > limit {
			return nil, &buttonLongError{index: b.Index, n: n, limit: limit}
		}
		out[i] = ButtonValue{Index: b.Index, Type: strings.ToLower(b.Type), Value: v}
	}
	return out, nil
}

type buttonLongError struct{ index, n, limit int }

func (e *buttonLongError) Error() string {
	return fmt.Sprintf("button %d: the value has %d characters; at most %d", e.index, e.n, e.limit)
}

// checkRecipientButtons renders every recipient's button values at save.
func checkRecipientButtons(bs []ButtonValue, rs []Recipient) error {
	if len(bs) == 0 {
		return nil
	}
	for i := range rs {
		r := &rs[i]
		if r.Status == RExcluded {
			continue
		}
		if _, err := renderButtons(bs, r); err != nil {
			var long *buttonLongError
			if errors.As(err, &long) {
				return invalid(rButtonLong.R(who(*r), long.index, long.n, long.limit), "recipient %s: %v", who(*r), err)
			}
			idx := 0
			for _, b := range bs {
				if _, e := render(b.Value, r.Number, r.Vars); e != nil {
					idx = b.Index
					break
				}
			}
			return invalid(rButtonVar.R(who(*r), idx, err), "recipient %s: %v (add the column to the import or remove the placeholder)", who(*r), err)
		}
	}
	return nil
}
