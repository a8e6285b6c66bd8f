package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/web"
)

// startWhatsApp builds the WhatsApp channel; with whatsapp.emulate it first
// starts the built-in Cloud API emulator on loopback, which calls the
// portal's webhook at portalAddr like Meta would.
func (d *daemon) startWhatsApp(ctx context.Context, portalAddr string, statuses whatsapp.StatusSink, inbound whatsapp.InboundSink) (*whatsapp.Channel, error) {
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
	opts.Statuses, opts.Inbound = statuses, inbound
	opts.Journal = d.msglog
	ch, err := whatsapp.New(opts)
	if err != nil {
		return nil, err
	}
	d.waSetup = &web.WhatsAppSetup{WebhookPath: whatsapp.WebhookPath, VerifyToken: opts.VerifyToken,
		PhoneNumberID: opts.PhoneNumberID, BusinessID: opts.BusinessAccountID, APIVersion: opts.APIVersion, TokenSet: opts.Token != ""}
	d.goRun(ctx, "whatsapp", ch.Run)
	return ch, nil
}

// waChannel is the WhatsApp number as the campaign engine sees it: free
// text only inside the service window, approved templates always.
type waChannel struct {
	*whatsapp.Channel
	statuses *statusRouter
}

func (c waChannel) Send(ctx context.Context, m message.Outbound) error {
	return c.deliver(ctx, m, func() error { return c.Channel.Send(ctx, m) })
}

func (c waChannel) SendTemplate(ctx context.Context, m message.Outbound, t campaign.TemplateMessage) error {
	var comps []whatsapp.TemplateComponent
	if h := t.Header; h != nil {
		switch {
		case h.Location != nil:
			comps = append(comps, whatsapp.HeaderLocation(whatsapp.Location{Latitude: h.Location.Latitude, Longitude: h.Location.Longitude,
				Name: h.Location.Name, Address: h.Location.Address}))
		default:
			comps = append(comps, whatsapp.HeaderMedia(h.Type, whatsapp.Media{ID: h.MediaID, Link: h.MediaURL, Filename: h.Filename}))
		}
	}
	values := make([]string, len(t.Params))
	for i, p := range t.Params {
		values[i] = p.Value
	}
	if len(values) > 0 {
		comps = append(comps, whatsapp.BodyText(values...))
	}
	return c.deliver(ctx, m, func() error {
		_, err := c.Channel.SendTemplate(ctx, m, t.Name, t.Language, comps...)
		return err
	})
}

// deliver maps the channel's answers onto the campaign's contract: a
// messaging-limit tier that is used up makes the campaign wait (it stays
// running, the dashboard says why), an error about this one message fails
// only its recipient, and an unknown outcome is recorded as such — never
// resent.
func (c waChannel) deliver(ctx context.Context, m message.Outbound, send func() error) error {
	for {
		err := send()
		var lim *whatsapp.LimitError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &lim):
			wait := time.Until(lim.RetryAt)
			if wait <= 0 {
				wait = time.Minute
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
				continue
			}
		case errors.Is(err, whatsapp.ErrUnknownOutcome):
			return c.statuses.Status(ctx, message.StatusEvent{ID: m.ID, Ref: m.Ref, Status: message.Unknown, Reason: err.Error(), ReasonCode: message.ReasonOf(err), At: time.Now()})
		case whatsapp.IsMessageError(err):
			return fmt.Errorf("%w: %w", campaign.ErrRejected, err)
		default:
			return err
		}
	}
}

// waTemplates is the synchronised template list as campaigns and the
// portal see it.
type waTemplates struct{ ch *whatsapp.Channel }

func (t waTemplates) Template(_ context.Context, name, lang string) (campaign.TemplateInfo, error) {
	info, ok := t.ch.Templates().Get(name, lang)
	if !ok {
		return campaign.TemplateInfo{}, fmt.Errorf("no WhatsApp template %q in language %q (synchronise the templates in the portal)", name, lang)
	}
	return templateInfo(info), nil
}

func (t waTemplates) ListTemplates(context.Context) ([]campaign.TemplateInfo, error) {
	list := t.ch.Templates().List()
	out := make([]campaign.TemplateInfo, len(list))
	for i, info := range list {
		out[i] = templateInfo(info)
	}
	return out, nil
}

func templateInfo(info whatsapp.TemplateInfo) campaign.TemplateInfo {
	return campaign.TemplateInfo{Name: info.Name, Language: info.Language, Status: info.Status, Category: info.Category,
		Header: info.Vars.HeaderFormat, Variables: info.Variables(), Body: info.BodyText()}
}

// waMedia downloads media contacts sent into the data directory, for the
// portal's links in chat sessions, and uploads the portal's campaign
// header files to Meta (web.MediaUploader).
type waMedia struct {
	ch  *whatsapp.Channel
	dir string
}

func (m waMedia) MediaFile(ctx context.Context, id string) (string, string, error) {
	saved, err := m.ch.SaveMedia(ctx, id, m.dir)
	return saved.Path, saved.MimeType, err
}

func (m waMedia) UploadMedia(ctx context.Context, filename, mimeType string, r io.Reader) (string, error) {
	return m.ch.UploadMedia(ctx, filename, mimeType, r)
}
