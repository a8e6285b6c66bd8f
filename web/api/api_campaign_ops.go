package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// campaignOp runs op on the campaign service as I (an optional interface:
// deleting, archiving, retrying one recipient) and reports whether it
// succeeded; otherwise it has answered: 503 without campaigns, 501 when
// the service lacks I ("this campaign service cannot <lacks>"), the
// campaign error op returned.
func campaignOp[I any](s *API, c *gin.Context, lacks string, op func(svc I) error) bool {
	if !s.apiCampaignsReady(c) {
		return false
	}
	svc, ok := s.D.Campaigns.(I)
	if !ok {
		app.APIError(c, http.StatusNotImplemented, "unavailable", "this campaign service cannot "+lacks, "")
		return false
	}
	if err := op(svc); err != nil {
		s.apiCampaignErr(c, err)
		return false
	}
	return true
}
