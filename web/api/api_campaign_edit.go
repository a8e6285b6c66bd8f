package api

import (
	"net/http"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"
)

// APIUpdateCampaign edits a draft or scheduled campaign with the same body
// as POST /campaigns; without recipients the old ones stay.
func (s *API) APIUpdateCampaign(c *gin.Context) {
	s.apiOnCampaign(c, func(cd app.CampaignDetail) {
		in, skipped, ok := s.apiCampaignInput(c, true)
		if !ok {
			return
		}
		if err := s.D.Campaigns.UpdateCampaign(c.Request.Context(), cd.ID, in, len(in.Recipients) == 0); err != nil {
			s.apiCampaignErr(c, err)
			return
		}
		s.apiCampaignAnswer(c, http.StatusOK, cd.ID, skipped)
	})
}

// APIExportCampaign streams the portal's CSV export.
func (s *API) APIExportCampaign(c *gin.Context) {
	s.apiOnCampaign(c, func(cd app.CampaignDetail) { s.WriteCampaignCSV(c, cd) })
}
