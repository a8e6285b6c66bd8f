package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// The number's standing at Meta, read from the phone-number node
// (GET /{phone-number-id}?fields=…, operation getPhoneNumberById of Meta's
// OpenAPI description, schema PhoneNumberInfo; messaging_limit_tier and
// status are fields of the same node as the schema
// WhatsAppBusinessAccountPhoneNumber lists them, throughput is Meta's
// {"level": "STANDARD"|"HIGH"} from its throughput documentation).

// PhoneFields are the fields pbxgate asks for.
const PhoneFields = "id,display_phone_number,verified_name,quality_rating,name_status,status,messaging_limit_tier,throughput"

// PhoneInfo is what Meta says about the number.
type PhoneInfo struct {
	ID                 string `json:"id"`
	DisplayPhoneNumber string `json:"display_phone_number,omitempty"`
	VerifiedName       string `json:"verified_name,omitempty"`
	// QualityRating is GREEN, YELLOW, RED or NA (UNKNOWN for a new number).
	QualityRating string `json:"quality_rating,omitempty"`
	// NameStatus is the display name's review: APPROVED,
	// AVAILABLE_WITHOUT_REVIEW, DECLINED, EXPIRED, PENDING_REVIEW, NONE.
	NameStatus string `json:"name_status,omitempty"`
	// Status is the number's connection: CONNECTED, FLAGGED, RESTRICTED …
	Status string `json:"status,omitempty"`
	// MessagingLimitTier is TIER_50 … TIER_UNLIMITED.
	MessagingLimitTier string `json:"messaging_limit_tier,omitempty"`
	// Throughput is the throughput level: STANDARD (80/s) or HIGH (up to
	// 1,000/s); "" when Meta did not say.
	Throughput string `json:"throughput_level,omitempty"`
	// FetchedAt is when pbxgate read it.
	FetchedAt time.Time `json:"fetched_at"`
}

// Limit is the messaging limit as users per 24 h: 0 unlimited, -1 unknown.
func (p PhoneInfo) Limit() int { return tierLimit(p.MessagingLimitTier) }

// Degraded names what is wrong with the number, or "" when nothing is:
// a RED quality rating, or a status other than CONNECTED (flagged,
// restricted, disconnected). Messages may still go out; the portal and
// /readyz show it.
func (p PhoneInfo) Degraded() string {
	switch {
	case p.Status != "" && p.Status != "CONNECTED":
		return "number status " + p.Status
	case p.QualityRating == "RED":
		return "quality rating RED"
	}
	return ""
}

// PhoneNumber reads the number's quality rating, messaging limit tier,
// name status and throughput from Meta.
func (c *Client) PhoneNumber(ctx context.Context) (PhoneInfo, error) {
	var raw struct {
		ID                 string          `json:"id"`
		DisplayPhoneNumber string          `json:"display_phone_number"`
		VerifiedName       string          `json:"verified_name"`
		QualityRating      string          `json:"quality_rating"`
		NameStatus         string          `json:"name_status"`
		Status             string          `json:"status"`
		MessagingLimitTier string          `json:"messaging_limit_tier"`
		Throughput         json.RawMessage `json:"throughput"`
	}
	req, err := http.NewRequest(http.MethodGet, c.base+"/"+url.PathEscape(c.phoneID)+"?fields="+url.QueryEscape(PhoneFields), nil)
	if err != nil {
		return PhoneInfo{}, err
	}
	if err := c.do(ctx, req, &raw); err != nil {
		return PhoneInfo{}, fmt.Errorf("phone number %s: %w", c.phoneID, err)
	}
	if raw.ID == "" {
		return PhoneInfo{}, fmt.Errorf("phone number %s: Meta's answer has no id", c.phoneID)
	}
	p := PhoneInfo{ID: raw.ID, DisplayPhoneNumber: raw.DisplayPhoneNumber, VerifiedName: raw.VerifiedName,
		QualityRating: raw.QualityRating, NameStatus: raw.NameStatus, Status: raw.Status, MessagingLimitTier: raw.MessagingLimitTier}
	if len(raw.Throughput) > 0 {
		var tp struct {
			Level string `json:"level"`
		}
		if json.Unmarshal(raw.Throughput, &tp) == nil {
			p.Throughput = tp.Level
		}
	}
	return p, nil
}

// phoneState keeps the last PhoneInfo and the last error of reading it.
type phoneState struct {
	mu   sync.Mutex
	info *PhoneInfo
	err  string
	at   time.Time // of the last attempt
}

// PhoneStatus is the last reading of the phone-number node.
type PhoneStatus struct {
	Info PhoneInfo `json:"info"`
	// Known: Info was read at least once (since this or an earlier run).
	Known bool `json:"known"`
	// Error is why the last reading failed ("" when it worked).
	Error string `json:"error,omitempty"`
	// Checked is when pbxgate last asked.
	Checked time.Time `json:"checked,omitzero"`
}

