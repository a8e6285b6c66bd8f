package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/web"
	"github.com/pbxgate/pbxgate/web/app"
)

// startWhatsApp builds the WhatsApp channel of whatsapp.phone_number_id
// and one channel per entry of whatsapp.numbers, grouped behind the one
// webhook Meta calls for all numbers of the app (the primary channel's
// Webhook). With whatsapp.emulate it first starts the built-in Cloud API
// emulator on loopback, serving every configured number, which calls the
// portal's webhook at portalAddr like Meta would.
//
// The further numbers are registered for campaigns here (d.channels);
// sessions and automatic answers reach them through the primary channel,
// which sends from the number a message names or, for free text, from the
// number the customer wrote to.
func (d *daemon) startWhatsApp(ctx context.Context, portalAddr string, statuses whatsapp.StatusSink, inbox whatsapp.Inbox) (*whatsapp.Channel, error) {
	cfg := d.cfg.WhatsApp
	opts := whatsapp.OptionsFromConfig(cfg)
	var numbers []whatsapp.Options
	for i := range cfg.Numbers {
		numbers = append(numbers, whatsapp.NumberOptions(cfg, i))
	}
	if cfg.Emulate {
		// The emulated "Meta" reports the configured tier, so the tier
		// read from it at start is the one configured.
		eo := waemu.Options{CallbackURL: "http://" + portalAddr + whatsapp.WebhookPath, StatusDelay: time.Second, Tier: emulatedTier(opts.Tier)}
		for _, n := range numbers {
			eo.Numbers = append(eo.Numbers, waemu.Number{PhoneNumberID: n.PhoneNumberID, DisplayPhoneNumber: n.PhoneNumberID, Tier: emulatedTier(n.Tier)})
		}
		emu := waemu.New(eo)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("WhatsApp emulator: %w", err)
		}
		d.goRun(ctx, "whatsapp-emulator", func(ctx context.Context) error { return emu.Serve(ctx, ln) })
		d.waemu = emu
		eff := emu.Options()
		emulated := func(o *whatsapp.Options) {
			o.BaseURL, o.BusinessAccountID = "http://"+ln.Addr().String(), eff.WABAID
			o.Token, o.AppSecret = eff.Token, eff.AppSecret
			if o.VerifyToken == "" {
				o.VerifyToken = "pbxgate-demo-verify"
			}
			if o.TemplateSyncInterval == 0 {
				o.TemplateSyncInterval = time.Hour
			}
		}
		emulated(&opts)
		opts.PhoneNumberID = eff.PhoneNumberID
		for i := range numbers {
			emulated(&numbers[i])
		}
		d.log.Info("WhatsApp Cloud API emulator started", "url", opts.BaseURL, "numbers", 1+len(numbers))
	}
	chans := make([]*whatsapp.Channel, 0, 1+len(numbers))
	for _, o := range append([]whatsapp.Options{opts}, numbers...) {
		if o.Name != "" {
			if _, taken := d.channels[o.Name]; taken {
				return nil, fmt.Errorf("whatsapp.numbers: channel name %q is already an SMS channel; choose another", o.Name)
			}
		}
		o.Store, o.Logger, o.Registerer = d.store, d.log.With("component", "whatsapp"), d.reg
		o.Statuses, o.Inbox = statuses, inbox
		o.Journal = d.msglog
		ch, err := whatsapp.New(o)
		if err != nil {
			return nil, err
		}
		chans = append(chans, ch)
	}
	if len(chans) > 1 {
		if _, err := whatsapp.NewNumbers(chans...); err != nil {
			return nil, err
		}
		for _, ch := range chans[1:] {
			d.channels[ch.Name()] = ch.ForCampaigns(d.router)
			d.component("whatsapp/"+ch.Name(), ch.Run)
			d.log.Info("WhatsApp number configured", "channel", ch.Name(), "phone_number_id", ch.PhoneNumberID(), "display_name", ch.DisplayName())
		}
	}
	primary := chans[0]
	d.waSetup = &web.WhatsAppSetup{WebhookPath: whatsapp.WebhookPath, VerifyToken: opts.VerifyToken, WebhookMaxBytes: cfg.WebhookMaxBytes,
		PhoneNumberID: opts.PhoneNumberID, BusinessID: opts.BusinessAccountID, APIVersion: opts.APIVersion, TokenSet: opts.Token != "",
		Account: app.NewWhatsAppAccount(chans[0])}
	d.component("whatsapp", primary.Run)
	return primary, nil
}

// whatsappNumber reports whether name is the channel of one of the
// further WhatsApp numbers (whatsapp.numbers); the primary channel sends
// a message naming it from that number.
func (d *daemon) whatsappNumber(name string) bool {
	if d.wa == nil || d.wa.Numbers() == nil {
		return false
	}
	ch := d.wa.Numbers().ByName(name)
	return ch != nil && ch != d.wa
}

// emulatedTier is Meta's name of a configured messaging limit (0:
// unlimited) for the emulator to report.
func emulatedTier(limit int) string { return tierName(limit) }

// whatsappStatuses are the dashboard's lines of every configured number
// (the primary first): state, tier in force (read from Meta), open
// windows, and Meta's quality rating when it is not GREEN.
func (d *daemon) whatsappStatuses() []web.WhatsAppStatus {
	if d.wa == nil {
		return nil
	}
	chans := []*whatsapp.Channel{d.wa}
	if g := d.wa.Numbers(); g != nil {
		chans = g.Channels()
	}
	out := make([]web.WhatsAppStatus, 0, len(chans))
	for _, ch := range chans {
		h := ch.Health()
		open, _ := ch.OpenWindows()
		number := ch.PhoneNumberID()
		if ps := ch.Phone(); ps.Known && ps.Info.DisplayPhoneNumber != "" {
			number = ps.Info.DisplayPhoneNumber
		}
		ws := web.WhatsAppStatus{PhoneNumber: number, Name: ch.DisplayName(), State: h.State,
			OpenWindows: open, Detail: h.Reason, Tier: tierName(h.TierLimit)}
		switch h.State {
		case "ok":
			ws.Health = web.HealthOK
		case "stopped":
			ws.Health = web.HealthDown
		default:
			ws.Health = web.HealthDegraded
		}
		if h.Quality == "RED" || (h.NumberStatus != "" && h.NumberStatus != "CONNECTED") {
			ws.Health = web.HealthDegraded
			ws.Detail = strings.TrimSpace(ws.Detail + " quality " + h.Quality + ", status " + h.NumberStatus)
		}
		out = append(out, ws)
	}
	return out
}

// whatsappComponent is one number's line in /readyz: its channel state,
// and its standing at Meta (quality rating, messaging limit, status) as
// last read; a RED rating or a flagged/restricted number degrades it.
func whatsappComponent(ch *whatsapp.Channel) web.Component {
	comp := web.Component{Name: "whatsapp/" + ch.Name(), State: "ok"}
	h := ch.Health()
	ps := ch.Phone()
	var detail []string
	if h.State != "ok" {
		comp.State = "degraded"
		detail = append(detail, h.Reason)
	}
	if ps.Known {
		if bad := ps.Info.Degraded(); bad != "" {
			comp.State = "degraded"
			detail = append(detail, bad)
		}
		detail = append(detail, "quality "+ps.Info.QualityRating+", tier "+ps.Info.MessagingLimitTier)
	}
	if ps.Error != "" {
		detail = append(detail, "last reading from Meta failed: "+ps.Error)
	}
	comp.Detail = strings.Join(detail, "; ")
	return comp
}
