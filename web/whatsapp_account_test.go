package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/web/app"
)

// waAccountEnv is the portal with the real WhatsApp channel against the
// Cloud API emulator on loopback; the emulator's webhooks reach the
// channel through the portal's webhook route, as in the daemon.
func waAccountEnv(t *testing.T) (*testEnv, *whatsapp.Channel, *waemu.Server) {
	t.Helper()
	ch, emu := realWhatsApp(t)
	env := newEnv(t, func(d *app.Deps) {
		d.WhatsApp = &app.WhatsAppSetup{WebhookPath: whatsapp.WebhookPath, PhoneNumberID: ch.PhoneNumberID(), Account: app.NewWhatsAppAccount(ch)}
		d.Extra = map[string]http.Handler{whatsapp.WebhookPath: ch.Webhook()}
	})
	emu.SetCallbackURL(env.srv.URL + whatsapp.WebhookPath)
	ctx := context.Background()
	if err := ch.Templates().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return env, ch, emu
}

// signalsFromMeta has Meta (the emulator, in the shapes of Meta's webhook
// reference) lower the number to RED / TIER_250, pause hello_world and
// rate 2023_april_promo YELLOW; the channel then reads the number again.
func signalsFromMeta(t *testing.T, ch *whatsapp.Channel, emu *waemu.Server) {
	t.Helper()
	ctx := context.Background()
	if err := emu.SetPhone(ctx, emu.Options().PhoneNumberID, waemu.Phone{QualityRating: "RED", Tier: "TIER_250", Status: "FLAGGED"}, ""); err != nil {
		t.Fatal(err)
	}
	if err := emu.SetTemplateStatus(ctx, "hello_world", "en_US", "PAUSED", "NONE", "FIRST_PAUSE", "Your WhatsApp message template has been paused."); err != nil {
		t.Fatal(err)
	}
	if err := emu.SetTemplateQuality(ctx, "2023_april_promo", "en_US", "YELLOW"); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.RefreshPhone(ctx); err != nil {
		t.Fatal(err)
	}
}

// In English over HTTP: the numbers page shows the number's standing in
// words (no raw TIER_250 or RED), the signals newest first; the API gives
// the numbers with their channel names (the sending-number picker's
// source) and the signals; the template form refuses a body variable at
// the start at the body field, and an operator may look but not create.
func TestWhatsAppAccountPagesEnglish(t *testing.T) {
	t.Parallel()
	env, ch, emu := waAccountEnv(t)
	signalsFromMeta(t, ch, emu)
	c := env.client()
	c.setup("a safe new password")
	r := c.get("/whatsapp/account")
	if r.code != http.StatusOK {
		t.Fatalf("account page: %d", r.code)
	}
	mustContain(t, r.body, "low (red)", "up to 250 customers per 24 h", "flagged (quality low)", "standard (80 messages/s)",
		"Template hello_world (en_US): paused", "FIRST_PAUSE: Your WhatsApp message template has been paused.",
		"Template 2023_april_promo (en_US): quality changed from not rated yet to medium (yellow)", "limit lowered")
	if strings.Contains(r.body, ">TIER_250<") || strings.Contains(r.body, ">RED<") {
		t.Error("raw Meta words on the page")
	}
	if i, j := strings.Index(r.body, "2023_april_promo (en_US): quality"), strings.Index(r.body, "hello_world (en_US): paused"); i < 0 || j < 0 || i > j {
		t.Errorf("signals not newest first (%d, %d)", i, j)
	}

	var nums struct {
		Numbers []app.WhatsAppNumber `json:"numbers"`
	}
	if r := c.get("/api/v1/whatsapp/numbers"); r.code != 200 || json.Unmarshal([]byte(r.body), &nums) != nil || len(nums.Numbers) != 1 {
		t.Fatalf("numbers API: %d %s", r.code, r.body)
	}
	if n := nums.Numbers[0]; n.Channel != "whatsapp" || !n.Primary || n.Phone.Info.QualityRating != "RED" || n.Phone.Info.MessagingLimitTier != "TIER_250" || n.Health.TierLimit != 250 {
		t.Errorf("number %+v", n)
	}
	var sig struct {
		Signals []whatsapp.AccountEvent `json:"signals"`
	}
	if r := c.get("/api/v1/whatsapp/signals"); r.code != 200 || json.Unmarshal([]byte(r.body), &sig) != nil || len(sig.Signals) != 3 {
		t.Fatalf("signals API: %d %s", r.code, r.body)
	}

	tok := c.csrf("/whatsapp/templates")
	r = c.post("/whatsapp/templates", url.Values{"csrf_token": {tok}, "name": {"order_update"}, "language": {"en"}, "category": {"UTILITY"},
		"body": {"{{1}} your order has shipped."}, "body_examples": {"Anna"}})
	if r.code != http.StatusUnprocessableEntity {
		t.Fatalf("bad body: %d", r.code)
	}
	mustContain(t, r.body, "The variables break Meta&#39;s rules", "not at the start or end", `value="order_update"`)
	if _, ok := ch.Templates().Get("order_update", "en"); ok {
		t.Error("a refused template was kept")
	}

	op := operatorClient(t, env)
	if r := op.get("/whatsapp/templates"); r.code != 200 || strings.Contains(r.body, `id="wa-template-form"`) || strings.Contains(r.body, "wa-delete-") {
		t.Errorf("operator sees the create form or delete buttons: %d", r.code)
	}
	if r := op.post("/whatsapp/templates", url.Values{"csrf_token": {op.csrf("/whatsapp/templates")}, "name": {"x"}}); r.code != http.StatusForbidden {
		t.Errorf("operator create: %d", r.code)
	}
}

// Without the WhatsApp channel the pages say so and the API answers 503.
func TestWhatsAppAccountPagesUnconfigured(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	c := env.client()
	c.setup("a safe new password")
	for _, p := range []string{"/whatsapp/account", "/whatsapp/templates"} {
		if r := c.get(p); r.code != 200 || !strings.Contains(r.body, "WhatsApp is not configured.") {
			t.Errorf("%s: %d", p, r.code)
		}
	}
	if r := c.get("/api/v1/whatsapp/numbers"); r.code != http.StatusServiceUnavailable {
		t.Errorf("numbers API: %d", r.code)
	}
}
