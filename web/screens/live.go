package screens

import (
	"context"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/live"
)

// The live views: the same server-rendered fragments as the pages, pushed
// as server-sent events (web/live) when something changes. Pages work
// without them (they reload); app.js switches to the stream when the
// browser can open it.

// campaignChanges is the campaign engine's change feed, if it has one.
func (s *Screens) campaignChanges() func() <-chan struct{} {
	if cc, ok := s.D.Campaigns.(app.CampaignChanges); ok {
		return cc.Changes
	}
	return nil
}

// DashboardEvents streams the dashboard's live part: channel status and
// traffic every few seconds, campaign counters as they change.
func (s *Screens) DashboardEvents(c *gin.Context) {
	v := s.NewView(c, "dashboard", "nav.dashboard", nil)
	s.Stream(c, live.View{Changes: s.campaignChanges(), Render: func(ctx context.Context) (string, error) {
		v.Data = s.DashboardData(ctx)
		return s.Fragment("dashboard", "live", v)
	}})
}

// CampaignEvents streams a campaign's state, progress, rate, ETA and
// counts as they change.
func (s *Screens) CampaignEvents(c *gin.Context) {
	if _, ok := s.campaign(c); !ok {
		return
	}
	id := c.Param("id")
	v := s.NewView(c, "campaigns", "campaign.detail.title", nil)
	s.Stream(c, live.View{Changes: s.campaignChanges(), Render: func(ctx context.Context) (string, error) {
		cd, err := s.D.Campaigns.Campaign(ctx, id)
		if err != nil {
			return "", err
		}
		s.AddClicks(ctx, &cd)
		v.Data = s.detailData(cd)
		return s.Fragment("campaign_detail", "campaign-live", v)
	}})
}

// SessionEvents streams the chat session list (?all=1: closed ones too).
func (s *Screens) SessionEvents(c *gin.Context) {
	if s.sessionsUnavailable(c) {
		return
	}
	all := c.Query("all") == "1"
	v := s.NewView(c, "sessions", "nav.sessions", nil)
	s.Stream(c, live.View{Render: func(context.Context) (string, error) {
		list, err := s.D.Sessions.List(!all, sessionListLimit)
		if err != nil {
			return "", err
		}
		v.Data = sessionListData{Items: list, All: all}
		return s.Fragment("sessions", "session-list", v)
	}})
}
