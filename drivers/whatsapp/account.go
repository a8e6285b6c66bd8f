package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Account signals: the webhook fields Meta sends about the business
// account rather than about messages, as its webhook reference documents
// them (developers.facebook.com/documentation/business-messaging/whatsapp/
// webhooks/reference/<field>): message_template_status_update,
// template_category_update, message_template_quality_update,
// phone_number_quality_update and account_update.

// AccountEvent is one such change.
type AccountEvent struct {
	Field string    `json:"field"`
	WABA  string    `json:"waba_id,omitempty"` // entry.id
	At    time.Time `json:"at,omitzero"`       // entry.time
	Event string    `json:"event,omitempty"`   // APPROVED, PAUSED, FLAGGED, THROUGHPUT_UPGRADE, ACCOUNT_VIOLATION …

	// Templates (message_template_*_update, template_category_update).
	TemplateID       string `json:"template_id,omitempty"`
	TemplateName     string `json:"template_name,omitempty"`
	TemplateLanguage string `json:"template_language,omitempty"` // as pbxgate spells it: en_US
	Reason           string `json:"reason,omitempty"`            // REJECTED/PAUSED reason, NONE
	Category         string `json:"category,omitempty"`
	PreviousCategory string `json:"previous_category,omitempty"`
	Quality          string `json:"quality,omitempty"` // template or number quality: GREEN, YELLOW, RED
	PreviousQuality  string `json:"previous_quality,omitempty"`
	// Detail is Meta's explanation (other_info.description,
	// rejection_info.reason and recommendation, violation type, ban state).
	Detail string `json:"detail,omitempty"`

	// Numbers (phone_number_quality_update).
	DisplayPhoneNumber string `json:"display_phone_number,omitempty"`
	// Limit is the messaging limit after the change: 50, 250, 2000, 10000,
	// 100000; 0 unlimited; -1 not given or TIER_NOT_SET.
	Limit    int    `json:"limit"`
	LimitRaw string `json:"limit_raw,omitempty"` // TIER_2K …
}

// TemplateStatus is the template status an event leaves a template in
// ("" when the event does not change it).
func (e AccountEvent) TemplateStatus() string {
	if e.Field != "message_template_status_update" {
		return ""
	}
	switch e.Event {
	case "APPROVED", "REINSTATED", "UNPAUSED":
		return "APPROVED"
	case "PAUSED", "DISABLED", "REJECTED", "PENDING", "IN_APPEAL", "ARCHIVED", "DELETED", "PENDING_DELETION", "LIMIT_EXCEEDED":
		return e.Event
	}
	return "" // FLAGGED, LOCKED …: a warning, the template still sends
}

