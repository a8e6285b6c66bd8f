package app

import (
	"context"
	"errors"
	"slices"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
)

// WhatsAppAccount is the WhatsApp business account as the WhatsApp
// screens show it: its numbers' standing at Meta, the account signals
// Meta sent, and the message templates. NewWhatsAppAccount adapts the
// drivers/whatsapp channel (with its grouped numbers).
type WhatsAppAccount interface {
	// WhatsAppNumbers are the configured numbers, the primary first.
	WhatsAppNumbers() []WhatsAppNumber
	// RefreshWhatsAppNumbers reads every number's standing from Meta now
	// (otherwise at start and hourly); the first error is returned, the
	// other numbers are read all the same.
	RefreshWhatsAppNumbers(ctx context.Context) error
	// WhatsAppTyping shows a contact that an answer to message wamid is
	// being typed, from the number of channel (the session's); at most
	// once per whatsapp.TypingInterval per message (sent false otherwise).
	WhatsAppTyping(ctx context.Context, channel, wamid string) (sent bool, err error)
	// WhatsAppSignals are Meta's last account signals, newest last.
	WhatsAppSignals() ([]whatsapp.AccountEvent, error)
	// WhatsAppTemplates are the account's templates (local copy).
	WhatsAppTemplates() []whatsapp.TemplateInfo
	// CreateWhatsAppTemplate submits a template for Meta's review;
	// errors are *whatsapp.TemplateFieldError (a rule broken before
	// sending) or Meta's refusal (*whatsapp.APIError).
	CreateWhatsAppTemplate(ctx context.Context, t whatsapp.NewTemplate) (whatsapp.TemplateInfo, error)
	// EditWhatsAppTemplate submits an edit of a template (Meta reviews
	// it again: it is PENDING until approved); errors as for creation.
	EditWhatsAppTemplate(ctx context.Context, name, lang string, e whatsapp.TemplateEdit) (whatsapp.TemplateInfo, error)
	// DeleteWhatsAppTemplate deletes a template (one language when lang
	// is set) at Meta and locally.
	DeleteWhatsAppTemplate(ctx context.Context, name, lang string) error
}

// WhatsAppNumber is one phone number of the account.
type WhatsAppNumber struct {
	Channel       string `json:"channel"` // configured channel name (campaigns, sessions)
	DisplayName   string `json:"display_name"`
	PhoneNumberID string `json:"phone_number_id"`
	Primary       bool   `json:"primary"`
	// Health is the channel's state (stopped, waiting, tier count).
	Health whatsapp.Health `json:"health"`
	// Phone is the number's standing as last read from Meta.
	Phone whatsapp.PhoneStatus `json:"phone"`
}

// NewWhatsAppAccount adapts ch (the primary number; its group, when
// several numbers are configured, supplies the others).
func NewWhatsAppAccount(ch *whatsapp.Channel) WhatsAppAccount { return waAccount{ch} }

type waAccount struct{ ch *whatsapp.Channel }

func (a waAccount) chans() []*whatsapp.Channel {
	if g := a.ch.Numbers(); g != nil {
		return g.Channels()
	}
	return []*whatsapp.Channel{a.ch}
}

func (a waAccount) WhatsAppNumbers() []WhatsAppNumber {
	var out []WhatsAppNumber
	for i, c := range a.chans() {
		out = append(out, WhatsAppNumber{Channel: c.Name(), DisplayName: c.DisplayName(), PhoneNumberID: c.PhoneNumberID(),
			Primary: i == 0, Health: c.Health(), Phone: c.Phone()})
	}
	return out
}

