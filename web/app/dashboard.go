package app

import (
	"context"
	"regexp"

	"github.com/gin-gonic/gin"
)

// DashboardData is the dashboard's live part.
type DashboardData struct {
	HasStatus    bool
	Status       Status
	HasCampaigns bool
	Campaigns    []CampaignSummary // running, retrying and pending
	MaxBucket    int
	CampaignErr  bool
}

// activeStates are the campaigns the dashboard shows with progress bars.
var activeStates = []CampaignState{StateRunning, StateRetrying, StatePending}

func (s *Server) DashboardData(ctx context.Context) DashboardData {
	var d DashboardData
	if s.D.Status != nil {
		d.HasStatus = true
		d.Status = s.D.Status.Status(ctx)
		for _, b := range d.Status.History {
			d.MaxBucket = max(d.MaxBucket, b.Sent+b.Failed)
		}
	}
	if s.D.Campaigns != nil {
		d.HasCampaigns = true
		for _, st := range activeStates {
			items, _, err := s.D.Campaigns.ListCampaigns(ctx, CampaignQuery{State: st, Limit: 50})
			if err != nil {
				s.Log.Error("dashboard: list campaigns", "err", err)
				d.CampaignErr = true
				break
			}
			d.Campaigns = append(d.Campaigns, items...)
		}
	}
	return d
}

var ussdRE = regexp.MustCompile(`^[*#][0-9*#]{1,30}#$`)

// RunUSSD checks and audits a USSD code and runs it on modem (s.d.USSD
// must be set). Problems are *inputProblem for modem or code; other
// errors are the modem's or the network's.
func (s *Server) RunUSSD(c *gin.Context, modem, code string) (string, error) {
	switch {
	case modem == "":
		return "", Problem("modem", "required", "ussd.err.modem")
	case !ussdRE.MatchString(code):
		return "", Problem("code", "invalid", "ussd.err.code")
	}
	s.Audit(c, "modem.ussd", modem+" "+code)
	answer, err := s.D.USSD.USSD(c.Request.Context(), modem, code)
	if err != nil {
		s.Log.Warn("USSD failed", "modem", modem, "err", err)
	}
	return answer, err
}

// WebhookURL is where Meta reaches path on this gateway, as the browser
// (or API client) addressed it.
func WebhookURL(c *gin.Context, path string) string {
	scheme := "http"
	if c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host + path
}

// RunTemplateSync fetches the templates from Meta (s.d.SyncTemplates must
// be set) and audits it.
func (s *Server) RunTemplateSync(c *gin.Context) error {
	if err := s.D.SyncTemplates(c.Request.Context()); err != nil {
		s.Log.Warn("WhatsApp template sync failed", "err", err)
		return err
	}
	s.Audit(c, "whatsapp.sync", "")
	return nil
}