// parseAccount decodes an account-level change; ok is false for a field
// pbxgate does not know.
func parseAccount(field, waba string, at int64, value json.RawMessage) (AccountEvent, bool, error) {
	e := AccountEvent{Field: field, WABA: waba, Limit: -1}
	if at > 0 {
		e.At = time.Unix(at, 0).UTC()
	}
	var v struct {
		Event            string          `json:"event"`
		TemplateID       json.RawMessage `json:"message_template_id"`
		TemplateName     string          `json:"message_template_name"`
		TemplateLanguage string          `json:"message_template_language"`
		Reason           *string         `json:"reason"`
		Category         string          `json:"message_template_category"`
		NewCategory      string          `json:"new_category"`
		PrevCategory     string          `json:"previous_category"`
		NewQuality       string          `json:"new_quality_score"`
		PrevQuality      string          `json:"previous_quality_score"`
		OtherInfo        *struct {
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"other_info"`
		RejectionInfo *struct {
			Reason         string `json:"reason"`
			Recommendation string `json:"recommendation"`
		} `json:"rejection_info"`
		DisplayPhone  string `json:"display_phone_number"`
		CurrentLimit  string `json:"current_limit"`
		MaxDaily      string `json:"max_daily_conversations_per_business"`
		ViolationInfo *struct {
			ViolationType string `json:"violation_type"`
		} `json:"violation_info"`
		BanInfo *struct {
			State string `json:"waba_ban_state"`
			Date  string `json:"waba_ban_date"`
		} `json:"ban_info"`
	}
	switch field {
	case "message_template_status_update", "template_category_update", "message_template_quality_update",
		"phone_number_quality_update", "account_update":
	default:
		return e, false, nil
	}
	if err := json.Unmarshal(value, &v); err != nil {
		return e, true, fmt.Errorf("%s: %w", field, err)
	}
	e.Event = v.Event
	e.TemplateID = strings.Trim(string(v.TemplateID), `"`)
	e.TemplateName = v.TemplateName
	e.TemplateLanguage = strings.ReplaceAll(v.TemplateLanguage, "-", "_")
	if v.Reason != nil {
		e.Reason = *v.Reason
	}
	e.Category, e.PreviousCategory = v.Category, v.PrevCategory
	if v.NewCategory != "" {
		e.Category = v.NewCategory
	}
	e.Quality, e.PreviousQuality = v.NewQuality, v.PrevQuality
	var detail []string
	if v.OtherInfo != nil {
		detail = append(detail, strings.TrimSpace(v.OtherInfo.Title+": "+v.OtherInfo.Description))
	}
	if v.RejectionInfo != nil {
		detail = append(detail, strings.TrimSpace(v.RejectionInfo.Reason+" "+v.RejectionInfo.Recommendation))
	}
	if v.ViolationInfo != nil {
		detail = append(detail, "violation "+v.ViolationInfo.ViolationType)
	}
	if v.BanInfo != nil {
		detail = append(detail, strings.TrimSpace("account "+v.BanInfo.State+" "+v.BanInfo.Date))
	}
	e.Detail = strings.Join(detail, "; ")
	e.DisplayPhoneNumber = v.DisplayPhone
	// max_daily_conversations_per_business replaces current_limit (Meta
	// removes the latter in 2026).
	if raw := firstNonEmpty(v.MaxDaily, v.CurrentLimit); raw != "" {
		e.LimitRaw, e.Limit = raw, tierLimit(raw)
	}
	return e, true, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// tierLimit maps Meta's TIER_* names to a number of users per 24 h: 0 is
// unlimited, -1 unknown (TIER_NOT_SET).
func tierLimit(s string) int {
	switch s {
	case "TIER_50":
		return 50
	case "TIER_250":
		return 250
	case "TIER_1K":
		return 1000
	case "TIER_2K":
		return 2000
	case "TIER_10K":
		return 10000
	case "TIER_100K":
		return 100000
	case "TIER_UNLIMITED":
		return 0
	}
	return -1
}

// Summary says what happened, for the log and the portal, in English
// (the portal translates by Field and Event).
func (e AccountEvent) Summary() string {
	switch e.Field {
	case "message_template_status_update":
		s := fmt.Sprintf("template %s (%s): %s", e.TemplateName, e.TemplateLanguage, e.Event)
		if e.Reason != "" && e.Reason != "NONE" {
			s += ", reason " + e.Reason
		}
		if e.Detail != "" {
			s += " — " + e.Detail
		}
		return s
	case "template_category_update":
		return fmt.Sprintf("template %s (%s): category %s → %s", e.TemplateName, e.TemplateLanguage, e.PreviousCategory, e.Category)
	case "message_template_quality_update":
		return fmt.Sprintf("template %s (%s): quality %s → %s", e.TemplateName, e.TemplateLanguage, e.PreviousQuality, e.Quality)
	case "phone_number_quality_update":
		return fmt.Sprintf("number %s: %s, messaging limit %s", e.DisplayPhoneNumber, e.Event, e.LimitRaw)
	}
	s := "account: " + e.Event
	if e.Detail != "" {
		s += " — " + e.Detail
	}
	return s
}

// maxSignals is how many account signals a channel keeps for the portal.
const maxSignals = 20

// keySignals holds the last account signals (JSON list, newest last).
const keySignals = "wa/signals"

// applyAccount acts on an account signal: a template's new status (and
// its reason) goes into the local template copy at once, so a paused or
// disabled template is refused with Meta's reason before the next sync; a
// number's new messaging limit becomes its tier; everything is logged and
// kept for the portal. Applying one twice changes nothing more.
func (ch *Channel) applyAccount(ev AccountEvent) error {
	target := ch
	if ev.Field == "phone_number_quality_update" {
		target = ch.numberByDisplay(ev.DisplayPhoneNumber)
	}
	level := ch.log.Info
	switch {
	case ev.TemplateStatus() != "" && ev.TemplateStatus() != "APPROVED", ev.Event == "FLAGGED",
		ev.Field == "account_update" && ev.Event != "", ev.Quality == "RED":
		level = ch.log.Warn
	}
	level("whatsapp account signal from Meta: "+ev.Summary(), "field", ev.Field, "event", ev.Event, "channel", target.o.Name)
	if st := ev.TemplateStatus(); st != "" || ev.Field == "template_category_update" || ev.Field == "message_template_quality_update" {
		// Every number of the account sends the account's templates.
		chans := []*Channel{ch}
		if g := ch.group.Load(); g != nil {
			chans = g.list
		}
		for _, c := range chans {
			if err := c.templates.apply(ev); err != nil {
				return err
			}
		}
	}
	if ev.Field == "phone_number_quality_update" && ev.Limit >= 0 {
		changed, err := target.contacts.setTier(ev.Limit)
		if err != nil {
			return err
		}
		if changed {
			target.log.Warn("whatsapp messaging limit changed by Meta", "limit", ev.LimitRaw, "users_per_24h", ev.Limit, "channel", target.o.Name)
		}
		target.phoneTierChanged(ev.LimitRaw)
	}
	return ch.remember(ev)
}

// numberByDisplay is the grouped number with that display phone number
// (learnt from the metadata of its messages), or ch.
func (ch *Channel) numberByDisplay(display string) *Channel {
	g := ch.group.Load()
	if g == nil || display == "" {
		return ch
	}
	for _, c := range g.list {
		if d, _ := c.display.Load().(string); digitsOnly(d) == digitsOnly(display) {
			return c
		}
	}
	return ch
}

// remember keeps ev among the last maxSignals signals (in the store).
func (ch *Channel) remember(ev AccountEvent) error {
	ch.signalsMu.Lock()
	defer ch.signalsMu.Unlock()
	var list []AccountEvent
	return ch.o.Store.Update(func(txn *store.Txn) error {
		if err := store.GetJSON(txn, keySignals, &list); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, old := range list {
			if old == ev {
				return nil // Meta sent it again
			}
		}
		list = append(list, ev)
		if len(list) > maxSignals {
			list = list[len(list)-maxSignals:]
		}
		return store.SetJSON(txn, keySignals, list)
	})
}

// AccountSignals are the last account signals Meta sent (newest last):
// template status, category and quality changes, number quality and
// messaging limit, account updates.
func (ch *Channel) AccountSignals() ([]AccountEvent, error) {
	var list []AccountEvent
	err := ch.o.Store.View(func(txn *store.Txn) error { return store.GetJSON(txn, keySignals, &list) })
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	return list, err
}
