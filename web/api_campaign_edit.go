package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// apiCampaignEditRoutes are the campaign screens' edit form and CSV
// export.
func (s *server) apiCampaignEditRoutes(g *gin.RouterGroup) {
	g.PUT("/campaigns/:id", s.apiUpdateCampaign)
	g.GET("/campaigns/:id/export.csv", s.apiExportCampaign)
}

// apiUpdateCampaign edits a draft or scheduled campaign with the same body
// as POST /campaigns; without numbers the recipients stay.
func (s *server) apiUpdateCampaign(c *gin.Context) {
	s.apiOnCampaign(c, func(cd CampaignDetail) {
		in, ok := s.apiCampaignInput(c, true)
		if !ok {
			return
		}
		if err := s.d.Campaigns.UpdateCampaign(c.Request.Context(), cd.ID, in, len(in.Recipients) == 0); err != nil {
			s.apiCampaignErr(c, err)
			return
		}
		s.apiCampaignAnswer(c, http.StatusOK, cd.ID)
	})
}

// apiExportCampaign streams the portal's CSV export.
func (s *server) apiExportCampaign(c *gin.Context) {
	s.apiOnCampaign(c, func(cd CampaignDetail) { s.writeCampaignCSV(c, cd) })
}
