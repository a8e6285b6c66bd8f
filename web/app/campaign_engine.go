package app

import (
	"cmp"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// EngineCampaigns adapts the campaign engine to the portal's
// CampaignService. channels is the map the daemon passed to campaign.New
// (the sender list is derived from it).
func EngineCampaigns(e *campaign.Engine, channels map[string]campaign.Channel) CampaignService {
	return &engineCampaigns{e: e, channels: channels}
}

// CampaignChanges is what a CampaignService offers the live views: a
// channel closed at the next change of any campaign.
type CampaignChanges interface {
	Changes() <-chan struct{}
}

func (a *engineCampaigns) Changes() <-chan struct{} { return a.e.Changes() }

type engineCampaigns struct {
	e        *campaign.Engine
	channels map[string]campaign.Channel
}

func summary(c campaign.Campaign) CampaignSummary {
	s := CampaignSummary{
		ID: c.ID, Name: c.Spec.Name, Channel: c.Spec.Channel, Sender: c.Spec.Sender,
		State: CampaignState(c.State), Reason: c.Reason, ReasonCode: c.ReasonCode, Total: c.Recipients, Done: c.Counts.Done(),
		Sent: c.Counts.Sent + c.Counts.Delivered, Delivered: c.Counts.Delivered, Failed: c.Counts.Failed,
		Excluded: c.Counts.Excluded, Created: c.CreatedAt, ScheduledAt: c.ScheduledAt,
		Archived: c.Archived, PrunedAt: c.PrunedAt,
	}
	for _, t := range c.History {
		if (t.To == campaign.Running || t.To == campaign.Retrying) && s.StartedAt.IsZero() {
			s.StartedAt = t.At
		}
		if t.To == campaign.Completed || t.To == campaign.Stopped {
			s.FinishedAt = t.At
		}
	}
	if c.State != campaign.Completed && c.State != campaign.Stopped {
		s.FinishedAt = time.Time{}
	}
	return s
}

func (a *engineCampaigns) kind(channel string) string {
	if ch, ok := a.channels[channel]; ok {
		return string(ch.Kind())
	}
	return ""
}

func (a *engineCampaigns) ListCampaigns(ctx context.Context, q CampaignQuery) ([]CampaignSummary, int, error) {
	p := a.e.List(ctx, campaign.ListQuery{State: campaign.State(q.State), Search: q.Search, Archived: q.Archived, Offset: q.Offset, Limit: q.Limit})
	out := make([]CampaignSummary, 0, len(p.Items))
	for _, c := range p.Items {
		s := summary(c)
		s.Kind = a.kind(s.Channel)
		out = append(out, s)
	}
	return out, p.Total, nil
}

func (a *engineCampaigns) Campaign(ctx context.Context, id string) (CampaignDetail, error) {
	c, err := a.e.Get(ctx, id)
	if err != nil {
		return CampaignDetail{}, mapEngineErr(err)
	}
	d := CampaignDetail{CampaignSummary: summary(c), Text: c.Spec.Content.Text, RatePerMinute: c.Spec.Throttle, DNCLists: c.Spec.DNCLists}
	if wa := c.Spec.Content.WhatsApp; wa != nil {
		d.Template = wa.Template + " (" + wa.Language + ")"
	}
	d.Mode, d.Target, d.WhatsApp, d.List = string(c.Spec.Mode), c.Spec.Target, c.Spec.Content.WhatsApp, c.Spec.List
	a.reachOf(ctx, c, &d)
	d.Kind = a.kind(d.Channel)
	if p, err := a.e.Progress(ctx, id); err == nil {
		d.Progress = &p
	}
	return d, nil
}

func (a *engineCampaigns) CampaignRecipients(ctx context.Context, id string, offset, limit int) ([]RecipientResult, int, error) {
	return a.recipients(ctx, id, campaign.RecipientQuery{Offset: offset, Limit: limit})
}

func (a *engineCampaigns) recipients(ctx context.Context, id string, q campaign.RecipientQuery) ([]RecipientResult, int, error) {
	p, err := a.e.Recipients(ctx, id, q)
	if err != nil {
		return nil, 0, mapEngineErr(err)
	}
	return a.results(ctx, id, p), p.Total, nil
}

// results are page p of campaign id's recipients as the portal shows them.
func (a *engineCampaigns) results(ctx context.Context, id string, p campaign.RecipientPage) []RecipientResult {
	out := make([]RecipientResult, 0, len(p.Items))
	camp, _ := a.e.Get(ctx, id)
	for _, r := range p.Items {
		upd := r.DoneAt
		if upd.IsZero() {
			upd = r.SentAt
		}
		if upd.IsZero() {
			upd = r.SendingAt
		}
		out = append(out, RecipientResult{Number: r.Number, State: string(r.Status), Error: r.Reason, ErrorCode: r.ReasonCode, Attempts: r.Attempt, Updated: upd})
		if camp.Spec.Fallback != nil {
			out[len(out)-1].Channel = r.ReachedBy(camp)
		}
	}
	return out
}

func specFrom(in CampaignInput) campaign.Spec {
	spec := campaign.Spec{
		Name: in.Name, Channel: in.Channel, Sender: in.Sender,
		Content: campaign.Content{Text: in.Text, WhatsApp: in.WhatsApp}, Mode: campaign.Direct,
		Throttle: in.RatePerMinute, DNCLists: in.DNCLists, List: in.List,
		ShortenLinks: in.ShortenLinks, Fallback: in.Fallback,
	}
	spec.Content.Media = in.Media // an MMS campaign (campaign_media.go)
	if in.Mode == string(campaign.Session) {
		spec.Mode, spec.Target = campaign.Session, in.Target
	}
	switch in.Send {
	case SendNow:
		spec.When = campaign.When{Kind: "now"}
	case SendDraft:
		spec.When = campaign.When{Kind: "draft"}
	case SendSchedule:
		spec.When = campaign.When{Kind: "scheduled", Date: in.ScheduleAt.Format("2006-01-02"),
			Time: in.ScheduleAt.Format("15:04"), TimeZone: zoneName(in.ScheduleAt.Location())}
	}
	return spec
}

func (a *engineCampaigns) CreateCampaign(ctx context.Context, in CampaignInput) (string, error) {
	var c campaign.Campaign
	var err error
	if in.List != nil {
		c, err = a.e.CreateFromList(ctx, specFrom(in)) // contact_lists.go
	} else {
		c, err = a.e.Create(ctx, specFrom(in), in.Recipients)
	}
	if err != nil {
		return "", mapEngineErr(err)
	}
	return c.ID, nil
}

func (a *engineCampaigns) UpdateCampaign(ctx context.Context, id string, in CampaignInput, keepRecipients bool) error {
	rs := in.Recipients
	if keepRecipients {
		rs = nil // the engine keeps the stored recipients
	}
	if in.List != nil {
		_, err := a.e.UpdateFromList(ctx, id, specFrom(in))
		return mapEngineErr(err)
	}
	_, err := a.e.Update(ctx, id, specFrom(in), rs)
	return mapEngineErr(err)
}

// zoneName is the IANA name of loc, or "" (the engine's zone) for the
// unnamed zones of parsed offsets.
func zoneName(loc *time.Location) string {
	if n := loc.String(); n != "" && n != "Local" {
		if _, err := time.LoadLocation(n); err == nil {
			return n
		}
	}
	return ""
}

func (a *engineCampaigns) StartCampaign(ctx context.Context, id string) error {
	_, err := a.e.SendNow(ctx, id)
	return mapEngineErr(err)
}

func (a *engineCampaigns) StopCampaign(ctx context.Context, id string) error {
	_, err := a.e.Stop(ctx, id, "stopped in the portal")
	return mapEngineErr(err)
}

func (a *engineCampaigns) ResumeCampaign(ctx context.Context, id string) error {
	_, err := a.e.Resume(ctx, id)
	return mapEngineErr(err)
}

func (a *engineCampaigns) RetryFailed(ctx context.Context, id string) error {
	_, err := a.e.RetryFailed(ctx, id)
	return mapEngineErr(err)
}

func (a *engineCampaigns) DuplicateCampaign(ctx context.Context, id, _ string) (string, error) {
	c, err := a.e.Duplicate(ctx, id)
	if err != nil {
		return "", mapEngineErr(err)
	}
	return c.ID, nil
}

// DeleteCampaign stops a campaign that is sending or pending (Stop
// withdraws what the channel has not started) and deletes it with its
// recipients.
func (a *engineCampaigns) DeleteCampaign(ctx context.Context, id string) error {
	c, err := a.e.Get(ctx, id)
	if err != nil {
		return mapEngineErr(err)
	}
	switch c.State {
	case campaign.Running, campaign.Retrying, campaign.Pending:
		if _, err := a.e.Stop(ctx, id, ""); err != nil && !errors.Is(err, campaign.ErrTransition) {
			return mapEngineErr(err)
		}
	}
	return mapEngineErr(a.e.Delete(ctx, id))
}

// senderLabeler names a channel's sender for people (a WhatsApp number's
// name and display number instead of Meta's phone-number id).
type senderLabeler interface {
	SenderLabel(id string) string
}

func (a *engineCampaigns) Senders(context.Context) ([]Sender, error) {
	var out []Sender
	for name, ch := range a.channels {
		kind := string(ch.Kind())
		out = append(out, Sender{Channel: name, Kind: kind, Label: name})
		if sl, ok := ch.(campaign.SenderLister); ok {
			lb, _ := ch.(senderLabeler)
			for _, s := range sl.Senders() {
				label := s
				if lb != nil {
					label = cmp.Or(lb.SenderLabel(s), s)
				}
				out = append(out, Sender{Channel: name, Kind: kind, ID: s, Label: name + " · " + label})
			}
		}
	}
	slices.SortFunc(out, func(a, b Sender) int {
		if a.Channel != b.Channel {
			return cmp.Compare(a.Channel, b.Channel)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (a *engineCampaigns) ExportCampaignCSV(ctx context.Context, id string, w io.Writer) error {
	return mapEngineErr(a.e.ExportCSV(ctx, id, w))
}

// mapEngineErr turns the engine's sentinels into the portal's: field errors
// with catalog codes where a field is known.
func mapEngineErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, campaign.ErrNotFound):
		return ErrCampaignNotFound
	case errors.Is(err, campaign.ErrTransition):
		return errors.Join(ErrCampaignState, err)
	case errors.Is(err, campaign.ErrNameTaken):
		return &FieldError{Field: "name", Code: "name_taken", Message: err.Error()}
	case errors.Is(err, campaign.ErrThrottle):
		return &FieldError{Field: "rate_per_minute", Code: "throttle", Message: err.Error()}
	case errors.Is(err, campaign.ErrTooManyCampaigns):
		return &FieldError{Field: "form", Code: "campaign_limit", Message: err.Error()}
	case errors.Is(err, campaign.ErrLimit), errors.Is(err, campaign.ErrInvalid):
		fe := &FieldError{Field: "form", Message: err.Error(), Reason: message.ReasonOf(err)}
		if strings.HasPrefix(fe.Reason.Code, "campaign.button_") {
			fe.Field = "buttons" // the WhatsApp template's button values
		}
		if isMediaReason(fe.Reason) {
			fe.Field = "media" // the MMS file (campaign_media.go)
		}
		return fe
	}
	return err
}
