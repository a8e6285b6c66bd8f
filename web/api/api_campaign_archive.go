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
		id := c.Param("id")
		if !campaignOp(s, c, "archive campaigns", func(a app.CampaignArchiver) error { return a.ArchiveCampaign(c.Request.Context(), id, on) }) {
			return
		}
		s.Log.Info("campaign archive", "id", id, "archived", on, "user", app.CurrentUser(c).Name)
		s.apiOnCampaign(c, func(cd app.CampaignDetail) { c.JSON(http.StatusOK, cd) })
	}
}
