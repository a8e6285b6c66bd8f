package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// APIRetryRecipient is POST /api/v1/campaigns/{id}/recipients/{number}/retry:
// one failed recipient of a completed campaign is sent again; the answer
// is the campaign (now retrying or pending).
func (s *API) APIRetryRecipient(c *gin.Context) {
	if !s.apiCampaignsReady(c) {
		return
	}
	rr, ok := s.D.Campaigns.(app.RecipientRetrier)
	if !ok {
		app.APIError(c, http.StatusNotImplemented, "unavailable", "this campaign service cannot retry one recipient", "")
		return
	}
	id, number := c.Param("id"), c.Param("number")
	if err := rr.RetryRecipient(c.Request.Context(), id, number); err != nil {
		if errors.Is(err, app.ErrRecipientNotFound) {
			app.APIError(c, http.StatusNotFound, "not_found", "the campaign has no recipient with this number", "number")
			return
		}
		s.apiCampaignErr(c, err)
		return
	}
	s.Log.Info("campaign recipient retried", "id", id, "user", app.CurrentUser(c).Name)
	s.apiOnCampaign(c, func(cd app.CampaignDetail) { c.JSON(http.StatusOK, cd) })
}
