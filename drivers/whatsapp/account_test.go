package whatsapp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
)

// TestAccountSignalsParseMetaExamples reads the account-level webhooks in
// the shapes of Meta's webhook reference (testdata/account, see its
// README) into AccountEvents.
func TestAccountSignalsParseMetaExamples(t *testing.T) {
	t.Parallel()
	cases := map[string]whatsapp.AccountEvent{
		"template_approved.json": {Field: "message_template_status_update", WABA: "102290129340398", At: time.Unix(1751247548, 0).UTC(),
			Event: "APPROVED", TemplateID: "1689556908129832", TemplateName: "order_confirmation", TemplateLanguage: "en_US",
			Reason: "NONE", Category: "UTILITY", Limit: -1},
		"template_rejected.json": {Field: "message_template_status_update", WABA: "102290129340398", At: time.Unix(1751247548, 0).UTC(),
			Event: "REJECTED", TemplateID: "1689556908129835", TemplateName: "abandoned_cart", TemplateLanguage: "en",
			Reason: "INVALID_FORMAT", Category: "MARKETING", Limit: -1,
			Detail: "Your template has parameters placed next to each other (like {{1}}{{2}}) without text or punctuation between them. Separate parameters with descriptive text and ensure each parameter is clearly contextualized."},
		"template_paused.json": {Field: "message_template_status_update", WABA: "102290129340398", At: time.Unix(1739321024, 0).UTC(),
			Event: "PAUSED", TemplateID: "1689556908129832", TemplateName: "order_confirmation", TemplateLanguage: "en_US",
			Reason: "NONE", Category: "UTILITY", Limit: -1, Detail: "FIRST_PAUSE: Your WhatsApp message template has been paused."},
		"template_quality.json": {Field: "message_template_quality_update", WABA: "102290129340398", At: time.Unix(1674864290, 0).UTC(),
			TemplateID: "806312974732579", TemplateName: "welcome_template", TemplateLanguage: "en_US",
			Quality: "YELLOW", PreviousQuality: "GREEN", Limit: -1},
		"phone_number_throughput_upgrade.json": {Field: "phone_number_quality_update", WABA: "102290129340398", At: time.Unix(1748454394, 0).UTC(),
			Event: "THROUGHPUT_UPGRADE", DisplayPhoneNumber: "15550783881", Limit: 0, LimitRaw: "TIER_UNLIMITED"},
		"phone_number_limit_2k.json": {Field: "phone_number_quality_update", WABA: "102290129340398", At: time.Unix(1739321024, 0).UTC(),
			Event: "UPGRADE", DisplayPhoneNumber: "15550783881", Limit: 2000, LimitRaw: "TIER_2K"},
		"account_violation.json": {Field: "account_update", WABA: "102290129340398", At: time.Unix(1743451903, 0).UTC(),
			Event: "ACCOUNT_VIOLATION", Detail: "violation ADULT", Limit: -1},
		"account_disabled_update.json": {Field: "account_update", WABA: "102290129340398", At: time.Unix(1743451903, 0).UTC(),
			Event: "DISABLED_UPDATE", Detail: "account REINSTATE April 17, 2025", Limit: -1},
	}
	for file, want := range cases {
		p, err := whatsapp.ParseNotification(readTestdata(t, "account/"+file))
		if err != nil || len(p.Bad) > 0 || len(p.Account) != 1 || p.Ignored != 0 {
			t.Errorf("%s: %v bad %v account %d ignored %d", file, err, p.Bad, len(p.Account), p.Ignored)
			continue
		}
		if got := p.Account[0]; got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", file, got, want)
		}
	}
	disabled, _ := whatsapp.ParseNotification(readTestdata(t, "account/template_disabled.json"))
	if len(disabled.Account) != 1 || disabled.Account[0].TemplateStatus() != "DISABLED" {
		t.Errorf("disabled: %+v", disabled.Account)
	}
}

// TestPausedTemplateRefusedAtOnce: Meta pauses a template (the emulator
// sends message_template_status_update like Meta); the channel's next send
// of it is refused with Meta's reason at once — no template sync, no
// request to Meta — and reinstating it lets it send again. A messaging
// limit change moves the channel's tier; both are kept as account signals.
func TestPausedTemplateRefusedAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	if err := e.ch.Templates().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	synced, _ := e.ch.Templates().LastSync()
	tpl := whatsapp.TemplateMessage("hello_world", "en_US")
	if _, err := e.ch.SendMessage(ctx, "tpl-ok", "+4915112345088", tpl); err != nil {
		t.Fatalf("approved template: %v", err)
	}
	if err := e.emu.SetTemplateStatus(ctx, "hello_world", "en_US", "PAUSED", "NONE", "FIRST_PAUSE", "Your WhatsApp message template has been paused."); err != nil {
		t.Fatal(err)
	}
	before := e.emu.Stats()
	_, err := e.ch.SendMessage(ctx, "tpl-paused", "+4915112345088", tpl)
	if !errors.Is(err, whatsapp.ErrTemplate) || !strings.Contains(err.Error(), "PAUSED") || !strings.Contains(err.Error(), "FIRST_PAUSE") {
		t.Fatalf("paused template: %v, want ErrTemplate naming PAUSED and Meta's reason", err)
	}
	if after := e.emu.Stats(); after.Accepted != before.Accepted || len(after.Rejected) != len(before.Rejected) {
		t.Errorf("the paused template reached the emulator: %+v → %+v", before, after)
	}
	if last, _ := e.ch.Templates().LastSync(); !last.Equal(synced) {
		t.Errorf("a template sync ran (%v → %v); the webhook alone must do", synced, last)
	}
	if err := e.emu.SetTemplateStatus(ctx, "hello_world", "en_US", "REINSTATED", "NONE", "UNPAUSE", "Your WhatsApp message template has been unpaused."); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ch.SendMessage(ctx, "tpl-again", "+4915112345088", tpl); err != nil {
		t.Errorf("reinstated template: %v", err)
	}

	if h := e.ch.Health(); h.TierLimit != 0 {
		t.Fatalf("env starts unlimited, tier %d", h.TierLimit)
	}
	if err := e.emu.SetMessagingLimit(ctx, e.emu.Options().PhoneNumberID, "DOWNGRADE", "TIER_250"); err != nil {
		t.Fatal(err)
	}
	if h := e.ch.Health(); h.TierLimit != 250 {
		t.Errorf("tier after Meta's TIER_250: %d", h.TierLimit)
	}
	sig, err := e.ch.AccountSignals()
	if err != nil || len(sig) != 3 || sig[0].Event != "PAUSED" || sig[2].LimitRaw != "TIER_250" {
		t.Errorf("signals %+v %v", sig, err)
	}
}