func (a waAccount) RefreshWhatsAppNumbers(ctx context.Context) error {
	var first error
	for _, c := range a.chans() {
		if _, err := c.RefreshPhone(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (a waAccount) WhatsAppTyping(ctx context.Context, channel, wamid string) (bool, error) {
	ch := a.ch
	for _, c := range a.chans() {
		if c.Name() == channel {
			ch = c
		}
	}
	return ch.ShowTyping(ctx, wamid)
}

func (a waAccount) WhatsAppSignals() ([]whatsapp.AccountEvent, error) { return a.ch.AccountSignals() }

func (a waAccount) WhatsAppTemplates() []whatsapp.TemplateInfo {
	list := a.ch.Templates().List()
	slices.SortStableFunc(list, func(x, y whatsapp.TemplateInfo) int {
		if x.Name != y.Name {
			if x.Name < y.Name {
				return -1
			}
			return 1
		}
		if x.Language < y.Language {
			return -1
		}
		if x.Language > y.Language {
			return 1
		}
		return 0
	})
	return list
}

func (a waAccount) CreateWhatsAppTemplate(ctx context.Context, t whatsapp.NewTemplate) (whatsapp.TemplateInfo, error) {
	return a.ch.Templates().Create(ctx, t)
}

func (a waAccount) EditWhatsAppTemplate(ctx context.Context, name, lang string, e whatsapp.TemplateEdit) (whatsapp.TemplateInfo, error) {
	return a.ch.Templates().Edit(ctx, name, lang, e)
}

func (a waAccount) DeleteWhatsAppTemplate(ctx context.Context, name, lang string) error {
	return a.ch.Templates().Delete(ctx, name, lang)
}

// ErrNoWhatsApp: the WhatsApp channel is not configured.
var ErrNoWhatsApp = errors.New("the WhatsApp channel is not configured")

// WhatsAppNumberOf names the number a channel name is in the account
// (for pickers of the sending number), or false.
func WhatsAppNumberOf(a WhatsAppAccount, channel string) (WhatsAppNumber, bool) {
	for _, n := range a.WhatsAppNumbers() {
		if n.Channel == channel {
			return n, true
		}
	}
	return WhatsAppNumber{}, false
}

// WAWord translates one of Meta's words (quality GREEN, name status
// APPROVED, event PAUSED …): "whatsapp.<kind>.<value>" when the catalog
// has it, else Meta's word as is; "" is "–".
func (v *View) WAWord(kind, value string) string {
	if value == "" {
		return "–"
	}
	if k := "whatsapp." + kind + "." + value; v.Cat.Has(v.Language, k) {
		return v.T(k)
	}
	return value
}

// WASignal says what an account signal means, in the reader's language
// (Meta's own explanation, e.Detail, is shown beside it).
func (v *View) WASignal(e whatsapp.AccountEvent) string {
	tpl := e.TemplateName
	if e.TemplateLanguage != "" {
		tpl += " (" + e.TemplateLanguage + ")"
	}
	switch e.Field {
	case "message_template_status_update":
		s := v.T("whatsapp.signal.template_status", tpl, v.WAWord("event", e.Event))
		if r := e.Reason; r != "" && r != "NONE" {
			s += " — " + v.WAWord("reason", r)
		}
		return s
	case "template_category_update":
		return v.T("whatsapp.signal.template_category", tpl, v.WAWord("category", e.PreviousCategory), v.WAWord("category", e.Category))
	case "message_template_quality_update":
		return v.T("whatsapp.signal.template_quality", tpl, v.WAWord("quality", e.PreviousQuality), v.WAWord("quality", e.Quality))
	case "phone_number_quality_update":
		return v.T("whatsapp.signal.number", e.DisplayPhoneNumber, v.WAWord("event", e.Event), v.TierLabel(e.LimitRaw))
	}
	return v.T("whatsapp.signal.account", v.WAWord("event", e.Event))
}

// WASignalClass is the CSS class of a signal's row: "bad" for pauses,
// rejections, bans, restrictions, RED quality and lowered limits.
func (v *View) WASignalClass(e whatsapp.AccountEvent) string {
	switch {
	case e.TemplateStatus() != "" && e.TemplateStatus() != "APPROVED", e.Quality == "RED", e.Event == "FLAGGED",
		e.Event == "DOWNGRADE", e.Field == "account_update" && e.Event != "":
		return "bad"
	}
	return ""
}

// WAQualityClass colours a quality rating: ok (GREEN), degraded
// (YELLOW), down (RED), "" otherwise (the dashboard's health dots).
func (v *View) WAQualityClass(q string) string {
	switch q {
	case "GREEN":
		return HealthOK
	case "YELLOW":
		return HealthDegraded
	case "RED":
		return HealthDown
	}
	return ""
}
