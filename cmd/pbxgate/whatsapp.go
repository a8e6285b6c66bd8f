package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/web"
)

// startWhatsApp builds the WhatsApp channel; with whatsapp.emulate it first
// starts the built-in Cloud API emulator on loopback, which calls the
// portal's webhook at portalAddr like Meta would.
func (d *daemon) startWhatsApp(ctx context.Context, portalAddr string, statuses whatsapp.StatusSink, inbox whatsapp.Inbox) (*whatsapp.Channel, error) {
	opts := whatsapp.OptionsFromConfig(d.cfg.WhatsApp)
	if d.cfg.WhatsApp.Emulate {
		emu := waemu.New(waemu.Options{CallbackURL: "http://" + portalAddr + whatsapp.WebhookPath, StatusDelay: time.Second})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("WhatsApp emulator: %w", err)
		}
		d.goRun(ctx, "whatsapp-emulator", func(ctx context.Context) error { return emu.Serve(ctx, ln) })
		d.waemu = emu
		eo := emu.Options()
		opts.BaseURL = "http://" + ln.Addr().String()
		opts.PhoneNumberID, opts.BusinessAccountID = eo.PhoneNumberID, eo.WABAID
		opts.Token, opts.AppSecret = eo.Token, eo.AppSecret
		if opts.VerifyToken == "" {
			opts.VerifyToken = "pbxgate-demo-verify"
		}
		if opts.TemplateSyncInterval == 0 {
			opts.TemplateSyncInterval = time.Hour
		}
		d.log.Info("WhatsApp Cloud API emulator started", "url", opts.BaseURL)
	}
	opts.Store, opts.Logger, opts.Registerer = d.store, d.log.With("component", "whatsapp"), d.reg
	opts.Statuses, opts.Inbox = statuses, inbox
	opts.Journal = d.msglog
	ch, err := whatsapp.New(opts)
	if err != nil {
		return nil, err
	}
	d.waSetup = &web.WhatsAppSetup{WebhookPath: whatsapp.WebhookPath, VerifyToken: opts.VerifyToken,
		PhoneNumberID: opts.PhoneNumberID, BusinessID: opts.BusinessAccountID, APIVersion: opts.APIVersion, TokenSet: opts.Token != ""}
	d.component("whatsapp", ch.Run)
	return ch, nil
}
