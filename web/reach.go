package web

import (
	"context"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/shortlink"
)

// Campaign reach (issue 21): short links with click statistics and the
// SMS fallback of WhatsApp campaigns, on the campaign form, detail page,
// export and API. (Contact lists: contactlists.go.)

// ShortLinkService is what the portal needs of the short links
// (*shortlink.Links); the redirect itself is mounted by the daemon through
// Deps.Extra.
type ShortLinkService interface {
	Enabled() bool
	// Sample is a short link of the real length (the SMS length preview).
	Sample() string
	Stats(ctx context.Context, campaign string) (shortlink.Stats, error)
}

// reachForm is what the campaign form shows for short links and the
// fallback.
type reachForm struct {
	LinksEnabled bool
	LinkSample   string
	SMSSenders   []Sender
}

func (s *server) reachFormData(senders []Sender) reachForm {
	var f reachForm
	if sl := s.d.ShortLinks; sl != nil && sl.Enabled() {
		f.LinksEnabled, f.LinkSample = true, sl.Sample()
	}
	for _, sd := range senders {
		if sd.Kind == "sms" {
			f.SMSSenders = append(f.SMSSenders, sd)
		}
	}
	return f
}

// readReachForm reads "shorten links" and, for a WhatsApp campaign, the
// SMS fallback into in; problems go to v.Errors.
func (s *server) readReachForm(c *gin.Context, v *view, kind string, senders []Sender, in *CampaignInput) {
	for _, k := range []string{"shorten_links", "fallback_sender", "fallback_text", "fallback_after"} {
		v.Form[k] = c.PostForm(k)
	}
	if c.PostForm("shorten_links") != "" {
		if sl := s.d.ShortLinks; sl == nil || !sl.Enabled() {
			v.Errors["shorten_links"] = v.T("links.err.disabled")
		}
		in.ShortenLinks = true
	}
	fs := c.PostForm("fallback_sender")
	if kind != "whatsapp" || fs == "" {
		return
	}
	f := &campaign.Fallback{Text: c.PostForm("fallback_text")}
	found := false
	for _, sd := range senders {
		if sd.Kind == "sms" && sd.Channel+"|"+sd.ID == fs {
			f.Channel, f.Sender, found = sd.Channel, sd.ID, true
		}
	}
	if !found {
		v.Errors["fallback_sender"] = v.T("fallback.err.sender")
	}
	if strings.TrimSpace(f.Text) == "" {
		v.Errors["fallback_text"] = v.T("fallback.err.text")
	}
	if raw := strings.TrimSpace(c.PostForm("fallback_after")); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 || n > 7*24*60 {
			v.Errors["fallback_after"] = v.T("fallback.err.after", 7*24*60)
		}
		f.After = n
	}
	in.Fallback = f
}

// prefillReach puts a stored campaign's list, short-link and fallback
// settings into the edit form.
func (s *server) prefillReach(v *view, cd CampaignDetail) {
	if l := cd.List; l != nil {
		v.Form["list"] = l.Name
		if l.AlwaysRunning {
			v.Form["always_running"] = "1"
		}
		for i, f := range l.Query.Filters {
			if i >= listFormSlots {
				break
			}
			n := strconv.Itoa(i + 1)
			v.Form["filter_col_"+n], v.Form["filter_op_"+n], v.Form["filter_val_"+n] = f.Column, f.Op, f.Value
			if f.Numeric {
				v.Form["filter_num_"+n] = "1"
			}
		}
		for i, k := range l.Query.Sort {
			if i >= listFormSlots {
				break
			}
			n := strconv.Itoa(i + 1)
			v.Form["sort_col_"+n] = k.Column
			if k.Descending {
				v.Form["sort_dir_"+n] = "desc"
			}
			if k.Numeric {
				v.Form["sort_num_"+n] = "1"
			}
		}
	}
	if cd.ShortenLinks {
		v.Form["shorten_links"] = "1"
	}
	if f := cd.Fallback; f != nil {
		v.Form["fallback_sender"], v.Form["fallback_text"] = f.Channel+"|"+f.Sender, f.Text
		if f.After > 0 {
			v.Form["fallback_after"] = strconv.Itoa(f.After)
		}
	}
}

// addClicks fills cd's click statistics (campaigns with short links).
func (s *server) addClicks(ctx context.Context, cd *CampaignDetail) {
	if !cd.ShortenLinks || s.d.ShortLinks == nil {
		return
	}
	st, err := s.d.ShortLinks.Stats(ctx, cd.ID)
	if err != nil {
		s.log.Warn("click statistics", "campaign", cd.ID, "err", err)
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
