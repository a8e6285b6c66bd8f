package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// APIArchiveCampaign is POST /api/v1/campaigns/{id}/archive (on) and
// /unarchive: a completed or stopped campaign goes into the archive
// (read-only, left out of GET /campaigns unless ?archived=true) or back.
func (s *API) APIArchiveCampaign(on bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.apiCampaignsReady(c) {
			return
		}
		ar, ok := s.D.Campaigns.(app.CampaignArchiver)
		if !ok {
			app.APIError(c, http.StatusNotImplemented, "unavailable", "this campaign service has no archive", "")
			return
		}
		if err := ar.ArchiveCampaign(c.Request.Context(), c.Param("id"), on); err != nil {
			s.apiCampaignErr(c, err)
			return
		}
		s.Log.Info("campaign archive", "id", c.Param("id"), "archived", on, "user", app.CurrentUser(c).Name)
		s.apiOnCampaign(c, func(cd app.CampaignDetail) { c.JSON(http.StatusOK, cd) })
	}
}
