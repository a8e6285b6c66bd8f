package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiUpdateCampaign edits a draft or scheduled campaign with the same body
// as POST /campaigns; without recipients the old ones stay.
func (s *server) apiUpdateCampaign(c *gin.Context) {
	s.apiOnCampaign(c, func(cd CampaignDetail) {
		in, skipped, ok := s.apiCampaignInput(c, true)
		if !ok {
			return
		}
		if err := s.d.Campaigns.UpdateCampaign(c.Request.Context(), cd.ID, in, len(in.Recipients) == 0); err != nil {
			s.apiCampaignErr(c, err)
			return
		}
		s.apiCampaignAnswer(c, http.StatusOK, cd.ID, skipped)
	})
}

// apiExportCampaign streams the portal's CSV export.
func (s *server) apiExportCampaign(c *gin.Context) {
	s.apiOnCampaign(c, func(cd CampaignDetail) { s.writeCampaignCSV(c, cd) })
}