// Phone is the number's standing as last read from Meta (kept over
// restarts).
func (ch *Channel) Phone() PhoneStatus {
	ch.phone.mu.Lock()
	defer ch.phone.mu.Unlock()
	ps := PhoneStatus{Error: ch.phone.err, Checked: ch.phone.at}
	if ch.phone.info != nil {
		ps.Info, ps.Known = *ch.phone.info, true
	}
	return ps
}

// SenderLabel names number id for whoever picks the sending number (the
// campaign form's "Absender"): the configured display name (where none
// was configured, the verified name Meta reported) and the display phone number as Meta
// formats it; while Meta has not been read, the number learnt from
// webhooks or else the phone-number id stands in. "" for an id that is
// not this channel's.
func (ch *Channel) SenderLabel(id string) string {
	if id != ch.o.PhoneNumberID {
		return ""
	}
	ps := ch.Phone()
	number := id
	if d, _ := ch.display.Load().(string); d != "" {
		number = "+" + d
	}
	if ps.Known && ps.Info.DisplayPhoneNumber != "" {
		number = ps.Info.DisplayPhoneNumber
	}
	name := ch.o.DisplayName
	if (name == "" || name == ch.o.Name) && ps.Info.VerifiedName != "" {
		name = ps.Info.VerifiedName
	}
	if name == "" {
		return number
	}
	return name + " · " + number
}

// keyPhone is the last PhoneInfo of a number.
func (k storeKeys) phone() string { return k.state + "/phone" }

// loadPhone reads the persisted PhoneInfo.
func (ch *Channel) loadPhone() error {
	var p PhoneInfo
	err := ch.o.Store.View(func(txn *store.Txn) error { return store.GetJSON(txn, ch.keys.phone(), &p) })
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("whatsapp: load phone number info: %w", err)
	}
	ch.phone.info = &p
	return nil
}

// RefreshPhone reads the number's standing from Meta now, keeps it and
// applies its messaging limit tier to the tier count.
func (ch *Channel) RefreshPhone(ctx context.Context) (PhoneInfo, error) {
	p, err := ch.client.PhoneNumber(ctx)
	now := ch.clk.Now()
	ch.phone.mu.Lock()
	ch.phone.at = now
	if err != nil {
		ch.phone.err = err.Error()
		ch.phone.mu.Unlock()
		return p, err
	}
	p.FetchedAt = now.UTC()
	prev := ch.phone.info
	ch.phone.info, ch.phone.err = &p, ""
	ch.phone.mu.Unlock()
	if p.DisplayPhoneNumber != "" {
		if d, _ := ch.display.Load().(string); d == "" {
			ch.display.Store(digitsOnly(p.DisplayPhoneNumber))
		}
	}
	if err := ch.o.Store.Update(func(txn *store.Txn) error { return store.SetJSON(txn, ch.keys.phone(), p) }); err != nil {
		return p, fmt.Errorf("whatsapp: store phone number info: %w", err)
	}
	if l := p.Limit(); l >= 0 {
		changed, err := ch.contacts.setTier(l)
		if err != nil {
			return p, err
		}
		if changed {
			ch.log.Warn("whatsapp messaging limit read from Meta", "tier", p.MessagingLimitTier, "users_per_24h", l)
		}
	}
	if prev == nil || prev.QualityRating != p.QualityRating || prev.Status != p.Status || prev.NameStatus != p.NameStatus {
		level := ch.log.Info
		if p.Degraded() != "" {
			level = ch.log.Warn
		}
		level("whatsapp number standing read from Meta", "quality", p.QualityRating, "status", p.Status,
			"name_status", p.NameStatus, "tier", p.MessagingLimitTier, "throughput", p.Throughput)
	}
	return p, nil
}

// digitsOnly keeps the digits of a display phone number ("+1 555-555-5555"
// → "15555555555"), the form webhooks' metadata uses.
func digitsOnly(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// runPhone reads the number's standing at start and every interval.
func (ch *Channel) runPhone(ctx context.Context, interval time.Duration) {
	if interval < 0 {
		return
	}
	for {
		if _, err := ch.RefreshPhone(ctx); err != nil && ctx.Err() == nil {
			ch.log.Warn("whatsapp: cannot read the number's quality and messaging limit from Meta; keeping the last known", "err", err)
		}
		if err := ch.clk.Sleep(ctx, interval); err != nil {
			return
		}
	}
}

// phoneTierChanged puts a messaging limit announced by webhook into the
// kept PhoneInfo, so the portal shows the new tier before the next reading.
func (ch *Channel) phoneTierChanged(tier string) {
	ch.phone.mu.Lock()
	if ch.phone.info == nil || ch.phone.info.MessagingLimitTier == tier {
		ch.phone.mu.Unlock()
		return
	}
	p := *ch.phone.info
	p.MessagingLimitTier = tier
	ch.phone.info = &p
	ch.phone.mu.Unlock()
	if err := ch.o.Store.Update(func(txn *store.Txn) error { return store.SetJSON(txn, ch.keys.phone(), p) }); err != nil {
		ch.log.Warn("whatsapp: cannot store the new messaging limit", "err", err)
	}
}
