package web

import (
	"context"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/web/app"
)

// The campaign form's sender picker ("Absender"/"Sender") offers every
// configured WhatsApp number — each is its own channel — by its name and
// the display phone number Meta reports for it (GET /{phone-number-id},
// here the emulator), not by Meta's internal phone-number id; a number
// without a configured name shows its verified name. Before Meta was
// read, the id stands in. In English and German; the API's campaign
// validation still takes channel and phone-number id.
func TestWhatsAppSenderPicker(t *testing.T) {
	t.Parallel()
	const second = "106540352242933"
	emu := waemu.New(waemu.Options{DisplayPhoneNumber: "4930901820",
		Numbers: []waemu.Number{{PhoneNumberID: second, DisplayPhoneNumber: "4940555123"}}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	eo := emu.Options()
	ctx := context.Background()
	open := func(id, name string) *whatsapp.Channel {
		st, err := store.Open(store.Options{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		ch, err := whatsapp.New(whatsapp.Options{Name: name, BaseURL: srv.URL, APIVersion: "v23.0", PhoneNumberID: id, BusinessAccountID: eo.WABAID,
			Token: eo.Token, AppSecret: eo.AppSecret, VerifyToken: "verify", RequestTimeout: 30 * time.Second, Store: st,
			DisplayName: map[string]string{"whatsapp": "Zentrale"}[name], Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	primary, service := open(eo.PhoneNumberID, "whatsapp"), open(second, "whatsapp-service")
	if l := primary.SenderLabel(eo.PhoneNumberID); l != "Zentrale · "+eo.PhoneNumberID {
		t.Errorf("before Meta was read: %q", l)
	}
	if l := primary.SenderLabel(second); l != "" {
		t.Errorf("another number's id: %q", l)
	}
	for _, ch := range []*whatsapp.Channel{primary, service} {
		if _, err := ch.RefreshPhone(ctx); err != nil {
			t.Fatal(err)
		}
	}
	env := newEnv(t, func(d *app.Deps) {
		startEngine(t, d, map[string]campaign.Channel{"whatsapp": primary.ForCampaigns(nil), "whatsapp-service": service.ForCampaigns(nil)}, campaign.Config{})
	})
	c := env.client()
	c.setup("a safe new password")
	for lang, label := range map[string]string{"en": `<label for="sender">Sender</label>`, "de": `<label for="sender">Absender</label>`} {
		c.get("/lang/" + lang + "?next=/")
		r := c.get("/campaigns/new")
		if r.code != http.StatusOK {
			t.Fatalf("%s: %d", lang, r.code)
		}
		mustContain(t, html.UnescapeString(r.body), label,
			`<option value="whatsapp|`+eo.PhoneNumberID+`" data-kind="whatsapp" >WhatsApp: whatsapp · Zentrale · +4930901820</option>`,
			`<option value="whatsapp-service|`+second+`" data-kind="whatsapp" >WhatsApp: whatsapp-service · pbxgate Demo · +4940555123</option>`)
	}
}
