package screens

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// archiveData sets the archive buttons of a campaign page and takes the
// actions away from a read-only (archived or pruned) campaign.
func (s *Screens) archiveData(d *campaignDetailData) {
	if _, ok := s.D.Campaigns.(app.CampaignArchiver); ok {
		d.CanArchive = app.CanArchive(d.C.CampaignSummary)
		d.CanUnarchive = d.C.Archived
	}
	if app.ReadOnly(d.C.CampaignSummary) {
		d.CanStop, d.CanRetry, d.CanStart, d.CanResume = false, false, false, false
	}
}

// CampaignArchive moves a finished campaign into the archive (on) or back,
// and shows it.
func (s *Screens) CampaignArchive(on bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.campaignsUnavailable(c) {
			return
		}
		ar, ok := s.D.Campaigns.(app.CampaignArchiver)
		if !ok {
			s.RenderError(c, http.StatusNotFound, "error.not_found")
			return
		}
		id := c.Param("id")
		back := "/campaigns/" + url.PathEscape(id)
		switch err := ar.ArchiveCampaign(c.Request.Context(), id, on); {
		case errors.Is(err, app.ErrCampaignNotFound):
			s.RenderError(c, http.StatusNotFound, "campaign.err.not_found")
		case errors.Is(err, app.ErrCampaignState):
			s.Flash(c, "campaign.err.archive_state")
			c.Redirect(http.StatusSeeOther, back)
		case err != nil:
			s.Log.Error("archive campaign", "id", id, "err", err)
			s.RenderError(c, http.StatusInternalServerError, "error.internal")
		default:
			s.Log.Info("campaign archive", "id", id, "archived", on, "user", app.CurrentUser(c).Name)
			if on {
				s.Flash(c, "campaign.done.archive")
			} else {
				s.Flash(c, "campaign.done.unarchive")
			}
			c.Redirect(http.StatusSeeOther, back)
		}
	}
}
