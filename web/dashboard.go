package web

import (
	"context"
	"errors"
	"net/http"
	"regexp"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
)

// dashboardData is the dashboard's live part.
type dashboardData struct {
	HasStatus    bool
	Status       Status
	HasCampaigns bool
	Campaigns    []CampaignSummary // running, retrying and pending
	MaxBucket    int
	CampaignErr  bool
}

// activeStates are the campaigns the dashboard shows with progress bars.
var activeStates = []CampaignState{StateRunning, StateRetrying, StatePending}

func (s *server) dashboardData(ctx context.Context) dashboardData {
	var d dashboardData
	if s.d.Status != nil {
		d.HasStatus = true
		d.Status = s.d.Status.Status(ctx)
		for _, b := range d.Status.History {
			d.MaxBucket = max(d.MaxBucket, b.Sent+b.Failed)
		}
	}
	if s.d.Campaigns != nil {
		d.HasCampaigns = true
		for _, st := range activeStates {
			items, _, err := s.d.Campaigns.ListCampaigns(ctx, CampaignQuery{State: st, Limit: 50})
			if err != nil {
				s.log.Error("dashboard: list campaigns", "err", err)
				d.CampaignErr = true
				break
			}
			d.Campaigns = append(d.Campaigns, items...)
		}
	}
	return d
}

func (s *server) dashboard(c *gin.Context) {
	v := s.newView(c, "dashboard", "nav.dashboard", s.dashboardData(c.Request.Context()))
	s.render(c, http.StatusOK, "dashboard", v)
}

// dashboardLive is the fragment the page's script fetches every few
// seconds: the same HTML as the first render, so one template serves both.
func (s *server) dashboardLive(c *gin.Context) {
	v := s.newView(c, "dashboard", "nav.dashboard", s.dashboardData(c.Request.Context()))
	s.renderTemplate(c, http.StatusOK, "dashboard", "live", v)
}

// channelPage is a channel screen: the status snapshot plus, for WhatsApp,
// the webhook settings.
type channelPage struct {
	dashboardData
	WhatsApp   *WhatsAppSetup
	WebhookURL string
	// WhatsApp templates (WhatsApp page).
	Templates []campaign.TemplateInfo
	CanSync   bool
	// USSD console (Modems page).
	HasUSSD    bool
	USSDModem  string
	USSDAnswer string
}

func (s *server) channelData(c *gin.Context, name string) *channelPage {
	d := &channelPage{HasUSSD: s.d.USSD != nil}
	if s.d.Status != nil {
		d.HasStatus = true
		d.Status = s.d.Status.Status(c.Request.Context())
	}
	return d
}

var ussdRE = regexp.MustCompile(`^[*#][0-9*#]{1,30}#$`)

// runUSSD checks and audits a USSD code and runs it on modem (s.d.USSD
// must be set). Problems are *inputProblem for modem or code; other
// errors are the modem's or the network's.
func (s *server) runUSSD(c *gin.Context, modem, code string) (string, error) {
	switch {
	case modem == "":
		return "", problem("modem", "required", "ussd.err.modem")
	case !ussdRE.MatchString(code):
		return "", problem("code", "invalid", "ussd.err.code")
	}
	s.audit(c, "modem.ussd", modem+" "+code)
	answer, err := s.d.USSD.USSD(c.Request.Context(), modem, code)
	if err != nil {
		s.log.Warn("USSD failed", "modem", modem, "err", err)
	}
	return answer, err
}

// simplePage renders a channel page from the status snapshot.
func (s *server) simplePage(name string) gin.HandlerFunc {
	return func(c *gin.Context) {
		d := s.channelData(c, name)
		if name == "whatsapp" && s.d.Templates != nil {
			list, err := s.d.Templates.ListTemplates(c.Request.Context())
			if err != nil {
				s.log.Error("WhatsApp templates", "err", err)
			}
			d.Templates, d.CanSync = list, s.d.SyncTemplates != nil
		}
		if name == "whatsapp" && s.d.WhatsApp != nil {
			d.WhatsApp = s.d.WhatsApp
			d.WebhookURL = webhookURL(c, s.d.WhatsApp.WebhookPath)
		}
		s.render(c, http.StatusOK, name, s.newView(c, name, "nav."+name, d))
	}
}

// webhookURL is where Meta reaches path on this gateway, as the browser
// (or API client) addressed it.
func webhookURL(c *gin.Context, path string) string {
	scheme := "http"
	if c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host + path
}

// syncTemplates fetches the WhatsApp templates from Meta now.
func (s *server) syncTemplates(c *gin.Context) {
	if s.d.SyncTemplates == nil {
		s.renderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	if err := s.runTemplateSync(c); err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		s.flash(c, "whatsapp.sync_failed")
	} else {
		s.flash(c, "whatsapp.synced")
	}
	c.Redirect(http.StatusSeeOther, "/whatsapp")
}

// runTemplateSync fetches the templates from Meta (s.d.SyncTemplates must
// be set) and audits it.
func (s *server) runTemplateSync(c *gin.Context) error {
	if err := s.d.SyncTemplates(c.Request.Context()); err != nil {
		s.log.Warn("WhatsApp template sync failed", "err", err)
		return err
	}
	s.audit(c, "whatsapp.sync", "")
	return nil
}
