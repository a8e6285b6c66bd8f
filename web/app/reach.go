package app

import (
	"context"
	"strconv"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/shortlink"
)

// Campaign reach (issue 21): short links with click statistics and the
// SMS fallback of WhatsApp campaigns, on the campaign form, detail page,
// export and API. (Contact lists: contact_lists.go.)

// ShortLinkService is what the portal needs of the short links
// (*shortlink.Links); the redirect itself is mounted by the daemon through
// Deps.Extra.
type ShortLinkService interface {
	Enabled() bool
	// Sample is a short link of the real length (the SMS length preview).
	Sample() string
	Stats(ctx context.Context, campaign string) (shortlink.Stats, error)
}

// ReachForm is what the campaign form shows for short links and the
// fallback.
type ReachForm struct {
	LinksEnabled bool
	LinkSample   string
	SMSSenders   []Sender
}

// ReachFormData is the campaign form's short-link and fallback options
// for the senders.
func (s *Server) ReachFormData(senders []Sender) ReachForm {
	var f ReachForm
	if s.ShortLinksOn() {
		f.LinksEnabled, f.LinkSample = true, s.D.ShortLinks.Sample()
	}
	for _, sd := range senders {
		if sd.Kind == "sms" {
			f.SMSSenders = append(f.SMSSenders, sd)
		}
	}
	return f
}

// ShortLinksOn says whether campaigns may shorten links.
func (s *Server) ShortLinksOn() bool { return s.D.ShortLinks != nil && s.D.ShortLinks.Enabled() }

// AddClicks fills cd's click statistics (campaigns with short links).
func (s *Server) AddClicks(ctx context.Context, cd *CampaignDetail) {
	if !cd.ShortenLinks || s.D.ShortLinks == nil {
		return
	}
	st, err := s.D.ShortLinks.Stats(ctx, cd.ID)
	if err != nil {
		s.Log.Warn("click statistics", "campaign", cd.ID, "err", err)
		return
	}
	cd.Clicks = &st
	rate := st.Rate(cd.Sent)
	cd.ClickRate = &rate
}

// ClickPercent is the click-through rate in percent, for the page.
func (d CampaignDetail) ClickPercent() string {
	if d.ClickRate == nil {
		return ""
	}
	return strconv.FormatFloat(*d.ClickRate*100, 'f', 1, 64)
}

// reachOf fills the fallback counts of campaign c.
func (a *engineCampaigns) reachOf(ctx context.Context, c campaign.Campaign, d *CampaignDetail) {
	d.ShortenLinks, d.Fallback = c.Spec.ShortenLinks, c.Spec.Fallback
	if c.Spec.Fallback == nil {
		return
	}
	if r, err := a.e.Reach(ctx, c.ID); err == nil {
		d.Reach = &r
	}
}
