package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"
)

// APIRetryRecipient is POST /api/v1/campaigns/{id}/recipients/{number}/retry:
// one failed recipient of a completed campaign is sent again; the answer
// is the campaign (now retrying or pending).
func (s *API) APIRetryRecipient(c *gin.Context) {
	id := c.Param("id")
	if !campaignOp(s, c, "retry one recipient", func(r app.RecipientRetrier) error {
		return r.RetryRecipient(c.Request.Context(), id, c.Param("number"))
	}) {
		return
	}
	s.Log.Info("campaign recipient retried", "id", id, "user", app.CurrentUser(c).Name)
	s.apiOnCampaign(c, func(cd app.CampaignDetail) { c.JSON(http.StatusOK, cd) })
}

// APIRecipientReasons is GET /api/v1/campaigns/{id}/recipients/reasons:
// the campaign's failed recipients grouped by failure reason, the most
// frequent first; each key filters GET …/recipients?reason=key.
func (s *API) APIRecipientReasons(c *gin.Context) {
	if !s.apiCampaignsReady(c) {
		return
	}
	f, ok := s.D.Campaigns.(app.RecipientSearcher)
	if !ok {
		app.APIError(c, http.StatusNotImplemented, "unavailable", "this campaign service cannot group failure reasons", "")
		return
	}
	rs, err := f.FailureReasons(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.apiCampaignErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": rs})
}
