package screens

import (
	"context"
	"errors"
	"net/http"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
)

func (s *Screens) Dashboard(c *gin.Context) {
	v := s.NewView(c, "dashboard", "nav.dashboard", s.DashboardData(c.Request.Context()))
	s.Render(c, http.StatusOK, "dashboard", v)
}

// DashboardLive is the fragment the page's script fetches every few
// seconds: the same HTML as the first render, so one template serves both.
func (s *Screens) DashboardLive(c *gin.Context) {
	v := s.NewView(c, "dashboard", "nav.dashboard", s.DashboardData(c.Request.Context()))
	s.RenderTemplate(c, http.StatusOK, "dashboard", "live", v)
}

// channelPage is a channel screen: the status snapshot plus, for WhatsApp,
// the webhook settings.
type channelPage struct {
	app.DashboardData
	WhatsApp   *app.WhatsAppSetup
	WebhookURL string
	// WhatsApp templates (WhatsApp page).
	Templates []campaign.TemplateInfo
	CanSync   bool
	// USSD console (Modems page).
	HasUSSD    bool
	USSDModem  string
	USSDAnswer string
}

func (s *Screens) channelData(c *gin.Context, name string) *channelPage {
	d := &channelPage{HasUSSD: s.D.USSD != nil}
	if s.D.Status != nil {
		d.HasStatus = true
		d.Status = s.D.Status.Status(c.Request.Context())
	}
	return d
}

// SimplePage renders a channel page from the status snapshot.
func (s *Screens) SimplePage(name string) gin.HandlerFunc {
	return func(c *gin.Context) {
		d := s.channelData(c, name)
		if name == "whatsapp" && s.D.Templates != nil {
			list, err := s.D.Templates.ListTemplates(c.Request.Context())
			if err != nil {
				s.Log.Error("WhatsApp templates", "err", err)
			}
			d.Templates, d.CanSync = list, s.D.SyncTemplates != nil
		}
		if name == "whatsapp" && s.D.WhatsApp != nil {
			d.WhatsApp = s.D.WhatsApp
			d.WebhookURL = app.WebhookURL(c, s.D.WhatsApp.WebhookPath)
		}
		s.Render(c, http.StatusOK, name, s.NewView(c, name, "nav."+name, d))
	}
}

// SyncTemplates fetches the WhatsApp templates from Meta now.
func (s *Screens) SyncTemplates(c *gin.Context) {
	if s.D.SyncTemplates == nil {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	if err := s.RunTemplateSync(c); err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		s.Flash(c, "whatsapp.sync_failed")
	} else {
		s.Flash(c, "whatsapp.synced")
	}
	c.Redirect(http.StatusSeeOther, "/whatsapp")
}
