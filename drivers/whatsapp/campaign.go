package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// The driver's contract with the gateway: checked at compile time.
var (
	_ campaign.Channel         = (*CampaignChannel)(nil)
	_ campaign.TemplateSender  = (*CampaignChannel)(nil)
	_ campaign.SenderLister    = (*CampaignChannel)(nil)
	_ campaign.ResendSafety    = (*CampaignChannel)(nil)
	_ campaign.TemplateCatalog = (*Channel)(nil)
	_ campaign.Withdrawer      = (*CampaignChannel)(nil)
	_ campaign.Capacitor       = (*CampaignChannel)(nil)
)

// CampaignChannel is the WhatsApp number as the campaign engine sees it:
// free text only inside the service window, approved templates always.
// A used-up messaging-limit tier makes the campaign wait (it stays running,
// the dashboard says why), an error about one message fails only its
// recipient, and an unknown outcome is reported as such to statuses —
// never resent.
type CampaignChannel struct {
	*Channel
	statuses StatusSink
}

// ForCampaigns returns the channel's campaign face; unknown outcomes are
// reported to statuses (the gateway's status router).
func (ch *Channel) ForCampaigns(statuses StatusSink) *CampaignChannel {
	return &CampaignChannel{Channel: ch, statuses: statuses}
}

// Send sends a campaign's free-text message.
func (c *CampaignChannel) Send(ctx context.Context, m message.Outbound) error {
	return c.deliver(ctx, m, func() error { return c.Channel.Send(ctx, m) })
}

// SendTemplate sends a campaign's template message.
func (c *CampaignChannel) SendTemplate(ctx context.Context, m message.Outbound, t campaign.TemplateMessage) error {
	var comps []TemplateComponent
	if h := t.Header; h != nil {
		switch {
		case h.Location != nil:
			comps = append(comps, HeaderLocation(Location{Latitude: h.Location.Latitude, Longitude: h.Location.Longitude,
				Name: h.Location.Name, Address: h.Location.Address}))
		default:
			comps = append(comps, HeaderMedia(h.Type, Media{ID: h.MediaID, Link: h.MediaURL, Filename: h.Filename}))
		}
	}
	info, known := c.Templates().Get(t.Name, t.Language)
	named := known && info.Vars.Named
	params := t.Params
	// The values come in the order of TemplateInfo.Variables: a TEXT
	// header's placeholder first, then the body's. The header's goes in
	// its own component (Meta: "header needs 1 parameter").
	if known && strings.EqualFold(info.Vars.HeaderFormat, "TEXT") && info.Vars.HeaderParams > 0 && len(params) > 0 {
		h := HeaderText(params[0].Value)
		if named {
			h.Parameters[0].ParameterName = params[0].Name
		}
		comps = append(comps, h)
		params = params[1:]
	}
	if len(params) > 0 {
		values := make([]string, len(params))
		for i, p := range params {
			values[i] = p.Value
		}
		body := BodyText(values...)
		// A NAMED template takes each value with its placeholder's name.
		if named {
			for i, p := range params {
				body.Parameters[i].ParameterName = p.Name
			}
		}
		comps = append(comps, body)
	}
	comps = append(comps, buttonComponents(t.Buttons)...)
	return c.deliver(ctx, m, func() error {
		_, err := c.Channel.SendTemplate(ctx, m, t.Name, t.Language, comps...)
		return err
	})
}

func (c *CampaignChannel) deliver(ctx context.Context, m message.Outbound, send func() error) error {
	for {
		err := send()
		var lim *LimitError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &lim):
			wait := time.Until(lim.RetryAt)
			if wait <= 0 {
				wait = time.Minute
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
				continue
			}
		case errors.Is(err, ErrUnknownOutcome):
			if c.statuses == nil {
				return nil
			}
			return c.statuses.HandleStatus(ctx, message.StatusEvent{ID: m.ID, Ref: m.Ref, Status: message.Unknown,
				Reason: err.Error(), ReasonCode: message.ReasonOf(err), At: time.Now()})
		case IsMessageError(err):
			return fmt.Errorf("%w: %w", campaign.ErrRejected, err)
		default:
			return err
		}
	}
}

// Template is the synchronised template name in language lang, for
// campaigns.
func (ch *Channel) Template(_ context.Context, name, lang string) (campaign.TemplateInfo, error) {
	info, ok := ch.Templates().Get(name, lang)
	if !ok {
		return campaign.TemplateInfo{}, fmt.Errorf("no WhatsApp template %q in language %q (synchronise the templates in the portal)", name, lang)
	}
	return templateInfo(info), nil
}

// ListTemplates lists the synchronised templates, for the portal.
func (ch *Channel) ListTemplates(context.Context) ([]campaign.TemplateInfo, error) {
	list := ch.Templates().List()
	out := make([]campaign.TemplateInfo, len(list))
	for i, info := range list {
		out[i] = templateInfo(info)
	}
	return out, nil
}

func templateInfo(info TemplateInfo) campaign.TemplateInfo {
	return campaign.TemplateInfo{Name: info.Name, Language: info.Language, Status: info.Status, Category: info.Category,
		Header: info.Vars.HeaderFormat, Variables: info.Variables(), Body: info.BodyText(), Buttons: templateButtons(info),
		HeaderText: info.ComponentText("HEADER"), Footer: info.ComponentText("FOOTER")}
}

// MediaDir serves the media contacts sent from dir, downloading each the
// first time (the portal's links in chat sessions).
type MediaDir struct {
	ch  *Channel
	dir string
}

// MediaIn returns the media of this channel saved under dir.
func (ch *Channel) MediaIn(dir string) MediaDir { return MediaDir{ch: ch, dir: dir} }

// MediaFile returns the local path and MIME type of media id.
func (m MediaDir) MediaFile(ctx context.Context, id string) (string, string, error) {
	saved, err := m.ch.SaveMedia(ctx, id, m.dir)
	return saved.Path, saved.MimeType, err
}
